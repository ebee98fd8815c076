"""Objectives and key results as CSV, for spreadsheets: one row per key result.

The objective's columns repeat on each of its KR rows; an objective without KRs has one
row with the KR columns empty. Import updates or creates objectives and KRs of an existing
organisation (its units and cycles must already exist) by building the desired plan (the
organisation as it is, with the rows laid over it) and handing it to `plan_apply`, so the
same checks, the same atomic and idempotent write and the same activity events apply.
What the CSV has no column for (descriptions, states, links, steps, KPIs, owner people,
cadences) is kept as it is in the database.

Spreadsheets run a cell starting with = + - @ (or a tab or carriage return) as a formula,
so export prefixes such text cells with a single quote and import strips it again. Only
text columns are guarded: a negative start value stays a number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from lockstep.org.models import Organisation, Person
from lockstep.plans.apply import ApplyResult, plan_apply
from lockstep.plans.export import plan_from_db
from lockstep.plans.problems import Path, PlanError, Problem, format_path
from lockstep.plans.schema import KeyResultSpec, ObjectiveSpec, Plan, Spec
from lockstep.plans.validate import find_problems, problem_message

# plan field -> CSV column, for the objective and the key result parts of a row
OBJECTIVE_COLUMNS = {
    "key": "objective_key",
    "title": "objective_title",
    "cycle": "cycle",
    "level": "level",
    "owner": "owner",
    "contributors": "contributors",
}
KR_COLUMNS = {
    "key": "kr_key",
    "title": "kr_title",
    "kind": "kind",
    "start": "start",
    "target": "target",
    "measure": "measure",
    "owner": "kr_owner",
    "co_owners": "co_owners",
    "weight": "weight",
    "due": "due",
    "commitment": "commitment",
}
CSV_COLUMNS = [*OBJECTIVE_COLUMNS.values(), *KR_COLUMNS.values()]
TEXT_COLUMNS = {"objective_title", "kr_title", "measure"}
LIST_FIELDS = {"contributors", "co_owners"}
NUMBER_FIELDS = {"start", "target", "weight"}
KR_KEPT_FIELDS = {"owner_person", "cadence_days", "kpi", "steps"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SOURCE = "<csv>"


def csv_export(organisation: Organisation) -> str:
    """The organisation's objectives and KRs as CSV text, one row per KR."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for objective in plan_from_db(organisation).objectives:
        head = _cells(objective, OBJECTIVE_COLUMNS)
        krs: Sequence[KeyResultSpec | None] = objective.key_results or [None]  # None: no KRs
        for kr in krs:
            writer.writerow({**head, **(_cells(kr, KR_COLUMNS) if kr else {})})
    return out.getvalue()


def csv_import(
    organisation: Organisation, text: str, *, actor: Person | None = None
) -> ApplyResult:
    """Create or update objectives and KRs from CSV in one transaction (see csv_export)."""
    rows, problems = _rows(text)
    merge = _Merge(plan_from_db(organisation))
    for row in rows:
        merge.add(row)
    plan = merge.plan()
    problems += merge.problems + find_problems(plan)
    if problems:
        raise PlanError(problems, source=SOURCE)
    return plan_apply(plan, actor=actor)


# ---- cells ------------------------------------------------------------------------------


