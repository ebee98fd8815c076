"""Writes for organisations, units, people and memberships. Each records one event."""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from lockstep.activity.services import event_record, snapshot
from lockstep.errors import Conflict, ValidationFailed
from lockstep.keys import is_valid_key, unique_key
from lockstep.org.access import require_org_admin
from lockstep.org.models import Membership, Organisation, Person, Unit


def _require_admin(actor: Person | None) -> None:
    # None is the system itself (plan apply, the demo, imports); a person must be an admin.
    # The rule sits here, not in the pages or the API, so every way in passes through it.
    if actor is not None:
        require_org_admin(actor)


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

# The range each threshold may take (the API's schema says the same), as (low, high, whole).
THRESHOLD_RANGES: dict[str, tuple[float, float, bool]] = {
    "answer_window_days": (1, 365, True),
    "max_objectives_per_unit": (1, 1000, True),
    "max_krs_per_objective": (1, 1000, True),
    "low_confidence": (1, 10, True),
    "single_point_min_units": (2, 1000, True),
}


def _check_thresholds(changes: dict[str, Any]) -> None:
    for name, (low, high, whole) in THRESHOLD_RANGES.items():
        if name not in changes:
            continue
        value = changes[name]
        if whole and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValidationFailed.on(name, "must be a whole number")
        if not low <= value <= high:
            raise ValidationFailed.on(name, f"must be from {low} to {high}")
    if "task_share" in changes and not 0 < changes["task_share"] < 1:
        raise ValidationFailed.on("task_share", "must be more than 0 and less than 1")
    for name in ("on_track_margin", "at_risk_margin"):
        if name in changes and not 0 <= changes[name] <= 1:
            raise ValidationFailed.on(name, "must be from 0 to 1")


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
        if parent.archived_at is not None:
            raise ValidationFailed.on("parent", f"{parent.name} is archived")
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
    """Change the organisation's name, time zone, pace margins or engine thresholds."""
    _require_admin(actor)
    before = snapshot(organisation)
    allowed = {"name", "timezone", "on_track_margin", "at_risk_margin", *THRESHOLD_FIELDS}
    for field in changes:
        if field not in allowed:
            raise ValidationFailed.on(field, "cannot be changed")
    if "name" in changes and not str(changes["name"]).strip():
        raise ValidationFailed.on("name", "must not be empty")
    if "timezone" in changes:
        _check_timezone(changes["timezone"])
    _check_thresholds(changes)
    # Checked before any field is set, so a refused change leaves the object as it was.
    on_track = changes.get("on_track_margin", organisation.on_track_margin)
    at_risk = changes.get("at_risk_margin", organisation.at_risk_margin)
    if on_track > at_risk:  # each lies in [0, 1] already (_check_thresholds)
        raise ValidationFailed.on("at_risk_margin", "must not be less than the on-track margin")
    for field, value in changes.items():
        setattr(organisation, field, value)
    organisation.save()
    if any(
        changes.get(f, before.get(f)) != before.get(f)
        for f in ("timezone", "on_track_margin", "at_risk_margin")
    ):
        # Stored KR and objective statuses were computed with the old margins and day
        # boundaries; recompute them now rather than leave the stored and live numbers apart.
        from lockstep.goals.services import numbers_refresh_full

        numbers_refresh_full(organisation)
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
    _require_admin(actor)
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
    _require_admin(actor)
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
    _require_admin(actor)
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
    username: str | None = None,
    password: str | None = None,
) -> Person:
    """Add a person, with their memberships and, given a username and password, a sign-in."""
    _require_admin(actor)
    data: dict[str, Any] = {"name": name, "email": email, "is_org_admin": is_org_admin}
    _check_person_fields(organisation, None, data)
    if username is not None or password is not None:
        _check_account(None, username, password, data)
    person = Person.objects.create(organisation=organisation, **data)
    for unit, role in memberships:
        _membership_put(person, unit, role)
    if username is not None and password is not None:
        _account_put(person, username, password)
    event_record(
        organisation=organisation,
        actor=actor,
        verb="person.created",
        obj=person,
        after=_person_record(person),
    )
    return person


