"""Reading a YAML plan and finding everything wrong with it, each problem with its line.

Two layers, both reported in full rather than stopping at the first problem:

- structure: each item of each section is validated on its own by the pydantic models in
  `schema.py`, so one broken objective does not hide the problems of the next one;
- meaning: duplicate keys, references to units, cycles, objectives, KPIs, people and key
  results the plan does not define, start/target rules of each KR kind, cycles nested
  outside their parent's dates, KR due dates outside their cycle, contribution links that
  loop, and dependencies the services would refuse (a unit depending on itself, a date
  outside the requesting KR's cycle, a delivering KR of another unit, the fields each
  lifecycle state needs).

References to an item that failed the structural check still count as known, so one
mistake is reported once rather than again at every place that names it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from lockstep.core.progress import KRKind, target_is_valid
from lockstep.core.rollup import find_cycle
from lockstep.plans.problems import Locator, Path, PlanError, Problem
from lockstep.plans.schema import (
    SECTIONS,
    CycleSpec,
    DependencySpec,
    KeyResultSpec,
    ObjectiveSpec,
    OrganisationSpec,
    Plan,
    Spec,
    key_results,
    tree,
)
from lockstep.plans.yamlio import duplicate_fields, yaml_locator, yaml_read

Issue = tuple[Path, str]


def plan_load(text: str, *, source: str = "<plan>") -> Plan:
    """Parse and check a YAML plan; raises PlanError listing every problem with its line."""
    raw, problems = yaml_read(text)
    if problems:
        raise PlanError(problems, source=source)
    locate = yaml_locator(raw)
    parser = _Parser()
    plan = parser.parse(raw).with_locator(lambda path: locate(parser.source_path(path)))
    issues = [(path, "is written twice in the same mapping") for path, _ in duplicate_fields(raw)]
    problems = [_problem(locate, path, message) for path, message in issues + parser.issues]
    problems += find_problems(plan, also_known=_raw_keys(raw))
    if problems:
        raise PlanError(problems, source=source)
    return plan


def plan_check(plan: Plan) -> None:
    """Raise PlanError if the plan's content does not hold together."""
    problems = find_problems(plan)
    if problems:
        raise PlanError(problems)


def find_problems(plan: Plan, *, also_known: dict[str, set[str]] | None = None) -> list[Problem]:
    """Every problem of meaning in a structurally valid (possibly partial) plan."""
    checker = _Checker(plan, also_known or {})
    checker.run()
    return [_problem(plan.locate, path, message) for path, message in checker.issues]


def _problem(locate: Locator, path: Path, message: str) -> Problem:
    line, where = locate(path)
    return Problem(line, where, message)


# ---- structure ------------------------------------------------------------------------


class _Parser:
    """Validates the raw document item by item (tree nodes one by one), keeping what is valid."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        # Where each kept item sits in the file: positions shift when invalid items are left out.
        self.moved: dict[Path, Path] = {}

    def source_path(self, path: Path) -> Path:
        """The position in the file of a position in the parsed (partial) plan."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.moved:
                return (*self.moved[path[:end]], *path[end:])
        return path

    def parse(self, raw: Any) -> Plan:
        """The valid parts of the raw document as a Plan; what is invalid goes to `issues`."""
        if not isinstance(raw, dict):
            message = "the plan is empty" if raw is None else "a plan must be a mapping"
            self.issues.append(((), f"{message} (organisation, {', '.join(SECTIONS)})"))
            return Plan.model_construct(organisation=None)
        for field in raw:
            if field != "organisation" and field not in SECTIONS:
                self.issues.append(((field,), _unknown_field(Plan, field)))
        organisation = None
        if "organisation" not in raw:
            self.issues.append((("organisation",), "is required"))
        else:
            organisation = self._validated(OrganisationSpec, raw["organisation"], ("organisation",))
        sections = {
            name: self._items(model, self._list(raw.get(name), (name,)), (name,), (name,))
            for name, model in SECTIONS.items()
        }
        # The default _fields_set spelled out, so mypy does not match **sections to it.
        return Plan.model_construct(_fields_set=None, organisation=organisation, **sections)

    def _list(self, value: Any, path: Path) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.issues.append((path, "must be a list"))
            return []
        return value

    def _items(self, model: type[Spec], items: list[Any], source: Path, kept: Path) -> list[Any]:
        specs: list[Any] = []
        for i, data in enumerate(items):
            spec = self._item(model, data, (*source, i), (*kept, len(specs)))
            if spec is not None:
                specs.append(spec)
        return specs

    def _item(self, model: type[Spec], data: Any, source: Path, kept: Path) -> Any:
        # A tree node is checked apart from its children, so one bad unit does not hide the
        # problems (or the duplicate keys) of the rest of the tree.
        nested = "children" in model.model_fields and isinstance(data, dict)
        fields = {k: v for k, v in data.items() if k != "children"} if nested else data
        spec = self._validated(model, fields, source)
        if nested:
            raw_children = self._list(data.get("children"), (*source, "children"))
            children = self._items(model, raw_children, (*source, "children"), (*kept, "children"))
            if spec is not None:
                spec.children = children
        if spec is not None:
            self.moved[kept] = source
        return spec

    def _validated(self, model: type[Spec], data: Any, path: Path) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                loc = tuple(error["loc"])
                self.issues.append(((*path, *loc), problem_message(model, loc, error)))
            return None