def guard(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula.

    A leading quote is doubled too, so `unguard` can tell a guard from a quote the text
    really starts with.
    """
    return f"'{text}" if text.startswith((*FORMULA_STARTS, "'")) else text


def unguard(text: str) -> str:
    """The text `guard` was given."""
    return (
        text[1:] if text.startswith("'") and text[1:].startswith((*FORMULA_STARTS, "'")) else text
    )


def _cells(spec: Spec, columns: dict[str, str]) -> dict[str, str]:
    return {column: _cell(column, getattr(spec, name)) for name, column in columns.items()}


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return guard(value) if column in TEXT_COLUMNS else str(value)


# ---- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    line: int
    cells: dict[str, str]

    def part(self, columns: dict[str, str]) -> dict[str, str]:
        return {name: self.cells[column] for name, column in columns.items()}


def _rows(text: str) -> tuple[list[_Row], list[Problem]]:
    """The data rows with their line numbers; header and shape problems."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = [cell.strip() for cell in next(reader, [])]
    if header != CSV_COLUMNS:
        return [], [Problem(1, "", f"the header row must be exactly: {','.join(CSV_COLUMNS)}")]
    rows: list[_Row] = []
    problems: list[Problem] = []
    for line, cells in _numbered(reader):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(CSV_COLUMNS):
            message = f"has {len(cells)} cells; expected {len(CSV_COLUMNS)}"
            problems.append(Problem(line, "", message))
            continue
        values = {c: cell.strip() for c, cell in zip(CSV_COLUMNS, cells, strict=True)}
        rows.append(
            _Row(line, {c: unguard(v) if c in TEXT_COLUMNS else v for c, v in values.items()})
        )
    return rows, problems


def _numbered(reader: Any) -> Iterator[tuple[int, list[str]]]:
    # A quoted cell may span lines; a row is named by the line it starts on.
    line = reader.line_num + 1
    for cells in reader:
        yield line, cells
        line = reader.line_num + 1


class _Merge:
    """The organisation's plan with CSV rows laid over its objectives and key results."""

    def __init__(self, base: Plan) -> None:
        self.base = base
        self.objectives: dict[str, ObjectiveSpec] = {o.key: o for o in base.objectives}
        self.home = {kr.key: o.key for o in base.objectives for kr in o.key_results}
        self.first: dict[str, _Row] = {}  # objective key -> its first row
        self.kr_rows: dict[str, int] = {}  # key result key -> its line
        self.lines: dict[tuple[str, str], int] = {}
        self.problems: list[Problem] = []

    def add(self, row: _Row) -> None:
        key = row.cells["objective_key"]
        if not key:
            self._problem(row.line, "objective_key", "is required")
            return
        if key in self.first:
            self._same_as_first(row, self.first[key])
        else:
            self.first[key] = row
            self._objective(row, key)
        if key in self.objectives:
            self._key_result(row, self.objectives[key])

    def plan(self) -> Plan:
        """The desired plan, naming CSV lines and columns in its problems."""
        plan = self.base.model_copy(update={"objectives": list(self.objectives.values())})
        return plan.with_locator(lambda path: self._locate(plan, path))

    def _objective(self, row: _Row, key: str) -> None:
        base = self.objectives.get(key)
        stored = base.model_dump(exclude={"key_results"}) if base else {}
        spec = self._spec(row, ObjectiveSpec, OBJECTIVE_COLUMNS, stored)
        if spec is not None:
            spec.key_results = list(base.key_results) if base else []
            self.objectives[key] = spec
            self.lines[("objective", key)] = row.line

    def _key_result(self, row: _Row, objective: ObjectiveSpec) -> None:
        cells = row.part(KR_COLUMNS)
        key = cells["key"]
        if not key:
            if any(cells.values()):
                message = "is required when other key result cells are filled"
                self._problem(row.line, "kr_key", message)
            return
        if key in self.kr_rows:
            message = f"{key!r} is used twice (first at line {self.kr_rows[key]})"
            self._problem(row.line, "kr_key", message)
            return
        self.kr_rows[key] = row.line
        home = self.home.get(key, objective.key)
        if home != objective.key:
            message = (
                f"belongs to objective {home!r}; a key result cannot move to another objective"
            )
            self._problem(row.line, "kr_key", message)
            return
        krs = {kr.key: kr for kr in objective.key_results}
        # Fields the CSV has no column for keep their stored values.
        stored = krs[key].model_dump(include=KR_KEPT_FIELDS) if key in krs else {}
        spec = self._spec(row, KeyResultSpec, KR_COLUMNS, stored)
        if spec is not None:
            krs[key] = spec
            objective.key_results = list(krs.values())
            self.lines[("key_result", key)] = row.line

    def _spec(
        self, row: _Row, model: type[Spec], columns: dict[str, str], stored: dict[str, Any]
    ) -> Any:
        """The row's cells for `model` laid over the stored fields, validated; None if invalid."""
        unreadable: set[str] = set()
        values = self._typed(row, model, columns, unreadable)
        try:
            spec = model.model_validate({**stored, **values})
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else ""
                if name not in unreadable:  # already reported, in the CSV's own words
                    message = problem_message(model, tuple(error["loc"]), error)
                    self._problem(row.line, columns.get(name, name), message)
            return None
        return None if unreadable else spec

    def _typed(
        self, row: _Row, model: type[Spec], columns: dict[str, str], unreadable: set[str]
    ) -> dict[str, Any]:
        """The row's cells as plan values; an empty cell means the field's default."""
        out: dict[str, Any] = {}
        for name, text in row.part(columns).items():
            field = model.model_fields[name]
            try:
                if name in LIST_FIELDS:
                    out[name] = text.split()
                elif not text and field.is_required():
                    raise ValueError("is required")
                elif not text:
                    out[name] = field.get_default(call_default_factory=True)
                elif name in NUMBER_FIELDS:
                    out[name] = _parse(float, text, "a number")
                elif name == "due":
                    out[name] = _parse(dt.date.fromisoformat, text, "a date YYYY-MM-DD")
                else:
                    out[name] = text
            except ValueError as exc:
                unreadable.add(name)
                self._problem(row.line, columns[name], str(exc))
        return out

    def _same_as_first(self, row: _Row, first: _Row) -> None:
        for column in OBJECTIVE_COLUMNS.values():
            if row.cells[column] != first.cells[column]:
                message = f"differs from line {first.line} for the same objective"
                self._problem(row.line, column, message)

    def _problem(self, line: int, column: str, message: str) -> None:
        self.problems.append(Problem(line, column, message))

    def _locate(self, plan: Plan, path: Path) -> tuple[int | None, str]:
        if len(path) < 2 or path[0] != "objectives":
            return None, format_path(path)
        objective = plan.objectives[int(path[1])]
        entity, key, columns, rest = "objective", objective.key, OBJECTIVE_COLUMNS, path[2:]
        if len(path) >= 4 and path[2] == "key_results":
            kr = objective.key_results[int(path[3])]
            entity, key, columns, rest = "key_result", kr.key, KR_COLUMNS, path[4:]
        line = self.lines.get((entity, key))
        if line is None:
            return None, format_path(path)
        name = str(rest[0]) if rest else ""
        return line, columns.get(name, name)


def _parse(parse: Any, text: str, what: str) -> Any:
    try:
        return parse(text)
    except ValueError:
        raise ValueError(f"must be {what} (got {text!r})") from None
