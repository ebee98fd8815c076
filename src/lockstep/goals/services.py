"""Writes for cycles, objectives, key results, check-ins, initiatives and KPIs.

Each public function owns its transaction, validates before it writes (a wrong value names
the field and why, and nothing is written), and records exactly one activity event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from lockstep.activity.services import event_record, snapshot
from lockstep.core.forecast import days_since, sums_add
from lockstep.core.progress import Commitment, KRKind, Status, target_is_valid
from lockstep.core.rollup import KRScore, Link, find_cycle, roll_up
from lockstep.core.snapshot import CheckInSums
from lockstep.errors import Conflict, Forbidden, ValidationFailed
from lockstep.goals.access import may_check_in
from lockstep.goals.models import (
    KPI,
    KR_COUNT_FIELDS,
    KR_COUNTED,
    CheckIn,
    ContributionLink,
    Cycle,
    Initiative,
    KeyResult,
    KPIDataPoint,
    Objective,
    ObjectiveContributor,
)
from lockstep.goals.selectors import (
    cycle_window,
    kr_due,
    kr_pace,
    margins_of,
    org_tz,
)
from lockstep.keys import is_valid_key, unique_key
from lockstep.org.models import Organisation, Person, Unit
from lockstep.org.roles import require_admin, require_leader, require_worker

# A check-in may be stamped a little ahead of the server clock (client clock skew).
CLOCK_SKEW = dt.timedelta(minutes=5)


def _key(
    model: Any, organisation: Organisation, key: str | None, text: str, pk: int | None = None
) -> str:
    if key is None:
        return unique_key(model, organisation.pk, text)
    if not is_valid_key(key):
        raise ValidationFailed.on("key", "use lower-case letters, digits, '-' or '_'")
    if model.objects.filter(organisation=organisation, key=key).exclude(pk=pk).exists():
        raise ValidationFailed.on("key", f"{key!r} is already used")
    return key


def _text(field: str, value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed.on(field, "must not be empty")
    return value


def _number(field: str, value: float | None) -> float:
    if value is None or not math.isfinite(float(value)):
        raise ValidationFailed.on(field, "must be a finite number")
    return float(value)


def _same_org(field: str, organisation: Organisation, obj: Any) -> None:
    if obj is not None and obj.organisation_id != organisation.pk:
        raise ValidationFailed.on(field, "unknown in this organisation")


def _check_unit(field: str, organisation: Organisation, unit: Unit | None) -> None:
    _same_org(field, organisation, unit)
    if unit is not None and unit.archived_at is not None:
        raise ValidationFailed.on(field, f"unit {unit.key!r} is archived")


Archivable = TypeVar("Archivable", Objective, KeyResult, Initiative, KPI)


def _archive(
    obj: Archivable,
    actor: Person | None,
    verb: str,
    snap: Callable[[Archivable], dict[str, Any]],
    *,
    then: Callable[[], None] | None = None,
) -> Archivable:
    """Set archived_at (rows are never deleted) and record one event with before and after.

    `then` runs after the save and before the event, so the event's listeners see its work.
    """
    before = snap(obj)
    obj.archived_at = timezone.now()
    obj.save(update_fields=["archived_at", *(["updated_at"] if hasattr(obj, "updated_at") else [])])
    if then is not None:
        then()
    event_record(
        organisation=obj.organisation,
        actor=actor,
        verb=verb,
        obj=obj,
        before=before,
        after=snap(obj),
    )
    return obj


# ---- cycles -------------------------------------------------------------------------


def _check_cycle(organisation: Organisation, cycle: Cycle | None, data: dict[str, Any]) -> None:
    if data["kind"] not in Cycle.Kind.values:
        raise ValidationFailed.on("kind", f"must be one of {', '.join(Cycle.Kind.values)}")
    if data["start"] > data["end"]:
        raise ValidationFailed.on("end", "must not be before start")
    parent: Cycle | None = data.get("parent")
    if parent is not None:
        _same_org("parent", organisation, parent)
        if cycle is not None and parent.pk == cycle.pk:
            raise ValidationFailed.on("parent", "a cycle cannot contain itself")
        if data["start"] < parent.start or data["end"] > parent.end:
            raise ValidationFailed.on(
                "parent",
                f"the cycle ({data['start']} to {data['end']}) lies outside its parent "
                f"{parent.key!r} ({parent.start} to {parent.end})",
            )
    if cycle is not None:
        for child in cycle.children.all():
            if child.start < data["start"] or child.end > data["end"]:
                raise ValidationFailed.on("start", f"sub-cycle {child.key!r} would fall outside")
        late = KeyResult.objects.filter(objective__cycle=cycle, due__isnull=False).exclude(
            due__range=(data["start"], data["end"])
        )
        first_late = late.first()
        if first_late is not None:
            raise ValidationFailed.on("end", f"key result {first_late.key!r} is due outside")


def _leading_units(objective: Objective) -> list[Unit]:
    """The units whose leaders run an objective: its owner, or without one its contributors."""
    if objective.owner_unit is not None:
        return [objective.owner_unit]
    return list(objective.contributors.all())


def _require_objective_leader(
    actor: Person | None, objective: Objective, new_owner: Unit | None = None
) -> None:
    require_leader(actor, _leading_units(objective), "change this objective")
    if new_owner is not None:
        require_leader(actor, [new_owner], "give it this objective")


def _require_kr_leader(actor: Person | None, kr: KeyResult, new_owner: Unit | None = None) -> None:
    # The objective's leaders set its KRs; the owning unit's leaders run their own.
    require_leader(actor, [*_leading_units(kr.objective), kr.owner_unit], "change this key result")
    if new_owner is not None:
        require_leader(actor, [*_leading_units(kr.objective), new_owner], "give it this key result")


def _require_initiative_leader(
    actor: Person | None, initiative: Initiative, new_owner: Unit | None = None
) -> None:
    require_leader(actor, [initiative.owner_unit], "change this initiative")
    if new_owner is not None:
        require_leader(actor, [new_owner], "give it this initiative")


@transaction.atomic
def cycle_create(
    *,
    organisation: Organisation,
    actor: Person | None,
    name: str,
    kind: str,
    start: dt.date,
    end: dt.date,
    parent: Cycle | None = None,
    key: str | None = None,
) -> Cycle:
    """Create a cycle, nested inside its parent when it has one."""
    require_admin(actor, "manage cycles")
    data = {"name": _text("name", name), "kind": kind, "start": start, "end": end, "parent": parent}
    _check_cycle(organisation, None, data)
    cycle = Cycle.objects.create(
        organisation=organisation, key=_key(Cycle, organisation, key, name), **data
    )
    event_record(
        organisation=organisation,
        actor=actor,
        verb="cycle.created",
        obj=cycle,
        after=snapshot(cycle),
    )
    return cycle


@transaction.atomic
def cycle_update(*, cycle: Cycle, actor: Person | None, **changes: Any) -> Cycle:
    """Rename, move or re-date a cycle; its sub-cycles and KR due dates must stay inside."""
    require_admin(actor, "manage cycles")
    allowed = {"name", "kind", "start", "end", "parent", "key"}
    for field in changes:
        if field not in allowed:
            raise ValidationFailed.on(field, "cannot be changed")
    data = {
        f: changes.get(f, getattr(cycle, f)) for f in ("name", "kind", "start", "end", "parent")
    }
    data["name"] = _text("name", data["name"])
    _check_cycle(cycle.organisation, cycle, data)
    if "key" in changes:
        _key(Cycle, cycle.organisation, changes["key"], "", cycle.pk)
    before = snapshot(cycle)
    for field, value in {**data, **({"key": changes["key"]} if "key" in changes else {})}.items():
        setattr(cycle, field, value)
    moved = cycle.start.isoformat() != before["start"]
    cycle.save()
    if moved:
        # The forecast sums count days from the cycle start; rebase them on the new start.
        for kr in KeyResult.objects.filter(
            objective__cycle=cycle, checkin_count__gt=0
        ).select_related("objective__cycle", "organisation"):
            key_result_sums_rebuild(kr)
    if moved or cycle.end.isoformat() != before["end"]:
        # The pace line of every KR in the cycle moved with its dates: a rare change that
        # restatuses a whole quarter, so the full refresh takes it.
        numbers_refresh_full(cycle.organisation)
    event_record(
        organisation=cycle.organisation,
        actor=actor,
        verb="cycle.updated",
        obj=cycle,
        before=before,
        after=snapshot(cycle),
    )
    return cycle


@transaction.atomic
def cycle_delete(*, cycle: Cycle, actor: Person | None) -> None:
    """Delete an empty cycle; one with objectives or sub-cycles is kept for history."""
    require_admin(actor, "manage cycles")
    if cycle.children.exists():
        raise Conflict("the cycle has sub-cycles; delete or move them first")
    if cycle.objectives.exists():
        raise Conflict("the cycle has objectives; archive them instead of deleting the cycle")
    event_record(
        organisation=cycle.organisation,
        actor=actor,
        verb="cycle.deleted",
        obj=cycle,
        before=snapshot(cycle),
    )
    cycle.delete()


# ---- objectives and links -------------------------------------------------------------


def _check_objective(organisation: Organisation, data: dict[str, Any]) -> None:
    if data["level"] not in Objective.Level.values:
        raise ValidationFailed.on("level", "must be company, shared or unit")
    if data["state"] not in Objective.State.values:
        raise ValidationFailed.on("state", "must be draft, published or closed")
    _same_org("cycle", organisation, data["cycle"])
    _check_unit("owner_unit", organisation, data["owner_unit"])
    contributors: list[Unit] = data["contributors"]
    for unit in contributors:
        _check_unit("contributors", organisation, unit)
    if len({u.pk for u in contributors}) != len(contributors):
        raise ValidationFailed.on("contributors", "lists a unit twice")
    if data["level"] == Objective.Level.UNIT and data["owner_unit"] is None:
        raise ValidationFailed.on("owner_unit", "a unit objective needs its owner unit")
    if data["level"] == Objective.Level.SHARED and len(contributors) < 2:
        raise ValidationFailed.on("contributors", "a shared objective needs at least two units")
    if data["level"] != Objective.Level.SHARED and contributors:
        raise ValidationFailed.on("contributors", "only shared objectives have contributing units")


def _without_numbers(data: dict[str, Any]) -> dict[str, Any]:
    """A row's snapshot without its stored numbers: derived, not what anyone changed."""
    return {k: v for k, v in data.items() if k not in {*NUMBER_FIELDS, *KR_COUNT_FIELDS}}


