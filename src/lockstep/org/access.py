"""Permission-checked fetches: one place that turns an id into an object the caller may see."""

from __future__ import annotations

from typing import TypeVar

from django.db import models
from django.http import HttpRequest

from lockstep.errors import Forbidden, NotFound, ValidationFailed
from lockstep.org.models import Organisation, Person, Unit

M = TypeVar("M", bound=models.Model)


class NoPerson(Forbidden):
    """The account is signed in but belongs to no organisation."""


ADMIN_ONLY = "only an organisation admin can manage people, units and settings"


class NotAdmin(Forbidden):
    """The person is not an organisation admin."""


def require_org_admin(person: Person) -> Person:
    """The person, if they may manage the organisation's people, units and settings."""
    if not person.is_org_admin:
        raise NotAdmin(ADMIN_ONLY)
    return person


def current_person(request: HttpRequest) -> Person:
    """The signed-in user's person record; every request acts within its organisation."""
    person: Person | None = (
        getattr(request.user, "person", None) if request.user.is_authenticated else None
    )
    if person is None or person.archived_at is not None:
        raise NoPerson("this account belongs to no organisation")
    return person


def access_in_org(model: type[M], organisation: Organisation, pk: int) -> M:
    """Fetch a row of the organisation by id, or 404 (never reveal other tenants' rows)."""
    try:
        return model._default_manager.get(organisation=organisation, pk=pk)
    except model.DoesNotExist:  # type: ignore[attr-defined]  # django-stubs hides it on type[Model]
        raise NotFound(f"{model._meta.verbose_name} {pk} not found") from None


def resolve_in_org(
    model: type[M], organisation: Organisation, pk: int | None, field: str
) -> M | None:
    """Turn an id given in a request body into an object, naming the field if unknown."""
    if pk is None:
        return None
    try:
        return model._default_manager.get(organisation=organisation, pk=pk)
    except model.DoesNotExist:  # type: ignore[attr-defined]  # django-stubs hides it on type[Model]
        raise ValidationFailed.on(field, f"unknown {model._meta.verbose_name} {pk}") from None


def resolve_many_in_org(
    model: type[M], organisation: Organisation, pks: list[int], field: str
) -> list[M]:
    """Like resolve_in_org for a list of ids, keeping their order."""
    found = {o.pk: o for o in model._default_manager.filter(organisation=organisation, pk__in=pks)}
    missing = [pk for pk in pks if pk not in found]
    if missing:
        raise ValidationFailed.on(field, f"unknown {model._meta.verbose_name} {missing[0]}")
    return [found[pk] for pk in pks]


def access_unit(person: Person, pk: int) -> Unit:
    return access_in_org(Unit, person.organisation, pk)


def access_person(person: Person, pk: int) -> Person:
    return access_in_org(Person, person.organisation, pk)
