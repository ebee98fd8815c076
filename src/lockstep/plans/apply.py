"""Making the database match a plan, through the services so every write is recorded.

`plan_apply` diffs the plan against the organisation as it is (`plan_from_db`) and carries
out exactly those changes, so an entity is written only when one of its fields differs:
applying the same plan twice writes nothing and records no activity event the second time.
It runs in one transaction; the first error (a plan problem or a service refusing a value)
rolls everything back and is reported as a PlanError naming the entity, the field and,
when the plan came from a file, its line.

Contribution links are written in a second pass, once every objective exists, so a plan
may name a parent objective before or after its children. That pass visits parents before
children: re-pointing links then never passes through a loop the service would refuse.

Dependencies come after the key results they join. A new one is requested with
`dependency_request`; then, new or not, it is moved along the lifecycle to the state the
plan declares, one service per step (`lifecycle.route`), so each step records its event.
A state the lifecycle cannot reach from the database's is refused, naming the line.
Findings are refreshed once, fully, at the end (`findings_deferred`), not after each event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from graphlib import TopologicalSorter
from typing import Any

from django.db import transaction

from lockstep.alignment import services as alignment
from lockstep.alignment.models import Dependency
from lockstep.errors import LockstepError
from lockstep.goals import services as goals
from lockstep.goals.models import KPI, Cycle, KeyResult, Objective
from lockstep.org import services as org_services
from lockstep.org.models import Organisation, Person, Unit
from lockstep.plans.diff import Change, Record, plan_diff, records
from lockstep.plans.export import kr_owners, plan_from_db, standing_of
from lockstep.plans.lifecycle import Standing, Step, route
from lockstep.plans.problems import PlanError, Problem
from lockstep.plans.schema import DependencySpec, Plan
from lockstep.plans.validate import plan_check


@dataclass(frozen=True)
class ApplyResult:
    """The organisation after the apply; `changes` were written, `kept` were left alone."""

    organisation: Organisation
    changes: list[Change]
    kept: list[Change] = field(default_factory=list)


def plan_apply(plan: Plan, *, actor: Person | None = None, prune: bool = False) -> ApplyResult:
    """Make the organisation match the plan in one transaction, writing only what differs."""
    plan_check(plan)
    # Inside the transaction: the one refresh at the end commits or rolls back with the plan.
    with transaction.atomic(), alignment.findings_deferred():
        # Serialise applies of the same organisation (a no-op lock on SQLite).
        slug = plan.organisation.slug
        org = Organisation.objects.select_for_update().filter(slug=slug).first()
        writer = _Writer(plan, org, actor)
        changes = plan_diff(plan_from_db(org) if org is not None else None, plan)
        done, kept = writer.run(changes, prune=prune)
    assert writer.org is not None  # created by the first change when it did not exist
    return ApplyResult(organisation=writer.org, changes=done, kept=kept)


# ---- how each kind of entity is written ---------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """The services that write one kind of entity and how plan fields become arguments."""

    model: type[Any]
    create: Callable[[_Writer, str, dict[str, Any]], Any]
    update: Callable[..., Any]
    archive: Callable[..., Any] | None
    instance: str  # the update/archive services' argument naming the row
    # plan field -> (service argument, what the value refers to); unlisted fields pass as is
    args: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    key_field: str = "key"

    def argument(self, plan_field: str) -> tuple[str, str | None]:
        return self.args.get(plan_field, (plan_field, None))

    def plan_field(self, service_field: str) -> str | None:
        """The plan field a service's error names (None when the plan has no such field)."""
        for plan_field, (argument, _) in self.args.items():
            if argument == service_field:
                return plan_field
        return None if service_field == "parent" else service_field


def _in_org(create: Callable[..., Any]) -> Callable[[_Writer, str, dict[str, Any]], Any]:
    return lambda w, key, kw: create(organisation=w.organisation, actor=w.actor, key=key, **kw)


