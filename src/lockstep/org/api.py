"""API for the organisation, its units and its people (thin: parse, call, render)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from lockstep.apischema import (
    ERRORS,
    IF_MATCH,
    Id,
    Page,
    PageParams,
    PatchSchema,
    paginate,
    sent_fields,
)
from lockstep.org import services
from lockstep.org.access import (
    access_person,
    access_unit,
    current_person,
    resolve_in_org,
    resolve_many_in_org,
)
from lockstep.org.models import Membership, Organisation, Person, Unit
from lockstep.trust.versions import edit_guard, etag_for, etag_of

router = Router(tags=["organisation"])


class OrganisationOut(Schema):
    id: int
    slug: str
    name: str
    timezone: str
    on_track_margin: float
    at_risk_margin: float
    answer_window_days: int
    max_objectives_per_unit: int
    max_krs_per_objective: int
    low_confidence: int
    single_point_min_units: int
    task_share: float


class OrganisationPatch(PatchSchema):
    name: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = None
    on_track_margin: float | None = Field(None, ge=0, le=1)
    at_risk_margin: float | None = Field(None, ge=0, le=1)
    answer_window_days: int | None = Field(None, ge=1, le=365)
    max_objectives_per_unit: int | None = Field(None, ge=1, le=1000)
    max_krs_per_objective: int | None = Field(None, ge=1, le=1000)
    low_confidence: int | None = Field(None, ge=1, le=10)
    single_point_min_units: int | None = Field(None, ge=2, le=1000)
    task_share: float | None = Field(None, gt=0, lt=1)


class UnitIn(Schema):
    name: str = Field(..., min_length=1, max_length=200)
    key: str | None = Field(None, max_length=100)
    kind: Unit.Kind = Unit.Kind.TEAM
    parent_id: Id | None = None
    weekly_capacity: float | None = Field(None, ge=0)
    capacity_unit: Unit.CapacityUnit = Unit.CapacityUnit.HOURS


class UnitPatch(PatchSchema):
    nullable = frozenset({"parent_id", "weekly_capacity"})
    name: str | None = Field(None, min_length=1, max_length=200)
    key: str | None = Field(None, max_length=100)
    kind: Unit.Kind | None = None
    parent_id: Id | None = None
    weekly_capacity: float | None = Field(None, ge=0)
    capacity_unit: Unit.CapacityUnit | None = None


class UnitOut(Schema):
    id: int
    key: str
    name: str
    kind: str
    parent_id: int | None
    weekly_capacity: float | None
    capacity_unit: str
    archived: bool
    archived_at: dt.datetime | None


class UnitFilters(Schema):
    parent_id: Id | None = None
    kind: Unit.Kind | None = None
    include_archived: bool = False


class MembershipIO(Schema):
    unit_id: Id
    role: Membership.Role = Membership.Role.MEMBER


class PersonIn(Schema):
    name: str = Field(..., min_length=1, max_length=200)
    email: str = Field(..., max_length=254)
    is_org_admin: bool = False
    memberships: list[MembershipIO] = []


class PersonPatch(PatchSchema):
    name: str | None = Field(None, min_length=1, max_length=200)
    email: str | None = Field(None, max_length=254)
    is_org_admin: bool | None = None
    memberships: list[MembershipIO] | None = None


class PersonOut(Schema):
    id: int
    name: str
    email: str
    is_org_admin: bool
    memberships: list[MembershipIO]
    archived: bool


class PersonFilters(Schema):
    unit_id: Id | None = None
    include_archived: bool = False


def _unit_out(u: Unit) -> dict[str, Any]:
    return {
        "id": u.pk,
        "key": u.key,
        "name": u.name,
        "kind": u.kind,
        "parent_id": u.parent_id,
        "weekly_capacity": u.weekly_capacity,
        "capacity_unit": u.capacity_unit,
        "archived": u.archived_at is not None,
        "archived_at": u.archived_at,
    }


def _person_out(p: Person) -> dict[str, Any]:
    return {
        "id": p.pk,
        "name": p.name,
        "email": p.email,
        "is_org_admin": p.is_org_admin,
        "memberships": [{"unit_id": m.unit_id, "role": m.role} for m in p.memberships.all()],
        "archived": p.archived_at is not None,
    }


@router.get("/organisation", response={200: OrganisationOut, **ERRORS})
def organisation_get(request: HttpRequest, response: HttpResponse) -> Organisation:
    organisation = current_person(request).organisation
    response["ETag"] = etag_of(organisation)
    return organisation


@router.patch("/organisation", response={200: OrganisationOut, **ERRORS})
def organisation_patch(
    request: HttpRequest,
    payload: OrganisationPatch,
    response: HttpResponse,
    if_match: str | None = IF_MATCH,
) -> Organisation:
    me = current_person(request)
    pk = me.organisation_id
    with edit_guard(Organisation, pk, if_match) as organisation:
        updated = services.organisation_update(
            organisation=organisation, actor=me, **sent_fields(payload)
        )
    response["ETag"] = etag_for(Organisation, pk)
    return updated


@router.get("/units", response={200: Page[UnitOut], **ERRORS})
def unit_list(
    request: HttpRequest, filters: Query[UnitFilters], page: Query[PageParams]
) -> dict[str, Any]:
    me = current_person(request)
    qs = Unit.objects.filter(organisation=me.organisation)
    if not filters.include_archived:
        qs = qs.filter(archived_at__isnull=True)
    if filters.parent_id is not None:
        qs = qs.filter(parent_id=filters.parent_id)
    if filters.kind is not None:
        qs = qs.filter(kind=filters.kind)
    return paginate(qs.order_by("key"), page, lambda rows: [_unit_out(u) for u in rows])


@router.post("/units", response={201: UnitOut, **ERRORS})
def unit_create(request: HttpRequest, payload: UnitIn) -> tuple[int, dict[str, Any]]:
    me = current_person(request)
    data = payload.model_dump()
    parent = resolve_in_org(Unit, me.organisation, data.pop("parent_id"), "parent_id")
    unit = services.unit_create(organisation=me.organisation, actor=me, parent=parent, **data)
    return 201, _unit_out(unit)


@router.get("/units/{unit_id}", response={200: UnitOut, **ERRORS})
def unit_get(request: HttpRequest, unit_id: Id, response: HttpResponse) -> dict[str, Any]:
    unit = access_unit(current_person(request), unit_id)
    response["ETag"] = etag_of(unit)
    return _unit_out(unit)


@router.patch("/units/{unit_id}", response={200: UnitOut, **ERRORS})
def unit_patch(
    request: HttpRequest,
    unit_id: Id,
    payload: UnitPatch,
    response: HttpResponse,
    if_match: str | None = IF_MATCH,
) -> dict[str, Any]:
    me = current_person(request)
    pk = access_unit(me, unit_id).pk
    changes = sent_fields(payload)
    if "parent_id" in changes:
        changes["parent"] = resolve_in_org(
            Unit, me.organisation, changes.pop("parent_id"), "parent_id"
        )
    with edit_guard(Unit, pk, if_match) as unit:
        updated = services.unit_update(unit=unit, actor=me, **changes)
    response["ETag"] = etag_for(Unit, pk)
    return _unit_out(updated)


@router.delete("/units/{unit_id}", response={200: UnitOut, **ERRORS})
def unit_archive(request: HttpRequest, unit_id: Id) -> dict[str, Any]:
    me = current_person(request)
    return _unit_out(services.unit_archive(unit=access_unit(me, unit_id), actor=me))


def _memberships(me: Person, rows: Sequence[dict[str, Any]]) -> list[tuple[Unit, str]]:
    units = resolve_many_in_org(Unit, me.organisation, [r["unit_id"] for r in rows], "memberships")
    return [(u, r["role"]) for u, r in zip(units, rows, strict=True)]


@router.get("/people", response={200: Page[PersonOut], **ERRORS})
def person_list(
    request: HttpRequest, filters: Query[PersonFilters], page: Query[PageParams]
) -> dict[str, Any]:
    me = current_person(request)
    qs = Person.objects.filter(organisation=me.organisation).prefetch_related("memberships")
    if not filters.include_archived:
        qs = qs.filter(archived_at__isnull=True)
    if filters.unit_id is not None:
        qs = qs.filter(memberships__unit_id=filters.unit_id)
    return paginate(qs.order_by("name", "id"), page, lambda rows: [_person_out(p) for p in rows])


@router.post("/people", response={201: PersonOut, **ERRORS})
def person_create(request: HttpRequest, payload: PersonIn) -> tuple[int, dict[str, Any]]:
    me = current_person(request)
    data = payload.model_dump()
    memberships = _memberships(me, data.pop("memberships"))
    person = services.person_create(
        organisation=me.organisation, actor=me, memberships=memberships, **data
    )
    return 201, _person_out(person)


@router.get("/people/{person_id}", response={200: PersonOut, **ERRORS})
def person_get(request: HttpRequest, person_id: Id, response: HttpResponse) -> dict[str, Any]:
    person = access_person(current_person(request), person_id)
    response["ETag"] = etag_of(person)
    return _person_out(person)


@router.patch("/people/{person_id}", response={200: PersonOut, **ERRORS})
def person_patch(
    request: HttpRequest,
    person_id: Id,
    payload: PersonPatch,
    response: HttpResponse,
    if_match: str | None = IF_MATCH,
) -> dict[str, Any]:
    me = current_person(request)
    pk = access_person(me, person_id).pk
    changes = sent_fields(payload)
    memberships = changes.pop("memberships", None)
    with edit_guard(Person, pk, if_match) as person:
        updated = services.person_update(
            person=person,
            actor=me,
            memberships=None if memberships is None else _memberships(me, memberships),
            **changes,
        )
    response["ETag"] = etag_for(Person, pk)
    return _person_out(updated)


@router.delete("/people/{person_id}", response={200: PersonOut, **ERRORS})
def person_archive(request: HttpRequest, person_id: Id) -> dict[str, Any]:
    me = current_person(request)
    return _person_out(services.person_archive(person=access_person(me, person_id), actor=me))