def _private(private: bool, owner: Unit | None, contributors: Sequence[Unit]) -> bool:
    if not isinstance(private, bool):
        raise ValidationFailed.on("private", "must be true or false")
    if private and owner is None and not contributors:
        raise ValidationFailed.on(
            "private", "a private objective needs an owner or contributing unit"
        )
    return private


def _objective_snapshot(objective: Objective) -> dict[str, Any]:
    return {
        **_without_numbers(snapshot(objective)),
        "contributors": sorted(objective.contributors.values_list("key", flat=True)),
        "parents": sorted(
            [k, w] for k, w in objective.parent_links.values_list("parent__key", "weight")
        ),
    }


def _set_contributors(objective: Objective, units: Sequence[Unit]) -> None:
    ObjectiveContributor.objects.filter(objective=objective).exclude(unit__in=list(units)).delete()
    existing = set(
        ObjectiveContributor.objects.filter(objective=objective).values_list("unit_id", flat=True)
    )
    ObjectiveContributor.objects.bulk_create(
        [ObjectiveContributor(objective=objective, unit=u) for u in units if u.pk not in existing]
    )


def _set_parents(objective: Objective, parents: Sequence[tuple[Objective, float]]) -> None:
    """Replace the objective's contribution links, refusing a link that closes a cycle."""
    org = objective.organisation
    for parent, weight in parents:
        _same_org("parents", org, parent)
        if parent.pk == objective.pk:
            raise ValidationFailed.on("parents", "an objective cannot contribute to itself")
        _number("parents", weight)
        if weight <= 0:
            raise ValidationFailed.on("parents", "a link weight must be above 0")
    if len({p.pk for p, _ in parents}) != len(parents):
        raise ValidationFailed.on("parents", "lists a parent objective twice")
    others = ContributionLink.objects.filter(child__organisation=org).exclude(child=objective)
    edges = list(others.values_list("child_id", "parent_id"))
    for parent, _ in parents:
        edges.append((objective.pk, parent.pk))
    cycle = find_cycle(edges) if parents else None
    if cycle:
        # Start the loop at the objective being linked: that is where the reader is looking.
        nodes = cycle[:-1]
        at = nodes.index(objective.pk) if objective.pk in nodes else 0
        loop = [*nodes[at:], *nodes[:at], nodes[at]]
        keys = dict(Objective.objects.filter(pk__in=loop).values_list("pk", "key"))
        raise ValidationFailed.on(
            "parents", "the link would create a cycle: " + " -> ".join(keys[k] for k in loop)
        )
    ContributionLink.objects.filter(child=objective).delete()
    ContributionLink.objects.bulk_create(
        [ContributionLink(child=objective, parent=p, weight=w) for p, w in parents]
    )


