"""Writes for organisations, units, people and memberships. Each records one event."""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from lockstep.activity.services import event_record, snapshot
from lockstep.errors import Conflict, ValidationFailed
from lockstep.keys import is_valid_key, unique_key
from lockstep.org.models import Membership, Organisation, Person, Unit


def _check_timezone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed.on("timezone", f"unknown time zone {name!r}") from None


# Alignment-engine thresholds an organisation may tune (docs/alignment.md).
THRESHOLD_FIELDS = {
    "answer_window_days",
    "max_objectives_per_unit",
    "max_krs_per_objective",
    "low_confidence",
    "single_point_min_units",
    "task_share",
}

UNIT_FIELDS = {"name", "key", "kind", "parent", "weekly_capacity", "capacity_unit"}
PERSON_FIELDS = {"name", "email", "is_org_admin"}


def _check_key(model: type[Unit], organisation: Organisation, key: str, pk: int | None) -> None:
    if not is_valid_key(key):
        raise ValidationFailed.on("key", "use lower-case letters, digits, '-' or '_'")
    taken = model.objects.filter(organisation=organisation, key=key)
    if pk is not None:  # a row being updated may keep its own key
        taken = taken.exclude(pk=pk)
    if taken.exists():
        raise ValidationFailed.on("key", f"{key!r} is already used")


def _check_unit_fields(organisation: Organisation, unit: Unit | None, data: dict[str, Any]) -> None:
    if "name" in data and not str(data["name"]).strip():
        raise ValidationFailed.on("name", "must not be empty")
    if "kind" in data and data["kind"] not in Unit.Kind.values:
        raise ValidationFailed.on("kind", f"must be one of {', '.join(Unit.Kind.values)}")
    if "capacity_unit" in data and data["capacity_unit"] not in Unit.CapacityUnit.values:
        raise ValidationFailed.on("capacity_unit", "must be 'hours' or 'jobs'")
    cap = data.get("weekly_capacity")
    if cap is not None and cap < 0:
        raise ValidationFailed.on("weekly_capacity", "must not be negative")
    parent = data.get("parent")
    if parent is not None:
        if parent.organisation_id != organisation.pk:
            raise ValidationFailed.on("parent", "unknown unit")
        node: Unit | None = parent
        while node is not None and unit is not None:
            if node.pk == unit.pk:
                raise ValidationFailed.on("parent", "a unit cannot sit below itself")
            node = node.parent


@transaction.atomic
def organisation_create(
    *,
    slug: str,
    name: str,
    timezone_name: str = "UTC",
    on_track_margin: float = 0.10,
    at_risk_margin: float = 0.25,
    actor: Person | None = None,
) -> Organisation:
    """Create a tenant."""
    _check_timezone(timezone_name)
    if not is_valid_key(slug):
        raise ValidationFailed.on("slug", "use lower-case letters, digits, '-' or '_'")
    if Organisation.objects.filter(slug=slug).exists():
        raise ValidationFailed.on("slug", f"{slug!r} is already used")
    if not (0 <= on_track_margin <= at_risk_margin <= 1):
        raise ValidationFailed.on(
            "at_risk_margin", "need 0 <= on_track_margin <= at_risk_margin <= 1"
        )
    org = Organisation.objects.create(
        slug=slug,
        name=name,
        timezone=timezone_name,
        on_track_margin=on_track_margin,
        at_risk_margin=at_risk_margin,
    )
    event_record(
        organisation=org, actor=actor, verb="organisation.created", obj=org, after=snapshot(org)
    )
    return org


@transaction.atomic
def organisation_update(
    *, organisation: Organisation, actor: Person | None, **changes: Any
) -> Organisation:
    """Change the organisation's name, time zone or pace margins."""
    before = snapshot(organisation)
    allowed = {"name", "timezone", "on_track_margin", "at_risk_margin", *THRESHOLD_FIELDS}
    for field, value in changes.items():
        if field not in allowed:
            raise ValidationFailed.on(field, "cannot be changed")
        setattr(organisation, field, value)
    if "timezone" in changes:
        _check_timezone(changes["timezone"])
    if not (0 <= organisation.on_track_margin <= organisation.at_risk_margin <= 1):
        raise ValidationFailed.on(
            "at_risk_margin", "need 0 <= on_track_margin <= at_risk_margin <= 1"
        )
    organisation.save()
    event_record(
        organisation=organisation,
        actor=actor,
        verb="organisation.updated",
        obj=organisation,
        before=before,
        after=snapshot(organisation),
    )
    return organisation


@transaction.atomic
def unit_create(
    *,
    organisation: Organisation,
    actor: Person | None,
    name: str,
    key: str | None = None,
    kind: str = Unit.Kind.TEAM,
    parent: Unit | None = None,
    weekly_capacity: float | None = None,
    capacity_unit: str = Unit.CapacityUnit.HOURS,
) -> Unit:
    """Add a unit to the org tree."""
    data = {
        "name": name,
        "kind": kind,
        "parent": parent,
        "weekly_capacity": weekly_capacity,
        "capacity_unit": capacity_unit,
    }
    _check_unit_fields(organisation, None, data)
    key = key or unique_key(Unit, organisation.pk, name)
    _check_key(Unit, organisation, key, None)
    unit = Unit.objects.create(organisation=organisation, key=key, **data)
    event_record(
        organisation=organisation, actor=actor, verb="unit.created", obj=unit, after=snapshot(unit)
    )
    return unit