@transaction.atomic
def person_update(
    *,
    person: Person,
    actor: Person | None,
    memberships: list[tuple[Unit, str]] | None = None,
    username: str | None = None,
    password: str | None = None,
    **changes: Any,
) -> Person:
    """Change a person's details; `memberships`, when given, replaces them all.

    `username` names (or renames) their sign-in account, `password` sets a new one; a
    person without an account needs both to get one.
    """
    _require_admin(actor)
    unknown = set(changes) - PERSON_FIELDS
    if unknown:
        raise ValidationFailed.on(sorted(unknown)[0], "cannot be changed")
    _check_person_fields(person.organisation, person, changes)
    if actor is not None and actor.pk == person.pk and changes.get("is_org_admin") is False:
        # Nobody locks themselves out of the admin pages by accident: another admin must.
        raise ValidationFailed.on("is_org_admin", "you cannot take away your own admin role")
    if username is not None or password is not None:
        _check_account(person, username, password, {"email": person.email, **changes})
    if memberships is not None:
        for unit, role in memberships:
            _check_membership(person.organisation, unit, role)
    before = _person_record(person)
    for field, value in changes.items():
        setattr(person, field, value)
    person.save()
    if memberships is not None:
        person.memberships.all().delete()
        for unit, role in memberships:
            _membership_put(person, unit, role)
    if username is not None or password is not None:
        _account_put(person, username, password)
    if "email" in changes and person.user is not None and person.user.email != person.email:
        # Password-reset mail goes to the account's address: it must follow the person's.
        person.user.email = person.email
        person.user.save(update_fields=["email"])
    after = _person_record(person)
    if password is not None:
        after["password"] = "changed"  # that it changed, never what to
    event_record(
        organisation=person.organisation,
        actor=actor,
        verb="person.updated",
        obj=person,
        before=before,
        after=after,
    )
    return person


@transaction.atomic
def person_archive(*, person: Person, actor: Person | None) -> Person:
    """Archive a person: they stay in the history but leave every unit."""
    _require_admin(actor)
    if actor is not None and actor.pk == person.pk:
        raise Conflict("you cannot archive yourself; ask another admin")
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


def _check_membership(organisation: Organisation, unit: Unit, role: str) -> None:
    if unit.organisation_id != organisation.pk:
        raise ValidationFailed.on("memberships", "unknown unit")
    if unit.archived_at is not None:
        raise ValidationFailed.on("memberships", f"{unit.name} is archived")
    if role not in Membership.Role.values:
        raise ValidationFailed.on("memberships", "role must be 'leader', 'member' or 'viewer'")


def _membership_put(person: Person, unit: Unit, role: str) -> None:
    _check_membership(person.organisation, unit, role)
    Membership.objects.update_or_create(person=person, unit=unit, defaults={"role": role})


def _check_account(
    person: Person | None, username: str | None, password: str | None, data: dict[str, Any]
) -> None:
    """A sign-in account's username and password, as Django's own validators see them."""
    user_model = get_user_model()
    account = person.user if person is not None else None
    if account is None and (not username or not password):
        missing = "username" if not username else "password"
        raise ValidationFailed.on(missing, "a new sign-in account needs a username and a password")
    if username is not None:
        if not username.strip():
            raise ValidationFailed.on("username", "must not be empty")
        try:
            UnicodeUsernameValidator()(username)
        except DjangoValidationError:
            raise ValidationFailed.on(
                "username", "use letters, digits and @ . + - _ only"
            ) from None
        if len(username) > 150:
            raise ValidationFailed.on("username", "must be at most 150 characters")
        taken = user_model.objects.filter(username__iexact=username)
        if account is not None:
            taken = taken.exclude(pk=account.pk)
        if taken.exists():
            raise ValidationFailed.on("username", f"{username!r} is already used")
    if password is not None:
        # The similarity check compares with the account's username, e-mail and name.
        probe = user_model(
            username=username or (account.get_username() if account else ""),
            email=data.get("email", ""),
            first_name=str(data.get("name", "")),
        )
        try:
            password_validation.validate_password(password, user=probe)
        except DjangoValidationError as exc:
            raise ValidationFailed.on("password", " ".join(exc.messages)) from None


def _account_put(person: Person, username: str | None, password: str | None) -> None:
    user = person.user
    if user is None:
        assert username is not None and password is not None  # _check_account saw to it
        person.user = get_user_model().objects.create_user(username, person.email, password)
        person.save(update_fields=["user", "updated_at"])
        return
    if username is not None:
        user.username = username
    if password is not None:
        user.set_password(password)
    user.save()


def _person_record(person: Person) -> dict[str, Any]:
    """What a person's events keep: their fields, units and username (never a password)."""
    return {
        **snapshot(person),
        "memberships": _membership_list(person),
        "username": person.user.get_username() if person.user is not None else None,
    }


def _membership_list(person: Person) -> list[list[str]]:
    return sorted([m.unit.key, m.role] for m in person.memberships.select_related("unit"))