@transaction.atomic
def objective_create(
    *,
    organisation: Organisation,
    actor: Person | None,
    cycle: Cycle,
    title: str,
    level: str = Objective.Level.UNIT,
    owner_unit: Unit | None = None,
    contributors: Sequence[Unit] = (),
    parents: Sequence[tuple[Objective, float]] = (),
    description: str = "",
    state: str = Objective.State.PUBLISHED,
    key: str | None = None,
    private: bool = False,
) -> Objective:
    """Create an objective with its contributing units and contribution links."""
    # A shared objective with no owner unit is led by its contributing units' leaders.
    require_leader(actor, [owner_unit] if owner_unit else contributors, "create this objective")
    clean_title = _text("title", title)
    contributor_units = list(contributors)
    data = {
        "title": clean_title,
        "level": level,
        "owner_unit": owner_unit,
        "cycle": cycle,
        "contributors": contributor_units,
        "state": state,
    }
    _check_objective(organisation, data)
    objective = Objective.objects.create(
        organisation=organisation,
        key=_key(Objective, organisation, key, title),
        title=clean_title,
        level=level,
        owner_unit=owner_unit,
        cycle=cycle,
        description=description,
        state=state,
        private=_private(private, owner_unit, contributor_units),
    )
    _set_contributors(objective, contributor_units)
    _set_parents(objective, list(parents))
    numbers_refresh(organisation=organisation, objective_ids=[objective.pk])
    event_record(
        organisation=organisation,
        actor=actor,
        verb="objective.created",
        obj=objective,
        after=_objective_snapshot(objective),
    )
    return objective


@transaction.atomic
def objective_update(
    *,
    objective: Objective,
    actor: Person | None,
    contributors: Sequence[Unit] | None = None,
    parents: Sequence[tuple[Objective, float]] | None = None,
    **changes: Any,
) -> Objective:
    """Edit an objective; `contributors` and `parents`, when given, replace the old ones."""
    _require_objective_leader(actor, objective, changes.get("owner_unit"))
    allowed = {"title", "level", "owner_unit", "cycle", "description", "state", "key", "private"}
    for field in changes:
        if field not in allowed:
            raise ValidationFailed.on(field, "cannot be changed")
    org = objective.organisation
    data = {
        f: changes.get(f, getattr(objective, f))
        for f in ("title", "level", "owner_unit", "cycle", "state")
    }
    data["title"] = _text("title", data["title"])
    data["contributors"] = (
        list(contributors) if contributors is not None else list(objective.contributors.all())
    )
    _check_objective(org, data)
    if "cycle" in changes and changes["cycle"].pk != objective.cycle_id:
        for kr in objective.key_results.filter(due__isnull=False):
            if not (changes["cycle"].start <= kr.due <= changes["cycle"].end):
                raise ValidationFailed.on(
                    "cycle", f"key result {kr.key!r} is due outside the new cycle"
                )
        if objective.key_results.filter(checkin_count__gt=0).exists():
            raise ValidationFailed.on("cycle", "key results already have check-ins in this cycle")
    if "key" in changes:
        _key(Objective, org, changes["key"], "", objective.pk)
    if "private" in changes or objective.private:
        _private(
            changes.get("private", objective.private), data["owner_unit"], data["contributors"]
        )
    before = _objective_snapshot(objective)
    for field, value in changes.items():
        setattr(objective, field, value)
    objective.title = data["title"]
    objective.save()
    _set_contributors(objective, data["contributors"])
    if parents is not None:
        # The old parents lose this contributor and the new ones gain it: re-roll both chains.
        old_parents = set(objective.parent_links.values_list("parent_id", flat=True))
        _set_parents(objective, list(parents))
        numbers_refresh(
            organisation=org,
            objective_ids={objective.pk, *old_parents, *(p.pk for p, _ in parents)},
        )
    event_record(
        organisation=org,
        actor=actor,
        verb="objective.updated",
        obj=objective,
        before=before,
        after=_objective_snapshot(objective),
    )
    return objective


@transaction.atomic
def objective_archive(*, objective: Objective, actor: Person | None) -> Objective:
    """Archive an objective and its KRs; nothing is deleted."""
    _require_objective_leader(actor, objective)
    # The KRs go first: the event's listeners (the findings store) must see them archived.
    objective.key_results.filter(archived_at__isnull=True).update(archived_at=timezone.now())
    # Its KRs leave the roll-up; an archived objective still feeds its parents, as in the
    # live roll-up (goals.selectors.objective_numbers).
    return _archive(
        objective,
        actor,
        "objective.archived",
        _objective_snapshot,
        then=lambda: numbers_refresh(
            organisation=objective.organisation, objective_ids=[objective.pk]
        ),
    )


# ---- key results ----------------------------------------------------------------------

KR_FIELDS = {
    "title",
    "kind",
    "start",
    "target",
    "measure",
    "steps",
    "weight",
    "due",
    "commitment",
    "owner_unit",
    "owner_person",
    "cadence_days",
    "kpi",
    "key",
}


def _check_kr(organisation: Organisation, objective: Objective, data: dict[str, Any]) -> None:
    _text("title", data["title"])
    try:
        kind = KRKind(data["kind"])
    except ValueError:
        raise ValidationFailed.on(
            "kind", f"must be one of {', '.join(k.value for k in KRKind)}"
        ) from None
    if data["commitment"] not in {c.value for c in Commitment}:
        raise ValidationFailed.on("commitment", "must be committed or aspirational")
    steps = data["steps"] or []
    if not isinstance(steps, list) or not all(isinstance(s, str) and s.strip() for s in steps):
        raise ValidationFailed.on("steps", "must be a list of non-empty step names")
    if kind is KRKind.MILESTONE:
        data["start"], data["target"] = 0.0, float(len(steps) or 1)
    elif steps:
        raise ValidationFailed.on("steps", "only milestone key results have steps")
    data["start"] = _number("start", data["start"])
    data["target"] = _number("target", data["target"])
    if not target_is_valid(kind, data["start"], data["target"]):
        if data["target"] == data["start"]:
            raise ValidationFailed.on("target", "must differ from the start value")
        if kind is KRKind.INCREASE:
            raise ValidationFailed.on(
                "target", "must be above the start for 'increase' (use 'decrease' to go down)"
            )
        raise ValidationFailed.on(
            "target", "must be below the start for 'decrease' (use 'increase' to go up)"
        )
    weight = _number("weight", data["weight"])
    if weight <= 0:
        raise ValidationFailed.on("weight", "must be above 0")
    if int(data["cadence_days"]) < 1:
        raise ValidationFailed.on("cadence_days", "must be at least 1 day")
    cycle = objective.cycle
    due = data["due"]
    if due is not None and not (cycle.start <= due <= cycle.end):
        raise ValidationFailed.on(
            "due", f"must lie inside the cycle ({cycle.start} to {cycle.end})"
        )
    _check_unit("owner_unit", organisation, data["owner_unit"])
    _same_org("owner_person", organisation, data["owner_person"])
    _same_org("kpi", organisation, data["kpi"])


