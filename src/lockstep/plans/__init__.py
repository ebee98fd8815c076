"""OKRs as code: YAML plan files and CSV import/export of an organisation's goals.

A plan describes an organisation's structure and goals by stable keys: the organisation,
its unit tree, people and their memberships, the cycle tree, KPIs, objectives with their
contribution links, key results (with milestone steps) and the dependencies between units'
key results. `plan_load` reads and checks a plan file, `plan_from_db` and `plan_dump`
export one, `plan_diff` previews and `plan_apply` writes it (atomically, idempotently,
through the services). `check_plan_text` runs the alignment engine on a plan without a
database (`lockstep check plan.yaml`). The CSV functions exchange objectives and key
results with spreadsheets and build on `plan_apply`.

Plans do not carry check-ins, initiatives or KPI data points: those are the running record
of the work, not its plan, and are left untouched by an apply. The format is described in
docs/plans.md.
"""

from lockstep.plans.apply import ApplyResult, plan_apply
from lockstep.plans.check import check_plan_rows, check_plan_text, plan_snapshot
from lockstep.plans.csvio import CSV_COLUMNS, csv_export, csv_import
from lockstep.plans.diff import Change, FieldChange, plan_diff
from lockstep.plans.export import plan_dump, plan_from_db
from lockstep.plans.problems import PlanError, Problem
from lockstep.plans.schema import Plan
from lockstep.plans.validate import plan_load

__all__ = [
    "CSV_COLUMNS",
    "ApplyResult",
    "Change",
    "FieldChange",
    "Plan",
    "PlanError",
    "Problem",
    "check_plan_rows",
    "check_plan_text",
    "csv_export",
    "csv_import",
    "plan_apply",
    "plan_diff",
    "plan_dump",
    "plan_from_db",
    "plan_load",
    "plan_snapshot",
]