KINDS: dict[str, _Kind] = {
    "organisation": _Kind(
        Organisation,
        create=lambda w, key, kw: org_services.organisation_create(
            slug=key, timezone_name=kw.pop("timezone"), actor=w.actor, **kw
        ),
        update=org_services.organisation_update,
        archive=None,
        instance="organisation",
        key_field="slug",
    ),
    "unit": _Kind(
        Unit,
        create=_in_org(org_services.unit_create),
        update=org_services.unit_update,
        archive=org_services.unit_archive,
        instance="unit",
        args={"parent": ("parent", "unit")},
    ),
    "person": _Kind(
        Person,
        create=lambda w, key, kw: org_services.person_create(
            organisation=w.organisation, actor=w.actor, email=key, **kw
        ),
        update=org_services.person_update,
        archive=org_services.person_archive,
        instance="person",
        args={"memberships": ("memberships", "memberships")},
        key_field="email",
    ),
    "cycle": _Kind(
        Cycle,
        create=_in_org(goals.cycle_create),
        update=goals.cycle_update,
        archive=None,
        instance="cycle",
        args={"parent": ("parent", "cycle")},
    ),
    "kpi": _Kind(
        KPI,
        create=_in_org(goals.kpi_create),
        update=goals.kpi_update,
        archive=goals.kpi_archive,
        instance="kpi",
        args={"owners": ("owner_units", "units")},
    ),
    "objective": _Kind(
        Objective,
        create=_in_org(goals.objective_create),
        update=goals.objective_update,
        archive=goals.objective_archive,
        instance="objective",
        args={
            "cycle": ("cycle", "cycle"),
            "owner": ("owner_unit", "unit"),
            "contributors": ("contributors", "units"),
            "contributes_to": ("parents", "links"),
        },
    ),
    "key_result": _Kind(
        KeyResult,
        create=lambda w, key, kw: goals.key_result_create(actor=w.actor, key=key, **kw),
        update=goals.key_result_update,
        archive=goals.key_result_archive,
        instance="key_result",
        args={
            "objective": ("objective", "objective"),
            "owner": ("owner_unit", "unit"),
            "owner_person": ("owner_person", "person"),
            "co_owners": ("co_owners", "units"),
            "kpi": ("kpi", "kpi"),
        },
    ),
}
# Written in the second pass, once every objective exists.
LINK_FIELD = "contributes_to"
# What `dependency_request` fixes for good: no service changes these afterwards.
REQUEST_FIELDS = ("from", "to", "title", "description", "effort")
# The lifecycle services' argument names -> the plan's field names.
DEPENDENCY_FIELDS = {
    "requester_item": "from",
    "provider_unit": "to",
    "provider_item": "delivered_by",
}