def _kr_snapshot(kr: KeyResult) -> dict[str, Any]:
    return {
        **_without_numbers(snapshot(kr)),
        "co_owners": sorted(kr.co_owners.values_list("key", flat=True)),
    }


def _set_co_owners(kr: KeyResult, co_owners: Sequence[Unit]) -> None:
    for unit in co_owners:
        _check_unit("co_owners", kr.organisation, unit)
        if unit.pk == kr.owner_unit_id:
            raise ValidationFailed.on("co_owners", "the accountable unit cannot also be a co-owner")
    kr.co_owners.set(co_owners)


@transaction.atomic
def key_result_create(
    *,
    objective: Objective,
    actor: Person | None,
    title: str,
    kind: str,
    target: float | None = None,
    start: float = 0.0,
    measure: str = "",
    steps: list[str] | None = None,
    weight: float = 1.0,
    due: dt.date | None = None,
    commitment: str = Commitment.COMMITTED.value,
    owner_unit: Unit | None = None,
    owner_person: Person | None = None,
    co_owners: Sequence[Unit] = (),
    cadence_days: int = 7,
    kpi: KPI | None = None,
    key: str | None = None,
) -> KeyResult:
    """Add a key result to an objective."""
    require_leader(actor, [*_leading_units(objective), owner_unit], "add this key result")
    org = objective.organisation
    if objective.archived_at is not None:
        raise Conflict("the objective is archived")
    data: dict[str, Any] = {
        "title": title,
        "kind": kind,
        "start": start,
        "target": target,
        "measure": measure,
        "steps": list(steps or []),
        "weight": weight,
        "due": due,
        "commitment": commitment,
        "owner_unit": owner_unit,
        "owner_person": owner_person,
        "cadence_days": cadence_days,
        "kpi": kpi,
    }
    _check_kr(org, objective, data)
    data["title"] = data["title"].strip()
    kr = KeyResult(
        organisation=org, objective=objective, key=_key(KeyResult, org, key, title), **data
    )
    _kr_numbers_set(kr, org, timezone.now())
    kr.save(force_insert=True)
    _set_co_owners(kr, co_owners)
    numbers_refresh(organisation=org, objective_ids=[objective.pk])
    event_record(
        organisation=org, actor=actor, verb="key_result.created", obj=kr, after=_kr_snapshot(kr)
    )
    return kr


@transaction.atomic
def key_result_update(
    *,
    key_result: KeyResult,
    actor: Person | None,
    co_owners: Sequence[Unit] | None = None,
    **changes: Any,
) -> KeyResult:
    """Edit a key result; its check-ins are kept and its progress follows the new target."""
    _require_kr_leader(actor, key_result, changes.get("owner_unit"))
    for field in changes:
        if field not in KR_FIELDS:
            raise ValidationFailed.on(field, "cannot be changed")
    kr = key_result
    org = kr.organisation
    data = {f: changes.get(f, getattr(kr, f)) for f in KR_FIELDS - {"key"}}
    if "kind" in changes and changes["kind"] != kr.kind and kr.checkin_count:
        raise ValidationFailed.on("kind", "cannot change once the key result has check-ins")
    _check_kr(org, kr.objective, data)
    if "key" in changes:
        data["key"] = _key(KeyResult, org, changes["key"], "", kr.pk)
    before = _kr_snapshot(kr)
    inputs = {f: getattr(kr, f) for f in NUMBER_INPUTS}
    for field, value in data.items():
        setattr(kr, field, value)
    kr.title = kr.title.strip()
    moved = _kr_numbers_set(kr, org, timezone.now())
    kr.save()
    if co_owners is not None:
        _set_co_owners(kr, co_owners)
    if moved or any(inputs[f] != getattr(kr, f) for f in NUMBER_INPUTS):
        numbers_refresh(organisation=org, objective_ids=[kr.objective_id])
    event_record(
        organisation=org,
        actor=actor,
        verb="key_result.updated",
        obj=kr,
        before=before,
        after=_kr_snapshot(kr),
    )
    return kr


@transaction.atomic
def key_result_archive(*, key_result: KeyResult, actor: Person | None) -> KeyResult:
    """Archive a key result; its check-ins stay, and it leaves its objective's roll-up."""
    _require_kr_leader(actor, key_result)
    return _archive(
        key_result,
        actor,
        "key_result.archived",
        _kr_snapshot,
        then=lambda: numbers_refresh(
            organisation=key_result.organisation, objective_ids=[key_result.objective_id]
        ),
    )


# ---- check-ins ------------------------------------------------------------------------


