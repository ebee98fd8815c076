"""plan_snapshot and check_plan_text: a plan analysed by the alignment engine, no database."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from lockstep.core.findings import CATALOGUE, analyse
from lockstep.core.forecast import days_since, sums_add
from lockstep.core.snapshot import CheckInSums, DependencyState
from lockstep.plans import PlanError, plan_load
from lockstep.plans.check import (
    PLAN_CODES,
    check_plan_rows,
    check_plan_text,
    plan_keys,
    plan_snapshot,
)

PLAN = """\
organisation: {slug: chk, name: Chk, timezone: Europe/Paris, on_track_margin: 0.05, at_risk_margin: 0.2}
units:
  - key: chk
    name: Chk
    kind: company
    children:
      - {key: ops, name: Operations, weekly_capacity: 10}
      - {key: eng, name: Engineering}
cycles:
  - {key: q4, name: Q4, kind: quarter, start: 2026-10-01, end: 2026-12-31}
kpis:
  - {key: aht, name: Handling time, owners: [ops]}
objectives:
  - key: grow
    title: Grow
    cycle: q4
    level: company
  - key: run
    title: Run well
    cycle: q4
    owner: ops
    endorsed_by: [eng]
    contributes_to: [{objective: grow}]
    key_results:
      - {key: sops, title: SOPs written, kind: increase, target: 10, owner: ops, kpi: aht}
      - {key: tooling, title: Tooling, kind: milestone, owner: eng, co_owners: [ops], due: 2026-11-15}
dependencies:
  - {key: tools, title: Tools, from: sops, to: eng, delivered_by: tooling, needed_by: 2026-11-20, state: accepted, effort: 4}
"""
NOW = dt.datetime(2026, 10, 20, 12, 0, tzinfo=dt.UTC)
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def test_ids_follow_key_order_and_every_reference_is_resolved():
    snap = plan_snapshot(plan_load(PLAN), now=NOW)

    assert [(u.id, u.key, u.parent_id) for u in snap.units] == [
        (1, "chk", None),
        (2, "eng", 1),
        (3, "ops", 1),
    ]
    assert [(o.id, o.key, o.parents, o.owner_unit_id) for o in snap.objectives] == [
        (1, "grow", (), None),
        (2, "run", ((1, 1.0),), 3),
    ]
    sops, tooling = snap.krs
    assert (sops.id, sops.key, sops.objective_id, sops.kpi_id, sops.owner_unit_id) == (
        1,
        "sops",
        2,
        1,
        3,
    )
    assert sops.due == dt.date(2026, 12, 31)  # the cycle's end
    assert (tooling.due, tooling.co_owner_ids) == (dt.date(2026, 11, 15), (3,))
    (dep,) = snap.dependencies
    assert (dep.requester_unit_id, dep.provider_unit_id) == (3, 2)
    assert (dep.requester_item, dep.provider_item, dep.effort) == (("kr", 1), ("kr", 2), 4.0)
    assert dep.state is DependencyState.ACCEPTED
    # A plan does not say when a request was made: the requesting KR's cycle start.
    assert dep.requested_at == dt.datetime(2026, 10, 1, tzinfo=PARIS)
    assert [(e.objective_id, e.unit_id, e.endorsed) for e in snap.endorsements] == [(2, 2, True)]
    assert snap.kpis[0].owner_unit_ids == (3,)
    assert snap.units[2].weekly_capacity == 10.0


def test_plan_keys_turn_ids_back_into_keys():
    keys = plan_keys(plan_load(PLAN))
    assert keys[("kr", 2)] == "tooling" and keys[("dependency", 1)] == "tools"
    assert keys[("unit", 3)] == "ops" and keys[("kpi", 1)] == "aht"


def test_settings_and_time_zone_come_from_the_organisation():
    snap = plan_snapshot(plan_load(PLAN), now=dt.datetime(2026, 10, 20, 9, 0))
    assert snap.tz == PARIS
    assert snap.now == dt.datetime(2026, 10, 20, 9, 0, tzinfo=PARIS)  # naive: the plan's zone
    assert (snap.thresholds.margins.on_track, snap.thresholds.margins.at_risk) == (0.05, 0.2)


def test_checkins_fill_the_current_value_and_the_running_sums():
    first = dt.datetime(2026, 10, 5, 10, 0)
    second = dt.datetime(2026, 10, 12, 10, 0, tzinfo=dt.UTC)
    snap = plan_snapshot(
        plan_load(PLAN),
        now=NOW,
        checkins={"sops": [(second, 4, 3), (first, 2, 8)]},  # out of order on purpose
    )
    sops = snap.krs[0]

    expected = sums_add(
        sums_add(CheckInSums(), days_since(first, dt.date(2026, 10, 1), PARIS), 2.0),
        days_since(second, dt.date(2026, 10, 1), PARIS),
        4.0,
    )
    assert sops.sums == expected and sops.sums.n == 2
    assert (sops.current_value, sops.last_checkin_at, sops.last_confidence) == (4.0, second, 3)
    assert snap.krs[1].sums == CheckInSums() and snap.krs[1].current_value is None


def test_checkins_for_an_unknown_key_result_are_an_error():
    with pytest.raises(ValueError, match="unknown key results: nope"):
        plan_snapshot(plan_load(PLAN), now=NOW, checkins={"nope": []})


def test_the_engine_reads_the_snapshot():
    snap = plan_snapshot(plan_load(PLAN), now=NOW, checkins={"sops": [(NOW, 1, 2)]})
    codes = {f.code for f in analyse(snap)}
    assert "LOW_CONFIDENCE" in codes and "OFF_PACE" not in codes


def test_check_plan_text_runs_every_code_but_stale_checkin():
    assert set(CATALOGUE) - PLAN_CODES == {"STALE_CHECKIN"}
    late = PLAN.replace("needed_by: 2026-11-20", "needed_by: 2026-11-10")

    findings = check_plan_text(late, source="plan.yaml", now=NOW)

    # The late tooling puts the SOPs at risk too; nothing says a KR has no check-in yet.
    assert [(f.code, f.subject) for f in findings] == [
        ("DEPENDENCY_TOO_LATE", ("dependency", 1)),
        ("UPSTREAM_AT_RISK", ("kr", 1)),
    ]


def test_check_plan_rows_name_things_by_key():
    late = PLAN.replace("needed_by: 2026-11-20", "needed_by: 2026-11-10")

    row, upstream = check_plan_rows(late, source="plan.yaml", now=NOW)

    assert row["code"] == "DEPENDENCY_TOO_LATE" and row["severity"] == "error"
    assert row["subject"] == "dependency:tools"
    assert row["units"] == ["eng", "ops"]
    assert row["links"] == ["dependency:tools", "kr:sops", "kr:tooling"]
    assert row["title"] and row["explanation"] and row["suggestion"]
    assert upstream["subject"] == "kr:sops"


def test_an_invalid_plan_is_a_plan_error_with_lines():
    with pytest.raises(PlanError) as caught:
        check_plan_text(PLAN.replace("to: eng", "to: ops"), source="plan.yaml", now=NOW)
    assert [str(p) for p in caught.value.problems] == [
        "line 28: dependencies[0].to: a unit cannot depend on itself"
    ]


def test_now_defaults_to_the_present():
    assert check_plan_text(PLAN) == check_plan_text(PLAN, now=dt.datetime.now(PARIS))