@transaction.atomic
def unit_update(*, unit: Unit, actor: Person | None, **changes: Any) -> Unit:
    """Rename, re-parent or re-size a unit."""
    unknown = set(changes) - UNIT_FIELDS
    if unknown:
        raise ValidationFailed.on(sorted(unknown)[0], "cannot be changed")
    _check_unit_fields(unit.organisation, unit, changes)
    if "key" in changes:
        _check_key(Unit, unit.organisation, changes["key"], unit.pk)
    before = snapshot(unit)
    for field, value in changes.items():
        setattr(unit, field, value)
    unit.save()
    event_record(
        organisation=unit.organisation,
        actor=actor,
        verb="unit.updated",
        obj=unit,
        before=before,
        after=snapshot(unit),
    )
    return unit


@transaction.atomic
def unit_archive(*, unit: Unit, actor: Person | None) -> Unit:
    """Archive a unit that no longer owns live work; its memberships end. History is kept."""
    if unit.children.filter(archived_at__isnull=True).exists():
        raise Conflict("archive or move the unit's sub-units first")
    # Live goals must keep an accountable unit: hand them over before archiving.
    live = [
        ("objectives it owns", unit.owned_objectives.filter(archived_at__isnull=True)),
        (
            "shared objectives it contributes to",
            unit.shared_objectives.filter(archived_at__isnull=True),
        ),
        ("key results it owns", unit.owned_key_results.filter(archived_at__isnull=True)),
        ("key results it co-owns", unit.co_owned_key_results.filter(archived_at__isnull=True)),
        ("initiatives it owns", unit.initiatives.filter(archived_at__isnull=True)),
    ]
    for what, rows in live:
        if rows.exists():
            raise Conflict(f"the unit still has {what}; move or archive them first")
    before = {**snapshot(unit), "members": _member_list(unit)}
    unit.archived_at = timezone.now()
    unit.save(update_fields=["archived_at", "updated_at"])
    unit.memberships.all().delete()
    event_record(
        organisation=unit.organisation,
        actor=actor,
        verb="unit.archived",
        obj=unit,
        before=before,
        after={**snapshot(unit), "members": []},
    )
    return unit


def _member_list(unit: Unit) -> list[list[str]]:
    return sorted([m.person.email, m.role] for m in unit.memberships.select_related("person"))


def _check_person_fields(
    organisation: Organisation, person: Person | None, data: dict[str, Any]
) -> None:
    if "name" in data and not str(data["name"]).strip():
        raise ValidationFailed.on("name", "must not be empty")
    if "email" in data:
        email = str(data["email"]).strip().lower()
        if "@" not in email or email.startswith("@") or email.endswith("@"):
            raise ValidationFailed.on("email", "is not an e-mail address")
        clash = Person.objects.filter(organisation=organisation, email=email)
        if person is not None:
            clash = clash.exclude(pk=person.pk)
        if clash.exists():
            raise ValidationFailed.on("email", f"{email!r} is already used")
        data["email"] = email


@transaction.atomic
def person_create(
    *,
    organisation: Organisation,
    actor: Person | None,
    name: str,
    email: str,
    is_org_admin: bool = False,
    memberships: Sequence[tuple[Unit, str]] = (),
) -> Person:
    """Add a person, with their memberships."""
    data: dict[str, Any] = {"name": name, "email": email, "is_org_admin": is_org_admin}
    _check_person_fields(organisation, None, data)
    person = Person.objects.create(organisation=organisation, **data)
    for unit, role in memberships:
        _membership_put(person, unit, role)
    event_record(
        organisation=organisation,
        actor=actor,
        verb="person.created",
        obj=person,
        after={**snapshot(person), "memberships": _membership_list(person)},
    )
    return person


@transaction.atomic
def person_update(
    *,
    person: Person,
    actor: Person | None,
    memberships: list[tuple[Unit, str]] | None = None,
    **changes: Any,
) -> Person:
    """Change a person's details; `memberships`, when given, replaces them all."""
    unknown = set(changes) - PERSON_FIELDS
    if unknown:
        raise ValidationFailed.on(sorted(unknown)[0], "cannot be changed")
    _check_person_fields(person.organisation, person, changes)
    before = {**snapshot(person), "memberships": _membership_list(person)}
    for field, value in changes.items():
        setattr(person, field, value)
    person.save()
    if memberships is not None:
        person.memberships.all().delete()
        for unit, role in memberships:
            _membership_put(person, unit, role)
    event_record(
        organisation=person.organisation,
        actor=actor,
        verb="person.updated",
        obj=person,
        before=before,
        after={**snapshot(person), "memberships": _membership_list(person)},
    )
    return person


@transaction.atomic
def person_archive(*, person: Person, actor: Person | None) -> Person:
    """Archive a person: they stay in the history but leave every unit."""
    before = {**snapshot(person), "memberships": _membership_list(person)}
    person.archived_at = timezone.now()
    person.save(update_fields=["archived_at", "updated_at"])
    person.memberships.all().delete()
    event_record(
        organisation=person.organisation,
        actor=actor,
        verb="person.archived",
        obj=person,
        before=before,
        after={**snapshot(person), "memberships": []},
    )
    return person


def _membership_put(person: Person, unit: Unit, role: str) -> None:
    if unit.organisation_id != person.organisation_id:
        raise ValidationFailed.on("memberships", "unknown unit")
    if role not in Membership.Role.values:
        raise ValidationFailed.on("memberships", "role must be 'leader' or 'member'")
    Membership.objects.update_or_create(person=person, unit=unit, defaults={"role": role})


def _membership_list(person: Person) -> list[list[str]]:
    return sorted([m.unit.key, m.role] for m in person.memberships.select_related("unit"))