@transaction.atomic
def checkin_record(
    *,
    key_result: KeyResult,
    actor: Person | None,
    confidence: int,
    value: float | None = None,
    steps_done: list[int] | None = None,
    note: str = "",
    blockers: str = "",
    blocking_unit: Unit | None = None,
    at: dt.datetime | None = None,
    source: str = CheckIn.Source.API,
) -> CheckIn:
    """Append a check-in to a KR and move its current value if it is the latest one.

    For a milestone give `steps_done` (indexes of finished steps) or `value` (steps done,
    or 1 for done when it has no steps).
    """
    # Lock the KR row so concurrent check-ins serialise on the running fields below.
    kr = (
        KeyResult.objects.select_for_update()
        .select_related("objective__cycle", "organisation")
        .get(pk=key_result.pk)
    )
    org = kr.organisation
    if not may_check_in(actor, kr):
        raise Forbidden("only the key result's owner or the people of its units may check in on it")
    if kr.archived_at is not None:
        raise Conflict("the key result is archived")
    if kr.objective.state == Objective.State.CLOSED:
        raise Conflict("the objective is closed")
    if not isinstance(confidence, int) or isinstance(confidence, bool) or not 1 <= confidence <= 10:
        raise ValidationFailed.on("confidence", "must be a whole number from 1 to 10")
    now = timezone.now()
    at = at or now
    if timezone.is_naive(at):
        at = timezone.make_aware(at, org_tz(org))
    start, end = cycle_window(kr.objective.cycle, org_tz(org))
    if not (start <= at < end):
        raise ValidationFailed.on(
            "at",
            f"must lie inside the cycle {kr.objective.cycle.key!r} "
            f"({kr.objective.cycle.start} to {kr.objective.cycle.end})",
        )
    if at > now + CLOCK_SKEW:
        raise ValidationFailed.on("at", "must not be in the future")
    if kr.kind == KRKind.MILESTONE:
        steps = kr.steps or []
        if steps_done is not None:
            if not steps:
                raise ValidationFailed.on(
                    "steps_done", "this milestone has no steps; send value 1 for done"
                )
            bad = [i for i in steps_done if not isinstance(i, int) or not 0 <= i < len(steps)]
            if bad or len(set(steps_done)) != len(steps_done):
                raise ValidationFailed.on(
                    "steps_done", f"must be distinct step numbers from 0 to {len(steps) - 1}"
                )
            steps_done = sorted(steps_done)
            value = float(len(steps_done))
        value = _number("value", value)
        if not (0 <= value <= kr.target) or value != int(value):
            raise ValidationFailed.on(
                "value", f"must be a whole number of steps from 0 to {int(kr.target)}"
            )
    else:
        if steps_done is not None:
            raise ValidationFailed.on("steps_done", "only milestone key results have steps")
        value = _number("value", value)
    _check_unit("blocking_unit", org, blocking_unit)
    checkin = CheckIn.objects.create(
        organisation=org,
        key_result=kr,
        at=at,
        value=value,
        steps_done=steps_done,
        confidence=confidence,
        note=note.strip(),
        blockers=blockers.strip(),
        blocking_unit=blocking_unit,
        author=actor,
        source=source,
    )
    before = {"current_value": kr.current_value, "last_checkin_at": kr.last_checkin_at}
    _add_to_sums(kr, at, value)
    if kr.last_checkin_at is None or at >= kr.last_checkin_at:
        kr.current_value, kr.last_checkin_at, kr.last_confidence = value, at, confidence
    # The KR's stored numbers ride on the UPDATE below; then its objective and their
    # ancestors are re-rolled, before the event so its listeners see them.
    numbers_moved = _kr_numbers_set(kr, org, now)
    kr.save(
        update_fields=[
            "current_value",
            "last_checkin_at",
            "last_confidence",
            "updated_at",
            *SUM_FIELDS,
            *(NUMBER_FIELDS if numbers_moved else []),
        ]
    )
    numbers_refresh(organisation=org, objective_ids=[kr.objective_id], now=now)
    event_record(
        organisation=org,
        actor=actor,
        verb="checkin.recorded",
        obj=kr,
        at=now,
        before=before,  # the event's JSON encoder writes the datetimes
        after={
            "current_value": kr.current_value,
            "last_checkin_at": kr.last_checkin_at,
            "checkin_id": checkin.pk,
            "value": value,
            "confidence": confidence,
        },
    )
    key_result.current_value, key_result.last_checkin_at = kr.current_value, kr.last_checkin_at
    key_result.last_confidence, key_result.checkin_count = kr.last_confidence, kr.checkin_count
    key_result.progress, key_result.status = kr.progress, kr.status
    key_result.numbers_at = kr.numbers_at
    return checkin


SUM_FIELDS = ["checkin_count", "sum_t", "sum_v", "sum_tt", "sum_tv"]


def _sums_of(kr: KeyResult) -> CheckInSums:
    return CheckInSums(kr.checkin_count, kr.sum_t, kr.sum_v, kr.sum_tt, kr.sum_tv)


def _add_to_sums(kr: KeyResult, at: dt.datetime, value: float) -> None:
    t = days_since(at, kr.objective.cycle.start, org_tz(kr.organisation))
    sums = sums_add(_sums_of(kr), t, value)
    kr.checkin_count, kr.sum_t, kr.sum_v, kr.sum_tt, kr.sum_tv = (
        sums.n,
        sums.st,
        sums.sv,
        sums.stt,
        sums.stv,
    )


def key_result_sums_rebuild(kr: KeyResult) -> None:
    """Recompute a KR's running sums from its check-ins (after its cycle's start moved)."""
    kr.checkin_count, kr.sum_t, kr.sum_v, kr.sum_tt, kr.sum_tv = 0, 0.0, 0.0, 0.0, 0.0
    for at, value in kr.checkins.values_list("at", "value"):
        _add_to_sums(kr, at, value)
    kr.save(update_fields=SUM_FIELDS)


# ---- initiatives ----------------------------------------------------------------------


def _check_initiative(organisation: Organisation, data: dict[str, Any]) -> None:
    _text("title", data["title"])
    if data["state"] not in Initiative.State.values:
        raise ValidationFailed.on("state", f"must be one of {', '.join(Initiative.State.values)}")
    if data["owner_unit"] is None:
        raise ValidationFailed.on("owner_unit", "is required")
    _check_unit("owner_unit", organisation, data["owner_unit"])
    _same_org("assignee", organisation, data["assignee"])
    for kr in data["key_results"]:
        _same_org("key_results", organisation, kr)


def _initiative_snapshot(initiative: Initiative) -> dict[str, Any]:
    return {
        **snapshot(initiative),
        "key_results": sorted(initiative.key_results.values_list("key", flat=True)),
    }


@transaction.atomic
def initiative_create(
    *,
    organisation: Organisation,
    actor: Person | None,
    title: str,
    owner_unit: Unit | None,
    key_results: Iterable[KeyResult] = (),
    assignee: Person | None = None,
    state: str = Initiative.State.PLANNED,
    due: dt.date | None = None,
    description: str = "",
) -> Initiative:
    """Create an initiative that drives the given KRs."""
    require_leader(actor, [owner_unit], "create this initiative")
    driven = list(key_results)
    data = {
        "title": title,
        "owner_unit": owner_unit,
        "assignee": assignee,
        "state": state,
        "key_results": driven,
    }
    _check_initiative(organisation, data)
    assert owner_unit is not None  # _check_initiative refuses an initiative without one
    initiative = Initiative.objects.create(
        organisation=organisation,
        title=title.strip(),
        owner_unit=owner_unit,
        assignee=assignee,
        state=state,
        due=due,
        description=description,
    )
    initiative.key_results.set(driven)
    event_record(
        organisation=organisation,
        actor=actor,
        verb="initiative.created",
        obj=initiative,
        after=_initiative_snapshot(initiative),
    )
    return initiative


@transaction.atomic
def initiative_update(
    *,
    initiative: Initiative,
    actor: Person | None,
    key_results: Iterable[KeyResult] | None = None,
    **changes: Any,
) -> Initiative:
    """Edit an initiative; `key_results`, when given, replaces the linked KRs."""
    _require_initiative_leader(actor, initiative, changes.get("owner_unit"))
    allowed = {"title", "owner_unit", "assignee", "state", "due", "description"}
    for field in changes:
        if field not in allowed:
            raise ValidationFailed.on(field, "cannot be changed")
    data = {
        f: changes.get(f, getattr(initiative, f))
        for f in ("title", "owner_unit", "assignee", "state")
    }
    data["key_results"] = list(key_results) if key_results is not None else []
    _check_initiative(initiative.organisation, data)
    before = _initiative_snapshot(initiative)
    for field, value in changes.items():
        setattr(initiative, field, value)
    initiative.save()
    if key_results is not None:
        initiative.key_results.set(data["key_results"])
    event_record(
        organisation=initiative.organisation,
        actor=actor,
        verb="initiative.updated",
        obj=initiative,
        before=before,
        after=_initiative_snapshot(initiative),
    )
    return initiative