def problem_message(model: type[Spec], loc: Path, error: Any) -> str:
    """A pydantic error as the plan's problems say it ("is required", "must be ...")."""
    kind, text = error["type"], error["msg"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return _unknown_field(_model_at(model, loc[:-1]), loc[-1])
    if kind == "value_error":
        return text.removeprefix("Value error, ")
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return f"must be a mapping of fields (got {type(error.get('input')).__name__})"
    text = text.replace("Input should be", "must be")
    value = error.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        text += f" (got {value!r})"
    return text


def _unknown_field(model: type[BaseModel] | None, field: object) -> str:
    if model is None:
        return "unknown field"
    allowed = [info.alias or name for name, info in model.model_fields.items()]
    close = difflib.get_close_matches(str(field), allowed, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(allowed)}"
    return f"unknown field; {hint}"


def _model_at(model: type[BaseModel], loc: Path) -> type[BaseModel] | None:
    """The model class that validates the value at `loc` inside `model`."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = {f.alias or name: f for name, f in current.model_fields.items()}
        field = fields.get(part)
        if field is None:
            return None
        current = _inner_model(field.annotation)
        if current is None:
            return None
    return current


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _raw_keys(raw: Any) -> dict[str, set[str]]:
    """Keys written in the raw document, valid or not, by kind of entity."""
    kinds = ("unit", "cycle", "kpi", "objective", "person", "key_result")
    known: dict[str, set[str]] = {k: set() for k in kinds}
    if not isinstance(raw, dict):
        return known

    def items(section: str, nested: str = "") -> Iterator[dict[Any, Any]]:
        stack = list(raw.get(section) or []) if isinstance(raw.get(section), list) else []
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                yield item
                if nested and isinstance(item.get(nested), list):
                    stack.extend(item[nested])

    for kind, section, nested in (
        ("unit", "units", "children"),
        ("cycle", "cycles", "children"),
        ("kpi", "kpis", ""),
        ("objective", "objectives", ""),
    ):
        known[kind] = {str(i.get("key")) for i in items(section, nested)}
    known["person"] = {str(i.get("email", "")).strip().lower() for i in items("people")}
    known["key_result"] = {
        str(kr.get("key"))
        for objective in items("objectives")
        if isinstance(objective.get("key_results"), list)
        for kr in objective["key_results"]
        if isinstance(kr, dict)
    }
    return known


# ---- meaning --------------------------------------------------------------------------


class _Checker:
    """Collects (path, message) issues; one method per section of the plan."""

    def __init__(self, plan: Plan, also_known: dict[str, set[str]]) -> None:
        self.plan = plan
        self.issues: list[Issue] = []
        self.units = self._index(tree(plan.units, ("units",)), "key")
        self.cycles = self._index(tree(plan.cycles, ("cycles",)), "key")
        self.kpis = self._index(self._listed("kpis"), "key")
        self.people = self._index(self._listed("people"), "email")
        self.objectives = self._index(self._listed("objectives"), "key")
        self.key_results = self._index(key_results(plan), "key")
        self.kr_objectives = {kr.key: objective for _, kr, objective in key_results(plan)}
        self.dependencies = self._index(self._listed("dependencies"), "key")
        own = {
            "unit": self.units, "cycle": self.cycles, "kpi": self.kpis,
            "person": self.people, "objective": self.objectives, "key_result": self.key_results,
        }  # fmt: skip
        self.known = {kind: set(keys) | also_known.get(kind, set()) for kind, keys in own.items()}

    def run(self) -> None:
        self._organisation()
        for path, person in self._listed("people"):
            for i, membership in enumerate(person.memberships):
                self._ref((*path, "memberships", i, "unit"), "unit", membership.unit)
            self._no_repeats((*path, "memberships"), [m.unit for m in person.memberships])
        for path, cycle, parent in tree(self.plan.cycles, ("cycles",)):
            self._cycle(path, cycle, parent)
        for path, kpi in self._listed("kpis"):
            self._kpi(path, kpi)
        for path, objective in self._listed("objectives"):
            self._objective(path, objective)
        for path, kr, objective in key_results(self.plan):
            self._key_result(path, kr, objective)
        self._link_loops()
        for path, dependency in self._listed("dependencies"):
            self._dependency(path, dependency)

    # -- helpers

    def _listed(self, section: str) -> Iterator[tuple[Path, Any]]:
        for i, item in enumerate(getattr(self.plan, section)):
            yield (section, i), item

    def _index(self, entries: Iterable[tuple[Any, ...]], field: str) -> dict[str, tuple[Path, Any]]:
        """Items by key; a key seen twice is reported at its second place."""
        seen: dict[str, tuple[Path, Any]] = {}
        for path, item, *_ in entries:
            key = getattr(item, field)
            if key in seen:
                line, where = self.plan.locate((*seen[key][0], field))
                first = f"line {line}" if line else where
                self.issues.append(((*path, field), f"{key!r} is used twice (first at {first})"))
            else:
                seen[key] = (path, item)
        return seen

    def _ref(self, path: Path, kind: str, key: str | None) -> None:
        if key is not None and key not in self.known[kind]:
            if kind == "person":
                self.issues.append((path, f"no person with e-mail {key!r} under people"))
            else:
                name = {"kpi": "KPI", "key_result": "key result"}.get(kind, kind)
                self.issues.append((path, f"unknown {name} {key!r}"))

    def _refs(self, path: Path, kind: str, keys: list[str]) -> None:
        for i, key in enumerate(keys):
            self._ref((*path, i), kind, key)
        self._no_repeats(path, keys)

    def _no_repeats(self, path: Path, keys: list[str]) -> None:
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            self.issues.append((path, f"lists {', '.join(map(repr, repeated))} more than once"))

    # -- sections

    def _organisation(self) -> None:
        org: OrganisationSpec | None = self.plan.organisation
        if org is not None and not (0 <= org.on_track_margin <= org.at_risk_margin <= 1):
            self.issues.append(
                (
                    ("organisation", "at_risk_margin"),
                    "need 0 <= on_track_margin <= at_risk_margin <= 1",
                )
            )

    def _cycle(self, path: Path, cycle: CycleSpec, parent: CycleSpec | None) -> None:
        if cycle.start > cycle.end:
            self.issues.append(((*path, "end"), f"must not be before start ({cycle.start})"))
            return
        if parent is None or parent.start > parent.end:
            return
        if cycle.start < parent.start or cycle.end > parent.end:
            field = "start" if cycle.start < parent.start else "end"
            message = (
                f"the cycle ({cycle.start} to {cycle.end}) lies outside its parent "
                f"{parent.key!r} ({parent.start} to {parent.end})"
            )
            self.issues.append(((*path, field), message))

    def _kpi(self, path: Path, kpi: Any) -> None:
        low, high = kpi.healthy_min, kpi.healthy_max
        if low is not None and high is not None and low > high:
            self.issues.append(((*path, "healthy_max"), "must not be below healthy_min"))
        self._refs((*path, "owners"), "unit", kpi.owners)

    def _objective(self, path: Path, objective: ObjectiveSpec) -> None:
        self._ref((*path, "cycle"), "cycle", objective.cycle)
        self._ref((*path, "owner"), "unit", objective.owner)
        self._refs((*path, "contributors"), "unit", objective.contributors)
        if objective.level == "unit" and objective.owner is None:
            self.issues.append(((*path, "owner"), "a unit objective needs its owner unit"))
        if objective.level == "shared" and len(set(objective.contributors)) < 2:
            self.issues.append(
                ((*path, "contributors"), "a shared objective needs at least two units")
            )
        if objective.level != "shared" and objective.contributors:
            self.issues.append(
                ((*path, "contributors"), "only shared objectives have contributing units")
            )
        for i, link in enumerate(objective.contributes_to):
            link_path = (*path, "contributes_to", i, "objective")
            self._ref(link_path, "objective", link.objective)
            if link.objective == objective.key:
                self.issues.append((link_path, "an objective cannot contribute to itself"))
        self._no_repeats((*path, "contributes_to"), [x.objective for x in objective.contributes_to])
        self._refs((*path, "endorsed_by"), "unit", objective.endorsed_by)
        if objective.owner is not None and objective.owner in objective.endorsed_by:
            self.issues.append(
                ((*path, "endorsed_by"), "the owner unit does not endorse its own objective")
            )

    def _key_result(self, path: Path, kr: KeyResultSpec, objective: ObjectiveSpec) -> None:
        self._ref((*path, "owner"), "unit", kr.owner)
        self._refs((*path, "co_owners"), "unit", kr.co_owners)
        if kr.owner is not None and kr.owner in kr.co_owners:
            self.issues.append(
                ((*path, "co_owners"), "the accountable unit cannot also be a co-owner")
            )
        self._ref((*path, "owner_person"), "person", kr.owner_person)
        self._ref((*path, "kpi"), "kpi", kr.kpi)
        self._numbers(path, kr)
        cycle = self.cycles.get(objective.cycle, ((), None))[1]
        if kr.due is not None and cycle is not None and not cycle.start <= kr.due <= cycle.end:
            self.issues.append(
                (
                    (*path, "due"),
                    f"must lie inside the cycle {cycle.key!r} ({cycle.start} to {cycle.end})",
                )
            )

    def _dependency(self, path: Path, dep: DependencySpec) -> None:
        """The rules `dependency_request` and the lifecycle services apply, named by field."""
        self._ref((*path, "from"), "key_result", dep.from_)
        self._ref((*path, "to"), "unit", dep.to)
        self._ref((*path, "delivered_by"), "key_result", dep.delivered_by)
        requester = self.key_results.get(dep.from_, ((), None))[1]
        if requester is not None:
            if requester.owner is None:
                self.issues.append(
                    ((*path, "from"), "the key result has no accountable unit to ask on behalf of")
                )
            elif requester.owner == dep.to:
                self.issues.append(((*path, "to"), "a unit cannot depend on itself"))
            objective = self.kr_objectives[dep.from_]
            cycle = self.cycles.get(objective.cycle, ((), None))[1]
            if cycle is not None and not cycle.start <= dep.needed_by <= cycle.end:
                self.issues.append(
                    (
                        (*path, "needed_by"),
                        f"must lie inside the cycle {cycle.key!r} ({cycle.start} to "
                        f"{cycle.end}) of the key result {dep.from_!r}",
                    )
                )
        provider = self.key_results.get(dep.delivered_by or "", ((), None))[1]
        if provider is not None and dep.to != provider.owner and dep.to not in provider.co_owners:
            self.issues.append(
                (
                    (*path, "delivered_by"),
                    f"must be a key result of {dep.to!r} (its accountable unit or a co-owner)",
                )
            )
        self._lifecycle_fields(path, dep)

    def _lifecycle_fields(self, path: Path, dep: DependencySpec) -> None:
        """Each state carries the fields its lifecycle step sets, and only those."""
        if dep.state == "declined" and not dep.reason:
            self.issues.append(((*path, "reason"), "a declined dependency needs its reason"))
        if dep.reason and dep.state not in ("declined", "countered", "missed"):
            self.issues.append(
                ((*path, "reason"), "only a declined, countered or missed dependency has a reason")
            )
        if dep.state == "countered":
            if dep.counter_date is None:
                self.issues.append(
                    ((*path, "counter_date"), "a countered dependency needs the date offered")
                )
            elif dep.counter_date == dep.needed_by:
                self.issues.append(
                    ((*path, "counter_date"), "is the date already asked for; use accepted")
                )
        elif dep.counter_date is not None:
            self.issues.append(
                ((*path, "counter_date"), "only a countered dependency has a counter date")
            )
        if dep.delivered_by is not None and dep.state in ("requested", "declined", "countered"):
            self.issues.append(
                (
                    (*path, "delivered_by"),
                    f"is named when the provider accepts; a {dep.state} dependency has none",
                )
            )

    def _numbers(self, path: Path, kr: KeyResultSpec) -> None:
        """Start, target and steps as the KR's kind needs them (the service's rules)."""
        kind = KRKind(kr.kind)
        if kind is KRKind.MILESTONE:
            steps = len(kr.steps) or 1
            if kr.start != 0:
                self.issues.append(((*path, "start"), "a milestone starts at 0; leave start out"))
            if kr.target != steps:
                self.issues.append(
                    (
                        (*path, "target"),
                        f"a milestone's target is its number of steps ({steps}); leave target out",
                    )
                )
            return
        if kr.steps:
            self.issues.append(((*path, "steps"), "only milestone key results have steps"))
        if kr.target is None:
            self.issues.append(((*path, "target"), f"is required for a {kind.value!r} key result"))
        elif kr.start is not None and not target_is_valid(kind, kr.start, kr.target):
            self.issues.append(((*path, "target"), _target_message(kind, kr.start, kr.target)))

    def _link_loops(self) -> None:
        """Report every loop of contribution links, each at the link that closes it."""
        edges = {
            (objective.key, link.objective): (*path, "contributes_to", i, "objective")
            for path, objective in self._listed("objectives")
            for i, link in enumerate(objective.contributes_to)
            if link.objective in self.objectives and link.objective != objective.key
        }
        while loop := find_cycle(list(edges)):
            closing = (loop[-2], loop[-1])
            loop_text = " -> ".join(map(str, loop))
            self.issues.append((edges.pop(closing), f"contribution links form a loop: {loop_text}"))


def _target_message(kind: KRKind, start: float, target: float) -> str:
    if target == start:
        return "must differ from the start value"
    if kind is KRKind.INCREASE:
        return "must be above the start for 'increase' (use 'decrease' to go down)"
    return "must be below the start for 'decrease' (use 'increase' to go up)"