class _Writer:
    """Carries out a list of changes for one plan, keeping the rows it has by key."""

    def __init__(self, plan: Plan, org: Organisation | None, actor: Person | None) -> None:
        self.plan: Plan = plan
        self.org: Organisation | None = org  # None until the plan's organisation is created
        self.actor: Person | None = actor
        self.wanted = {(r.entity, r.key): r for r in records(plan)}
        # Every row of the organisation by key, archived ones too: a plan naming an archived
        # key must be told so rather than fail on the unique key.
        self.rows: dict[tuple[str, str], Any] = {}
        if org is not None:
            for entity, kind in KINDS.items():
                if entity != "organisation":
                    self.rows.update(
                        ((entity, getattr(row, kind.key_field)), row)
                        for row in kind.model.objects.filter(organisation=org)
                    )
            self.rows.update(
                (("dependency", row.key), row)
                for row in Dependency.objects.filter(organisation=org)
            )

    @property
    def organisation(self) -> Organisation:
        """The organisation rows are written into, once it exists."""
        assert self.org is not None  # it exists already, or the first change created it
        return self.org

    def run(self, changes: list[Change], *, prune: bool) -> tuple[list[Change], list[Change]]:
        """Write the changes; returns (changes written, removals left alone)."""
        writes = [c for c in changes if c.kind != "remove"]
        removals = [c for c in changes if c.kind == "remove"]
        for change in writes:
            if change.entity == "dependency":
                self._guarded(change, self._dependency)
            else:
                self._guarded(change, self._write)
        for change in self._links_parents_first(writes):
            self._guarded(change, self._link)
        if not prune:
            return writes, removals
        archivable = [
            c for c in removals if c.entity in KINDS and KINDS[c.entity].archive is not None
        ]
        for change in archivable:
            self._guarded(change, self._archive)
        kept = [c for c in removals if c not in archivable]
        return writes + [replace(c, note="archived") for c in archivable], kept

    # -- the three kinds of write

    def _write(self, change: Change) -> None:
        kind, record = KINDS[change.entity], self.wanted[(change.entity, change.key)]
        if change.kind == "add":
            if (change.entity, change.key) in self.rows:
                raise self._refusal(
                    change, None, "is archived in the database; a plan cannot restore it"
                )
            row = kind.create(self, change.key, self._arguments(kind, record, record.values))
            self.org = row if change.entity == "organisation" else self.org
            self.rows[(change.entity, change.key)] = row
            return
        if change.touches("objective"):
            old = next(f.old for f in change.fields if f.field == "objective")
            raise self._refusal(
                change,
                None,  # the objective is where the KR sits in the plan, not a field
                f"belongs to objective {old!r} in the database; a key result cannot move "
                "to another objective (archive it and add one with a new key)",
            )
        arguments = self._arguments(kind, record, [f.field for f in change.fields])
        if arguments:  # a change of links alone waits for the second pass
            row = self._row(change.entity, change.key)
            kind.update(**{kind.instance: row}, actor=self.actor, **arguments)

    def _link(self, change: Change) -> None:
        record = self.wanted[("objective", change.key)]
        arguments = self._arguments(KINDS["objective"], record, [LINK_FIELD], links=True)
        row = self._row("objective", change.key)
        goals.objective_update(objective=row, actor=self.actor, **arguments)

    def _archive(self, change: Change) -> None:
        kind = KINDS[change.entity]
        assert kind.archive is not None
        kind.archive(**{kind.instance: self._row(change.entity, change.key)}, actor=self.actor)

    def _dependency(self, change: Change) -> None:
        """Request a new dependency, then take it step by step to the plan's state."""
        spec = self._dependency_spec(change)
        if change.kind == "add":
            if ("dependency", change.key) in self.rows:
                raise self._refusal(
                    change,
                    None,
                    "the key is taken by a dependency a plan cannot show (asked for an "
                    "initiative or an archived key result)",
                )
            row = alignment.dependency_request(
                organisation=self.organisation,
                actor=self.actor,
                requester_item=self._row("key_result", spec.from_),
                provider_unit=self._row("unit", spec.to),
                title=spec.title,
                needed_by=spec.needed_by,
                description=spec.description,
                effort=spec.effort,
                key=spec.key,
            )
            self.rows[("dependency", change.key)] = row
            start = Standing("requested", spec.needed_by)
        else:
            fixed = [f.field for f in change.fields if f.field in REQUEST_FIELDS]
            if fixed:
                raise self._refusal(
                    change,
                    fixed[0],
                    f"the {fixed[0]} of a dependency cannot change once it is requested "
                    "(cancel it in the app and request a new one under another key)",
                )
            row = self._row("dependency", change.key)
            start = standing_of(row, kr_owners(self.plan.objectives))
        goal = Standing(
            spec.state, spec.needed_by, spec.counter_date, spec.delivered_by, spec.reason
        )
        steps = route(start, goal)
        if steps is None:
            raise self._refusal(change, _unreachable_field(change), _unreachable(start, goal))
        for step in steps:
            row = self._step(row, step)
        self.rows[("dependency", change.key)] = row

    def _dependency_spec(self, change: Change) -> DependencySpec:
        index = change.path[1]
        assert isinstance(index, int)
        return self.plan.dependencies[index]

    def _step(self, row: Dependency, step: Step) -> Dependency:
        actor = self.actor
        if step.verb == "accept":
            provider = self._row("key_result", step.delivered_by) if step.delivered_by else None
            return alignment.dependency_accept(dependency=row, actor=actor, provider_item=provider)
        if step.verb == "decline":
            return alignment.dependency_decline(dependency=row, actor=actor, reason=step.reason)
        if step.verb == "counter":
            assert step.counter_date is not None
            return alignment.dependency_counter(
                dependency=row, actor=actor, counter_date=step.counter_date, reason=step.reason
            )
        if step.verb in ("counter_accept", "counter_reject"):
            return alignment.dependency_counter_answer(
                dependency=row, actor=actor, accept=step.verb == "counter_accept"
            )
        if step.verb == "deliver":
            return alignment.dependency_deliver(dependency=row, actor=actor)
        if step.verb == "miss":
            return alignment.dependency_miss(dependency=row, actor=actor, reason=step.reason)
        assert step.verb == "cancel", step.verb
        return alignment.dependency_cancel(dependency=row, actor=actor)

    def _links_parents_first(self, writes: Iterable[Change]) -> list[Change]:
        def needs_links(change: Change) -> bool:
            if change.kind == "change":
                return change.touches(LINK_FIELD)
            return bool(self.wanted[("objective", change.key)].values[LINK_FIELD])

        pending = {c.key: c for c in writes if c.entity == "objective" and needs_links(c)}
        graph = {
            key: [parent for parent, _ in record.values[LINK_FIELD]]
            for (entity, key), record in self.wanted.items()
            if entity == "objective"
        }
        # The plan was checked for loops, so this order exists.
        order = TopologicalSorter(graph).static_order()
        return [pending[key] for key in order if key in pending]

    # -- plan values to service arguments

    def _arguments(
        self, kind: _Kind, record: Record, names: Iterable[str], *, links: bool = False
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in names:
            if (name == LINK_FIELD) != links:
                continue
            argument, refers_to = kind.argument(name)
            out[argument] = self._resolve(refers_to, record.values[name])
        return out

    def _resolve(self, refers_to: str | None, value: Any) -> Any:
        if refers_to is None:
            return list(value) if isinstance(value, tuple) else value
        if value is None:
            return None
        if refers_to == "units":
            return [self._row("unit", key) for key in value]
        if refers_to == "memberships":
            return [(self._row("unit", unit), role) for unit, role in value]
        if refers_to == "links":
            return [(self._row("objective", key), weight) for key, weight in value]
        return self._row(refers_to, value)

    def _row(self, entity: str, key: str) -> Any:
        return self.org if entity == "organisation" else self.rows[(entity, key)]

    # -- errors

    def _guarded(self, change: Change, write: Callable[[Change], None]) -> None:
        try:
            write(change)
        except PlanError:
            raise
        except LockstepError as exc:
            # A service refused a value the plan checks could not see (it depends on the
            # database, e.g. check-ins already recorded). Name the entity and the field.
            first = exc.fields[0] if exc.fields else None
            if first is None:
                plan_field = None
            elif change.entity == "dependency":
                plan_field = DEPENDENCY_FIELDS.get(first.field, first.field)
            else:
                plan_field = KINDS[change.entity].plan_field(first.field)
            message = first.message if first else exc.message
            raise self._refusal(change, plan_field, message) from exc

    def _refusal(self, change: Change, plan_field: str | None, message: str) -> PlanError:
        label = f"{change.entity.replace('_', ' ')} {change.key!r}"
        if not change.path:  # a removal: the entity is only in the database
            return PlanError([Problem(None, "", f"{label} (only in the database): {message}")])
        path = (*change.path, plan_field) if plan_field else change.path
        line, where = self.plan.locate(path)
        return PlanError([Problem(line, where, f"{label}: {message}")])


def _unreachable_field(change: Change) -> str:
    """The field to point at: the state when it changes, else the first field that does."""
    if change.kind == "add" or change.touches("state"):
        return "state"
    return change.fields[0].field


def _unreachable(start: Standing, goal: Standing) -> str:
    def describe(standing: Standing) -> str:
        shown = standing.shown()
        text = f"{shown.state}, needed by {shown.needed_by}"
        if shown.counter_date is not None:
            text += f", countered for {shown.counter_date}"
        if shown.delivered_by is not None:
            text += f", delivered by {shown.delivered_by}"
        return text + (f", reason {shown.reason!r}" if shown.reason else "")

    return (
        f"is {describe(start)} in the database; no lifecycle step leads to "
        f"{describe(goal)} (requested -> accepted, declined, countered or cancelled; "
        "countered -> accepted, requested or cancelled; accepted -> delivered, missed or "
        "cancelled)"
    )