@transaction.atomic
def initiative_archive(*, initiative: Initiative, actor: Person | None) -> Initiative:
    """Archive an initiative."""
    _require_initiative_leader(actor, initiative)
    return _archive(initiative, actor, "initiative.archived", _initiative_snapshot)


# ---- KPIs -----------------------------------------------------------------------------


def _check_kpi(organisation: Organisation, data: dict[str, Any]) -> None:
    _text("name", data["name"])
    lo, hi = data["healthy_min"], data["healthy_max"]
    if lo is not None:
        _number("healthy_min", lo)
    if hi is not None:
        _number("healthy_max", hi)
    if lo is not None and hi is not None and lo > hi:
        raise ValidationFailed.on("healthy_max", "must not be below healthy_min")
    for unit in data["owner_units"]:
        _check_unit("owner_units", organisation, unit)


def _kpi_snapshot(kpi: KPI) -> dict[str, Any]:
    return {**snapshot(kpi), "owner_units": sorted(kpi.owner_units.values_list("key", flat=True))}


@transaction.atomic
def kpi_create(
    *,
    organisation: Organisation,
    actor: Person | None,
    name: str,
    measure: str = "",
    healthy_min: float | None = None,
    healthy_max: float | None = None,
    owner_units: Sequence[Unit] = (),
    key: str | None = None,
) -> KPI:
    """Create a KPI, owned jointly by the given units."""
    require_leader(actor, owner_units, "define this KPI")
    owners = list(owner_units)
    data = {
        "name": name,
        "healthy_min": healthy_min,
        "healthy_max": healthy_max,
        "owner_units": owners,
    }
    _check_kpi(organisation, data)
    kpi = KPI.objects.create(
        organisation=organisation,
        key=_key(KPI, organisation, key, name),
        name=name.strip(),
        measure=measure,
        healthy_min=healthy_min,
        healthy_max=healthy_max,
    )
    kpi.owner_units.set(owners)
    event_record(
        organisation=organisation,
        actor=actor,
        verb="kpi.created",
        obj=kpi,
        after=_kpi_snapshot(kpi),
    )
    return kpi


@transaction.atomic
def kpi_update(
    *, kpi: KPI, actor: Person | None, owner_units: Sequence[Unit] | None = None, **changes: Any
) -> KPI:
    """Edit a KPI; `owner_units`, when given, replaces the owners."""
    require_leader(actor, kpi.owner_units.all(), "change this KPI")
    if owner_units is not None:
        require_leader(actor, owner_units, "give it this KPI")
    allowed = {"name", "measure", "healthy_min", "healthy_max", "key"}
    for field in changes:
        if field not in allowed:
            raise ValidationFailed.on(field, "cannot be changed")
    data = {f: changes.get(f, getattr(kpi, f)) for f in ("name", "healthy_min", "healthy_max")}
    data["owner_units"] = list(owner_units) if owner_units is not None else []
    _check_kpi(kpi.organisation, data)
    if "key" in changes:
        _key(KPI, kpi.organisation, changes["key"], "", kpi.pk)
    before = _kpi_snapshot(kpi)
    for field, value in changes.items():
        setattr(kpi, field, value)
    kpi.save()
    if owner_units is not None:
        kpi.owner_units.set(data["owner_units"])
    event_record(
        organisation=kpi.organisation,
        actor=actor,
        verb="kpi.updated",
        obj=kpi,
        before=before,
        after=_kpi_snapshot(kpi),
    )
    return kpi


@transaction.atomic
def kpi_archive(*, kpi: KPI, actor: Person | None) -> KPI:
    """Archive a KPI; its data points stay."""
    require_leader(actor, kpi.owner_units.all(), "archive this KPI")
    return _archive(kpi, actor, "kpi.archived", _kpi_snapshot)


@transaction.atomic
def kpi_point_record(
    *, kpi: KPI, actor: Person | None, value: float, at: dt.datetime | None = None
) -> KPIDataPoint:
    """Add a data point; every KR following the KPI whose cycle holds it takes the value."""
    require_worker(actor, kpi.owner_units.all(), "record this KPI's values")
    value = _number("value", value)
    now = timezone.now()
    at = at or now
    if at > now + CLOCK_SKEW:
        raise ValidationFailed.on("at", "must not be in the future")
    point = KPIDataPoint.objects.create(kpi=kpi, at=at, value=value)
    event_record(
        organisation=kpi.organisation,
        actor=actor,
        verb="kpi.point_recorded",
        obj=kpi,
        after={"at": at.isoformat(), "value": value},
    )
    tz = org_tz(kpi.organisation)
    followers = kpi.key_results.filter(archived_at__isnull=True).select_related("objective__cycle")
    for kr in followers:
        start, end = cycle_window(kr.objective.cycle, tz)
        if start <= at < end and kr.objective.state != Objective.State.CLOSED:
            checkin_record(
                key_result=kr,
                actor=actor,
                value=value,
                confidence=kr.last_confidence or 5,
                note=f"From KPI {kpi.name}",
                at=at,
                source=CheckIn.Source.KPI,
            )
    return point


# ---- stored numbers -------------------------------------------------------------------
#
# Key results and objectives store their progress and status (docs/numbers.md, "Stored
# numbers") so a dashboard reads rows instead of rolling up the whole tree per request;
# an objective also stores how many of its own live KRs stand at each status. Status moves
# with the clock, so a stored status is the one computed at the row's last refresh
# (`numbers_at`). Every write that moves a KR's numbers recomputes that KR and re-rolls its
# objective and every ancestor through the contribution links; the full refresh
# (alignment.services.findings_refresh_full) recomputes everything as of its run.

NUMBER_FIELDS = ["progress", "status", "numbers_at"]
# The KR fields whose change moves its progress, status or weight in the roll-up.
NUMBER_INPUTS = frozenset({"kind", "start", "target", "steps", "weight", "due"})
# Rows per UPDATE statement: at most 7 parameters a row, far below SQLite's 32,766.
NUMBERS_BATCH = 4000
# An incremental refresh that has to pull in more objectives than this (a store the bulk
# path left empty) runs the full refresh instead.
CHAIN_MAX = 2000

# (progress, status) of a KR; (progress, status, KRs not started, on track, at risk, off
# track, done) of an objective.
KRStored = tuple[float, str]
ObjectiveStored = tuple[float, str, int, int, int, int, int]

_SQL_TYPES = {"progress": "double precision", "status": "varchar(12)"}


