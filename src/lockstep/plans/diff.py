"""What applying a plan would change: entities added, changed field by field, or removed.

Both plans are first flattened into records (one per entity, keyed by its stable key,
trees turned into a `parent` field, lists that are sets sorted), so the comparison is
plain equality of values and does not depend on the order the plan file lists things in.
The changes come out in the order `plan_apply` performs them: organisation, units (parents
first), people, cycles (parents first), KPIs, objectives, key results, dependencies, then
removals. An objective's `endorsed_by` is left out: it is read by `check`, never applied.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from lockstep.keys import is_valid_key
from lockstep.plans.problems import Path
from lockstep.plans.schema import Plan, Spec, key_results, tree

# Lists whose order carries meaning; every other list is a set and compares sorted.
ORDERED_LISTS = {"steps"}
# Removals run in this order: a KR before its objective, a sub-unit before its unit.
REMOVAL_ORDER = ["dependency", "key_result", "objective", "kpi", "person", "unit", "cycle"]
KEPT = "only in the database; kept unless --prune"
NEVER_PRUNED = {
    "cycle": "only in the database; cycles are never pruned",
    "dependency": "only in the database; dependencies are never pruned (cancel it in the app)",
}
# Read by `check` only; an apply neither writes nor compares it.
CHECK_ONLY = frozenset({"endorsed_by"})


@dataclass(frozen=True)
class Record:
    """One entity of a plan as comparable values."""

    entity: str
    key: str
    values: dict[str, Any]
    path: Path
    depth: int = 0


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.field}: {show(self.old)} -> {show(self.new)}"


@dataclass(frozen=True)
class Change:
    """One entity to add, change or remove; `details` lists "field: old -> new"."""

    kind: str  # add | change | remove
    entity: str  # organisation | unit | person | cycle | kpi | objective | key_result | dependency
    key: str
    fields: tuple[FieldChange, ...] = ()
    note: str = ""
    path: Path = field(default=(), compare=False, repr=False)

    @property
    def details(self) -> list[str]:
        return [str(f) for f in self.fields]

    def touches(self, name: str) -> bool:
        """Whether this change touches the field `name`."""
        return any(f.field == name for f in self.fields)

    def __str__(self) -> str:
        sign = {"add": "+", "change": "~", "remove": "-"}[self.kind]
        text = f"{sign} {self.entity} {self.key}"
        if self.fields:
            text += ": " + "; ".join(
                f"{f.field} {show(f.old)} -> {show(f.new)}" for f in self.fields
            )
        return f"{text} ({self.note})" if self.note else text


def plan_diff(current: Plan | None, desired: Plan) -> list[Change]:
    """What applying `desired` over `current` (None: nothing yet) changes, in apply order."""
    now = {(r.entity, r.key): r for r in records(current)} if current is not None else {}
    wanted = records(desired)
    changes = [c for r in wanted if (c := _compare(now.get((r.entity, r.key)), r)) is not None]
    wanted_keys = {(r.entity, r.key) for r in wanted}
    removed = [
        r
        for k, r in now.items()
        if k not in wanted_keys
        and r.entity != "organisation"
        and not _goes_with_parent(r, wanted_keys)
    ]
    removed.sort(key=lambda r: (REMOVAL_ORDER.index(r.entity), -r.depth, r.key))
    changes += [
        Change("remove", r.entity, r.key, note=NEVER_PRUNED.get(r.entity, KEPT)) for r in removed
    ]
    return changes


def _compare(old: Record | None, new: Record) -> Change | None:
    if old is None:
        return Change("add", new.entity, new.key, path=new.path)
    fields = tuple(
        FieldChange(name, old.values.get(name), value)
        for name, value in new.values.items()
        if old.values.get(name) != value
    )
    return Change("change", new.entity, new.key, fields, path=new.path) if fields else None


def _goes_with_parent(record: Record, wanted: set[tuple[str, str]]) -> bool:
    # Archiving an objective archives its key results, and a dependency goes out of the
    # plan with the key result that asked for it; listing them again is noise.
    if record.entity == "key_result":
        return ("objective", record.values["objective"]) not in wanted
    if record.entity == "dependency":
        return ("key_result", record.values["from"]) not in wanted
    return False


def records(plan: Plan) -> list[Record]:
    """The plan's entities as records, in the order they are applied (parents first)."""
    out: list[Record] = []
    if plan.organisation is not None:
        org = plan.organisation
        out.append(
            Record(
                "organisation", org.slug, _values(org, skip=frozenset({"slug"})), ("organisation",)
            )
        )
    out += _tree_records("unit", plan.units, "units")
    out += [_record("person", p, ("people", i)) for i, p in _by(plan.people, "email")]
    out += _tree_records("cycle", plan.cycles, "cycles")
    out += [_record("kpi", k, ("kpis", i)) for i, k in _by(plan.kpis, "key")]
    out += [_record("objective", o, ("objectives", i)) for i, o in _by(plan.objectives, "key")]
    krs = sorted(key_results(plan), key=lambda entry: entry[1].key)
    out += [
        Record("key_result", kr.key, {"objective": objective.key, **_values(kr)}, path)
        for path, kr, objective in krs
    ]
    out += [_record("dependency", d, ("dependencies", i)) for i, d in _by(plan.dependencies, "key")]
    return out


def _tree_records(entity: str, nodes: list[Any], section: str) -> list[Record]:
    return [
        Record(
            entity,
            node.key,
            {"parent": parent.key if parent is not None else None, **_values(node)},
            path,
            depth=path.count("children"),
        )
        for path, node, parent in tree(nodes, (section,), by_key=True)
    ]


def _by(items: list[Any], field: str) -> list[tuple[int, Any]]:
    """(position in the plan, item), sorted by the item's key."""
    return sorted(enumerate(items), key=lambda entry: getattr(entry[1], field))


def _record(entity: str, spec: Spec, path: Path) -> Record:
    return Record(
        entity, getattr(spec, "email" if entity == "person" else "key"), _values(spec), path
    )


def _values(spec: Spec, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dumped = spec.model_dump(by_alias=True, exclude={"key", "email", "children", "key_results"})
    for name, value in dumped.items():
        if name in skip or name in CHECK_ONLY:
            continue
        if isinstance(value, list):
            items = [tuple(v.values()) if isinstance(v, dict) else v for v in value]
            value = tuple(items) if name in ORDERED_LISTS else tuple(sorted(items))
        out[name] = value
    return out


def show(value: Any) -> str:
    """A value as a change line shows it: keys bare, text quoted, lists in brackets."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        bare = is_valid_key(value) or ("@" in value and " " not in value)
        return value if bare else json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show_item(item) for item in value) + "]"
    return repr(value)


def _show_item(item: Any) -> str:
    # A pair inside a list: (unit, role) of a membership, (objective, weight) of a link.
    if isinstance(item, tuple):
        return f"{show(item[0])} ({show(item[1])})"
    return show(item)