def _numbers_write(
    model: type[KeyResult] | type[Objective],
    rows: dict[int, KRStored] | dict[int, ObjectiveStored],
    now: dt.datetime,
) -> int:
    """Store the numbers by id, stamped `now`, in batched UPDATE … FROM (VALUES …).

    Linear in the rows written on SQLite (3.33+) and PostgreSQL alike, where bulk_update's
    CASE per row is quadratic per batch (minutes for the first refresh of 350,000 KRs).
    """
    if not rows:
        return 0
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    columns = ["progress", "status", *(KR_COUNT_FIELDS if model is Objective else [])]
    cast = ", ".join(f"CAST(%s AS {_SQL_TYPES.get(c, 'integer')})" for c in columns)
    row = f"(CAST(%s AS bigint), {cast})"
    sets = ", ".join(f"{q(c)} = v.{c}" for c in columns)
    stamp = connection.ops.adapt_datetimefield_value(now)
    items = list(rows.items())
    with connection.cursor() as cursor:
        for at in range(0, len(items), NUMBERS_BATCH):
            batch = items[at : at + NUMBERS_BATCH]
            cursor.execute(
                f"WITH v(id, {', '.join(columns)}) AS (VALUES {', '.join([row] * len(batch))}) "
                f"UPDATE {table} SET {sets}, {q('numbers_at')} = %s "
                f"FROM v WHERE {table}.{q('id')} = v.id",
                [*(x for pk, values in batch for x in (pk, *values)), stamp],
            )
    return len(items)


def _kr_numbers_set(
    kr: KeyResult, organisation: Organisation, now: dt.datetime, *, tz: dt.tzinfo | None = None
) -> bool:
    """Put the KR's progress and status as of `now` on the instance; True when they moved.

    The caller saves the row, so a check-in folds them into the UPDATE it makes anyway.
    """
    progress, _, status = kr_pace(
        kind=kr.kind,
        start=kr.start,
        target=kr.target,
        current_value=kr.current_value,
        checkin_count=kr.checkin_count,
        cycle_start=kr.objective.cycle.start,
        due=kr_due(kr),
        tz=tz or org_tz(organisation),
        margins=margins_of(organisation),
        at=now,
    )
    if kr.progress == progress and kr.status == status.value:
        return False
    kr.progress, kr.status, kr.numbers_at = progress, status.value, now
    return True


def _krs_recompute(
    organisation: Organisation, krs: Iterable[KeyResult], now: dt.datetime
) -> dict[int, KRStored]:
    """Recompute and store the given KRs (objective and cycle loaded); their new numbers."""
    tz = org_tz(organisation)
    out: dict[int, KRStored] = {}
    moved: dict[int, KRStored] = {}
    for kr in krs:
        changed = _kr_numbers_set(kr, organisation, now, tz=tz)
        assert kr.progress is not None and kr.status is not None
        out[kr.pk] = (kr.progress, kr.status)
        if changed:
            moved[kr.pk] = out[kr.pk]
    _numbers_write(KeyResult, moved, now)
    return out


def _objectives_numbers(
    objectives: Iterable[int],
    krs: list[KRScore],
    links: list[Link],
    feeders: Iterable[KRScore] = (),
) -> dict[int, ObjectiveStored]:
    """Roll-up (core.rollup) and own-KR status counts of the objectives; `feeders` are
    items that weigh in the roll-up like a KR but are not counted as one."""
    ids = list(objectives)
    rolled = roll_up(ids, [*krs, *feeders], links)
    counts: dict[int, list[int]] = {oid: [0] * len(KR_COUNTED) for oid in ids}
    for kr in krs:
        own = counts.get(int(str(kr.objective)))
        if own is not None and kr.status in KR_COUNTED:
            own[KR_COUNTED.index(kr.status)] += 1
    return {
        oid: (rolled[oid].progress, rolled[oid].status.value, *counts[oid])  # type: ignore[misc]
        for oid in ids
    }


def _objectives_store(
    numbers: dict[int, ObjectiveStored], stored: dict[int, tuple[Any, ...]], now: dt.datetime
) -> int:
    """Write the objectives whose numbers differ from what is stored; how many."""
    return _numbers_write(
        Objective, {oid: n for oid, n in numbers.items() if stored.get(oid) != n}, now
    )


@dataclasses.dataclass
class _Chain:
    """What re-rolling a chain of objectives reads (see _chain_read)."""

    # Its objectives' stored numbers, and the links between them.
    stored: dict[int, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    links: list[Link] = dataclasses.field(default_factory=list)
    # Objectives off the chain feeding one on it, summed by parent and status:
    # (parent, status, Σ link weight, Σ link weight x progress).
    feeders: list[tuple[int, str, float, float]] = dataclasses.field(default_factory=list)
    # Feeders without stored numbers yet.
    empty: set[int] = dataclasses.field(default_factory=set)
    # Live KRs of its objectives: (objective, KR, progress, status, weight).
    krs: list[tuple[int, int, float | None, str | None, float]] = dataclasses.field(
        default_factory=list
    )


def _chain_read(objective_ids: Collection[int]) -> _Chain:
    """The objectives and all their ancestors with their stored numbers, and what feeds them.

    One statement: a recursive walk up the contribution links (UNION, so a diamond is
    visited once), then rows tagged "o" (an objective walked), "l" (a link between two of
    them), "f" (the feeders off the chain of one of them, summed by status: a company
    objective fed by thousands of objectives costs five rows, not thousands) and "k" (a
    live KR of one of them). Feeders without numbers (status NULL) take a second query,
    which only rows of the bulk path not yet refreshed need.
    """
    q = connection.ops.quote_name
    obj, link, kr = (q(m._meta.db_table) for m in (Objective, ContributionLink, KeyResult))
    counts = ", ".join(f"o.{c}" for c in KR_COUNT_FIELDS)
    no_counts = ", ".join(["NULL"] * len(KR_COUNT_FIELDS))
    walk = f"""
        WITH RECURSIVE chain(id) AS (
            SELECT id FROM {obj} WHERE id IN ({", ".join(["%s"] * len(objective_ids))})
            UNION
            SELECT l.parent_id FROM {link} l JOIN chain c ON l.child_id = c.id
        )"""
    # A feeder counts as without numbers unless it has both.
    status = "CASE WHEN c.progress IS NULL THEN NULL ELSE c.status END"
    feeders = (
        f"FROM chain JOIN {link} l ON l.parent_id = chain.id "
        f"JOIN {obj} c ON c.id = l.child_id WHERE l.child_id NOT IN (SELECT id FROM chain)"
    )
    sql = f"""{walk}
        SELECT 'o', o.id, o.id, o.progress, o.status, CAST(1 AS double precision), {counts}
            FROM chain JOIN {obj} o ON o.id = chain.id
        UNION ALL
        SELECT 'l', l.parent_id, l.child_id, NULL, NULL, l.weight, {no_counts}
            FROM chain JOIN {link} l ON l.parent_id = chain.id
            WHERE l.child_id IN (SELECT id FROM chain)
        UNION ALL
        SELECT 'f', l.parent_id, NULL, SUM(l.weight * c.progress), {status}, SUM(l.weight),
               {no_counts}
            {feeders}
            GROUP BY l.parent_id, {status}
        UNION ALL
        SELECT 'k', k.objective_id, k.id, k.progress, k.status, k.weight, {no_counts}
            FROM chain JOIN {kr} k ON k.objective_id = chain.id
            WHERE k.archived_at IS NULL
    """
    chain = _Chain()
    unfinished = False
    with connection.cursor() as cursor:
        cursor.execute(sql, list(objective_ids))
        for tag, owner, item, progress, kind, weight, *kr_counts in cursor.fetchall():
            if tag == "o":
                chain.stored[owner] = (progress, kind, *kr_counts)
            elif tag == "l":
                chain.links.append(Link(item, owner, weight))
            elif tag == "f" and kind is None:
                unfinished = True
            elif tag == "f":
                chain.feeders.append((owner, kind, weight, progress))
            else:
                chain.krs.append((owner, item, progress, kind, weight))
        if unfinished:
            cursor.execute(
                f"{walk} SELECT l.child_id {feeders} AND {status} IS NULL", list(objective_ids)
            )
            chain.empty = {child for (child,) in cursor.fetchall()}
    return chain


def numbers_refresh(
    *, organisation: Organisation, objective_ids: Collection[int], now: dt.datetime | None = None
) -> None:
    """Re-roll the stored numbers of these objectives and of all their ancestors.

    Each objective on the chain is rolled up (core.rollup) from the stored numbers of its
    own live KRs and of the objectives feeding it; a feeder off the chain counts with its
    stored numbers, as it did in the live roll-up when they were computed. One read and at
    most one write, whatever the depth of the chain or the size of the organisation.
    Call it after the KRs that changed have stored their own numbers (`_kr_numbers_set`).
    Rows written by the bulk path carry no numbers until the full refresh: those met on
    the way are computed here (a KR from its row, a feeder by joining the chain), never
    counted as zero; if that would pull in more than CHAIN_MAX objectives, the full
    refresh runs instead.
    """
    seeds = set(objective_ids)
    if not seeds:
        return
    now = now or timezone.now()
    chain = _chain_read(seeds)
    while chain.empty:
        seeds |= chain.empty
        if len(seeds) > CHAIN_MAX:
            numbers_refresh_full(organisation, now=now)
            return
        chain = _chain_read(seeds)

    missing = [kr_id for _, kr_id, p, s, _ in chain.krs if p is None or s is None]
    fresh = (
        _krs_recompute(
            organisation,
            KeyResult.objects.filter(pk__in=missing).select_related("objective__cycle"),
            now,
        )
        if missing
        else {}
    )
    scores = []
    for objective, kr_id, progress, status, weight in chain.krs:
        p, s = fresh.get(kr_id) or (progress, status)
        assert p is not None and s is not None
        scores.append(KRScore(objective, weight, p, Status(s)))
    # The feeders of one status enter as one item of their summed weight and weighted mean
    # progress: the same weighted mean and the same worst status for core.rollup.
    feeders = [
        KRScore(parent, weight, weighted / weight, Status(status))
        for parent, status, weight, weighted in chain.feeders
    ]
    numbers = _objectives_numbers(chain.stored, scores, chain.links, feeders)
    _objectives_store(numbers, chain.stored, now)


def numbers_refresh_full(organisation: Organisation, *, now: dt.datetime | None = None) -> int:
    """Recompute every stored progress, status and KR count of the organisation as of `now`.

    Reads three column lists (live KRs, objectives, links), never model rows; rolls up in
    memory (core.rollup, linear in objectives + KRs + links); then, in one short
    transaction, writes only the rows whose numbers changed, in batched UPDATEs. A row
    that a write refreshed after the read began keeps its fresher numbers. Returns the
    number of rows written.
    """
    began = timezone.now()
    now = now or began
    tz, margins = org_tz(organisation), margins_of(organisation)
    kr_rows = KeyResult.objects.filter(organisation=organisation, archived_at__isnull=True)
    scores: list[KRScore] = []
    krs_moved: dict[int, KRStored] = {}
    for (
        pk,
        objective_id,
        kind,
        start,
        target,
        current_value,
        checkin_count,
        due,
        cycle_start,
        cycle_end,
        weight,
        stored_progress,
        stored_status,
    ) in kr_rows.values_list(
        "pk",
        "objective_id",
        "kind",
        "start",
        "target",
        "current_value",
        "checkin_count",
        "due",
        "objective__cycle__start",
        "objective__cycle__end",
        "weight",
        "progress",
        "status",
    ).iterator(chunk_size=10_000):
        progress, _, status = kr_pace(
            kind=kind,
            start=start,
            target=target,
            current_value=current_value,
            checkin_count=checkin_count,
            cycle_start=cycle_start,
            due=due or cycle_end,
            tz=tz,
            margins=margins,
            at=now,
        )
        scores.append(KRScore(objective_id, weight, progress, status))
        if (stored_progress, stored_status) != (progress, status.value):
            krs_moved[pk] = (progress, status.value)
    stored = {
        pk: tuple(rest)
        for pk, *rest in Objective.objects.filter(organisation=organisation).values_list(
            "pk", "progress", "status", *KR_COUNT_FIELDS
        )
    }
    links = [
        Link(c, p, w)
        for c, p, w in ContributionLink.objects.filter(
            child__organisation=organisation
        ).values_list("child_id", "parent_id", "weight")
    ]
    numbers = _objectives_numbers(stored, scores, links)

    with transaction.atomic():
        # Check-ins and edits since the read stored fresher numbers than this run has.
        touched_krs = set(
            KeyResult.objects.filter(organisation=organisation)
            .filter(Q(updated_at__gte=began) | Q(numbers_at__gte=began))
            .values_list("pk", flat=True)
        )
        touched_objectives = set(
            Objective.objects.filter(organisation=organisation, numbers_at__gte=began).values_list(
                "pk", flat=True
            )
        )
        written = _numbers_write(
            KeyResult, {pk: n for pk, n in krs_moved.items() if pk not in touched_krs}, now
        ) + _objectives_store(
            {oid: n for oid, n in numbers.items() if oid not in touched_objectives}, stored, now
        )
        Organisation.objects.filter(pk=organisation.pk).update(numbers_refreshed_at=now)
        organisation.numbers_refreshed_at = now
    return written
