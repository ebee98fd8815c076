"""API for cycles, objectives, key results, check-ins, initiatives and KPIs (thin)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from lockstep.apischema import (
    ERRORS,
    IDEMPOTENCY_KEY,
    IF_MATCH,
    Id,
    Page,
    PageParams,
    PatchSchema,
    idempotent,
    page_of,
    paginate,
    sent_fields,
)
from lockstep.core.progress import Commitment, KRKind, Status
from lockstep.errors import ValidationFailed
from lockstep.goals import selectors, services
from lockstep.goals.access import (
    access_cycle,
    access_initiative,
    access_key_result,
    access_kpi,
    access_objective,
    objective_visible,
)
from lockstep.goals.models import KPI, CheckIn, Cycle, Initiative, KeyResult, Objective
from lockstep.org.access import current_person, resolve_in_org, resolve_many_in_org
from lockstep.org.models import Person, Unit
from lockstep.trust.versions import edit_guard, etag_for, etag_of

router = Router(tags=["goals"])


# ---- cycles ---------------------------------------------------------------------------


class CycleIn(Schema):
    name: str = Field(..., min_length=1, max_length=200)
    key: str | None = Field(None, max_length=100)
    kind: Cycle.Kind
    start: dt.date
    end: dt.date
    parent_id: Id | None = None


class CyclePatch(PatchSchema):
    nullable = frozenset({"parent_id"})
    name: str | None = Field(None, min_length=1, max_length=200)
    key: str | None = Field(None, max_length=100)
    kind: Cycle.Kind | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    parent_id: Id | None = None


class CycleOut(Schema):
    id: int
    key: str
    name: str
    kind: str
    start: dt.date
    end: dt.date
    parent_id: int | None


class CycleFilters(Schema):
    parent_id: Id | None = None
    kind: Cycle.Kind | None = None
    active_on: dt.date | None = Field(None, description="cycles that include this day")


@router.get("/cycles", response={200: Page[CycleOut], **ERRORS})
def cycle_list(
    request: HttpRequest, filters: Query[CycleFilters], page: Query[PageParams]
) -> dict[str, Any]:
    me = current_person(request)
    qs = Cycle.objects.filter(organisation=me.organisation)
    if filters.parent_id is not None:
        qs = qs.filter(parent_id=filters.parent_id)
    if filters.kind is not None:
        qs = qs.filter(kind=filters.kind)
    if filters.active_on is not None:
        qs = qs.filter(start__lte=filters.active_on, end__gte=filters.active_on)
    return paginate(qs.order_by("start", "key"), page, list)


@router.post("/cycles", response={201: CycleOut, **ERRORS})
def cycle_create(request: HttpRequest, payload: CycleIn) -> tuple[int, Cycle]:
    me = current_person(request)
    data = payload.model_dump()
    parent = resolve_in_org(Cycle, me.organisation, data.pop("parent_id"), "parent_id")
    return 201, services.cycle_create(organisation=me.organisation, actor=me, parent=parent, **data)


@router.get("/cycles/{cycle_id}", response={200: CycleOut, **ERRORS})
def cycle_get(request: HttpRequest, cycle_id: Id, response: HttpResponse) -> Cycle:
    cycle = access_cycle(current_person(request), cycle_id)
    response["ETag"] = etag_of(cycle)
    return cycle


@router.patch("/cycles/{cycle_id}", response={200: CycleOut, **ERRORS})
def cycle_patch(
    request: HttpRequest,
    cycle_id: Id,
    payload: CyclePatch,
    response: HttpResponse,
    if_match: str | None = IF_MATCH,
) -> Cycle:
    me = current_person(request)
    pk = access_cycle(me, cycle_id).pk
    changes = sent_fields(payload)
    if "parent_id" in changes:
        changes["parent"] = resolve_in_org(
            Cycle, me.organisation, changes.pop("parent_id"), "parent_id"
        )
    with edit_guard(Cycle, pk, if_match) as cycle:
        updated = services.cycle_update(cycle=cycle, actor=me, **changes)
    response["ETag"] = etag_for(Cycle, pk)
    return updated


@router.delete("/cycles/{cycle_id}", response={204: None, **ERRORS})
def cycle_delete(request: HttpRequest, cycle_id: Id) -> tuple[int, None]:
    me = current_person(request)
    services.cycle_delete(cycle=access_cycle(me, cycle_id), actor=me)
    return 204, None


# ---- objectives -----------------------------------------------------------------------


class ParentLinkIO(Schema):
    objective_id: Id
    weight: float = Field(1.0, gt=0)


PRIVATE = "seen only by the people of its owner and contributing units, and by admins"


class ObjectiveIn(Schema):
    title: str = Field(..., min_length=1, max_length=300)
    key: str | None = Field(None, max_length=100)
    cycle_id: Id
    level: Objective.Level = Objective.Level.UNIT
    owner_unit_id: Id | None = None
    contributor_ids: list[Id] = []
    parents: list[ParentLinkIO] = []
    description: str = Field("", max_length=10000)
    state: Objective.State = Objective.State.PUBLISHED
    private: bool = Field(False, description=PRIVATE)


class ObjectivePatch(PatchSchema):
    title: str | None = Field(None, min_length=1, max_length=300)
    key: str | None = Field(None, max_length=100)
    cycle_id: Id | None = None
    level: Objective.Level | None = None
    owner_unit_id: Id | None = None
    contributor_ids: list[Id] | None = None
    parents: list[ParentLinkIO] | None = None
    description: str | None = Field(None, max_length=10000)
    state: Objective.State | None = None
    private: bool | None = Field(None, description=PRIVATE)


class UnitShareOut(Schema):
    unit_id: int
    share: float


class ObjectiveOut(Schema):
    id: int
    key: str
    title: str
    description: str
    cycle_id: int
    level: str
    state: str
    private: bool
    owner_unit_id: int | None
    contributor_ids: list[int]
    parents: list[ParentLinkIO]
    progress: float = Field(
        ..., description="weighted roll-up of KRs and contributing objectives, 0-1"
    )
    expected_progress: float = Field(..., description="the pace line today, 0-1")
    status: Status
    unit_shares: list[UnitShareOut]
    archived: bool


class ObjectiveFilters(Schema):
    cycle_id: Id | None = None
    unit_id: Id | None = Field(None, description="owned by, or contributed to by, this unit")
    level: Objective.Level | None = None
    state: Objective.State | None = None
    status: Status | None = None
    include_archived: bool = False


def render_objectives(
    me: Person, objectives: Sequence[Objective], *, stored: bool = False
) -> list[dict[str, Any]]:
    """Objectives as ObjectiveOut; `stored`: with the stored numbers (lists), else live."""
    org = me.organisation
    if stored:
        numbers = selectors.objective_numbers_stored(objectives, organisation=org)
    else:
        numbers = selectors.objective_numbers([o.pk for o in objectives], organisation=org)
    return [_objective_out(o, numbers[o.pk]) for o in objectives]


def _objective_out(o: Objective, n: selectors.ObjectiveNumbers) -> dict[str, Any]:
    return {
        "id": o.pk,
        "key": o.key,
        "title": o.title,
        "description": o.description,
        "cycle_id": o.cycle_id,
        "level": o.level,
        "state": o.state,
        "private": o.private,
        "owner_unit_id": o.owner_unit_id,
        "contributor_ids": [u.pk for u in o.contributors.all()],
        "parents": [
            {"objective_id": link.parent_id, "weight": link.weight} for link in o.parent_links.all()
        ],
        "progress": n.progress,
        "expected_progress": n.expected,
        "status": n.status,
        "unit_shares": [{"unit_id": u, "share": s} for u, s in sorted(n.unit_shares.items())],
        "archived": o.archived_at is not None,
    }


def _objective_refs(me: Person, data: dict[str, Any]) -> dict[str, Any]:
    org = me.organisation
    if "cycle_id" in data:
        cycle = resolve_in_org(Cycle, org, data.pop("cycle_id"), "cycle_id")
        if cycle is None:
            raise ValidationFailed.on("cycle_id", "is required")
        data["cycle"] = cycle
    if "owner_unit_id" in data:
        data["owner_unit"] = resolve_in_org(Unit, org, data.pop("owner_unit_id"), "owner_unit_id")
    if "contributor_ids" in data:
        ids = data.pop("contributor_ids")
        data["contributors"] = (
            None if ids is None else resolve_many_in_org(Unit, org, ids, "contributor_ids")
        )
    if "parents" in data:
        links = data.pop("parents")
        if links is not None:
            parents = resolve_many_in_org(
                Objective, org, [p["objective_id"] for p in links], "parents"
            )
            data["parents"] = [(p, link["weight"]) for p, link in zip(parents, links, strict=True)]
    return data


def _one_objective(me: Person, pk: int) -> dict[str, Any]:
    o = selectors.objectives_query(me.organisation).get(pk=pk)
    return render_objectives(me, [o])[0]


@router.get("/objectives", response={200: Page[ObjectiveOut], **ERRORS})
def objective_list(
    request: HttpRequest, filters: Query[ObjectiveFilters], page: Query[PageParams]
) -> dict[str, Any]:
    me = current_person(request)
    qs = selectors.objectives_query(me.organisation).filter(objective_visible(me))
    if not filters.include_archived:
        qs = qs.filter(archived_at__isnull=True)
    if filters.cycle_id is not None:
        qs = qs.filter(cycle_id=filters.cycle_id)
    if filters.level is not None:
        qs = qs.filter(level=filters.level)
    if filters.state is not None:
        qs = qs.filter(state=filters.state)
    if filters.unit_id is not None:
        qs = qs.filter(
            Q(owner_unit_id=filters.unit_id) | Q(contributors__id=filters.unit_id)
        ).distinct()
    # The list reads the stored numbers (as of their last refresh, docs/numbers.md): rolling
    # up live would read every KR beneath every objective of the page.
    if filters.status is not None:
        if qs.filter(numbers_at__isnull=True).exists():
            # Bulk rows before their first full refresh have no stored status to filter by.
            everything = list(qs.order_by("cycle__start", "key"))
            rendered = [
                r for r in render_objectives(me, everything) if r["status"] == filters.status
            ]
            return paginate(rendered, page, list)
        qs = qs.filter(status=filters.status)
    count, rows = selectors.objectives_page(qs, offset=page.offset, limit=page.limit)
    return page_of(count, page, render_objectives(me, rows, stored=True))


@router.post("/objectives", response={201: ObjectiveOut, **ERRORS})
def objective_create(request: HttpRequest, payload: ObjectiveIn) -> tuple[int, dict[str, Any]]:
    me = current_person(request)
    data = _objective_refs(me, payload.model_dump())
    objective = services.objective_create(organisation=me.organisation, actor=me, **data)
    return 201, _one_objective(me, objective.pk)


@router.get("/objectives/{objective_id}", response={200: ObjectiveOut, **ERRORS})
def objective_get(request: HttpRequest, objective_id: Id, response: HttpResponse) -> dict[str, Any]:
    me = current_person(request)
    objective = access_objective(me, objective_id)
    response["ETag"] = etag_of(objective)
    return _one_objective(me, objective.pk)


@router.patch("/objectives/{objective_id}", response={200: ObjectiveOut, **ERRORS})
def objective_patch(
    request: HttpRequest,
    objective_id: Id,
    payload: ObjectivePatch,
    response: HttpResponse,
    if_match: str | None = IF_MATCH,
) -> dict[str, Any]:
    me = current_person(request)
    pk = access_objective(me, objective_id).pk
    data = _objective_refs(me, sent_fields(payload))
    with edit_guard(Objective, pk, if_match) as objective:
        services.objective_update(objective=objective, actor=me, **data)
    response["ETag"] = etag_for(Objective, pk)
    return _one_objective(me, pk)


@router.delete("/objectives/{objective_id}", response={200: ObjectiveOut, **ERRORS})
def objective_archive(request: HttpRequest, objective_id: Id) -> dict[str, Any]:
    me = current_person(request)
    services.objective_archive(objective=access_objective(me, objective_id), actor=me)
    return _one_objective(me, objective_id)


# ---- key results ----------------------------------------------------------------------


class KeyResultIn(Schema):
    objective_id: Id
    title: str = Field(..., min_length=1, max_length=300)
    key: str | None = Field(None, max_length=100)
    kind: KRKind
    start: float = 0.0
    target: float | None = Field(None, description="required except for milestones")
    measure: str = Field("", max_length=50)
    steps: list[str] = Field([], description="milestone checklist")
    weight: float = Field(1.0, gt=0)
    due: dt.date | None = Field(None, description="defaults to the cycle end")
    commitment: Commitment = Commitment.COMMITTED
    owner_unit_id: Id | None = None
    owner_person_id: Id | None = None
    co_owner_ids: list[Id] = []
    cadence_days: int = Field(7, ge=1, le=366)
    kpi_id: Id | None = None


class KeyResultPatch(PatchSchema):
    nullable = frozenset({"due", "owner_person_id", "kpi_id"})
    title: str | None = Field(None, min_length=1, max_length=300)
    key: str | None = Field(None, max_length=100)
    kind: KRKind | None = None
    start: float | None = None
    target: float | None = None
    measure: str | None = Field(None, max_length=50)
    steps: list[str] | None = None
    weight: float | None = Field(None, gt=0)
    due: dt.date | None = None
    commitment: Commitment | None = None
    owner_unit_id: Id | None = None
    owner_person_id: Id | None = None
    co_owner_ids: list[Id] | None = None
    cadence_days: int | None = Field(None, ge=1, le=366)
    kpi_id: Id | None = None


class KeyResultOut(Schema):
    id: int
    key: str
    objective_id: int
    title: str
    kind: KRKind
    start: float
    target: float
    measure: str
    steps: list[str]
    weight: float
    due: dt.date = Field(..., description="the KR's own due date, or its cycle's end")
    commitment: Commitment
    owner_unit_id: int | None
    owner_person_id: int | None
    co_owner_ids: list[int]
    cadence_days: int
    kpi_id: int | None
    current_value: float | None
    last_checkin_at: dt.datetime | None
    last_confidence: int | None
    checkin_count: int
    progress: float
    expected_progress: float
    status: Status
    forecast_value: float | None = Field(
        ..., description="least-squares projection to the due date"
    )
    forecast_progress: float | None
    likely_miss: bool = Field(..., description="committed forecast < 1.0, aspirational < 0.7")
    archived: bool


class KeyResultFilters(Schema):
    objective_id: Id | None = None
    cycle_id: Id | None = None
    unit_id: Id | None = Field(None, description="accountable or co-owner unit")
    owner_person_id: Id | None = None
    status: Status | None = None
    include_archived: bool = False


def render_key_results(me: Person, krs: Sequence[KeyResult]) -> list[dict[str, Any]]:
    out = []
    for kr in krs:
        n = selectors.kr_numbers(kr, organisation=me.organisation)
        out.append(
            {
                "id": kr.pk,
                "key": kr.key,
                "objective_id": kr.objective_id,
                "title": kr.title,
                "kind": kr.kind,
                "start": kr.start,
                "target": kr.target,
                "measure": kr.measure,
                "steps": kr.steps or [],
                "weight": kr.weight,
                "due": selectors.kr_due(kr),
                "commitment": kr.commitment,
                "owner_unit_id": kr.owner_unit_id,
                "owner_person_id": kr.owner_person_id,
                "co_owner_ids": [u.pk for u in kr.co_owners.all()],
                "cadence_days": kr.cadence_days,
                "kpi_id": kr.kpi_id,
                "current_value": kr.current_value,
                "last_checkin_at": kr.last_checkin_at,
                "last_confidence": kr.last_confidence,
                "checkin_count": kr.checkin_count,
                "progress": n.progress,
                "expected_progress": n.expected,
                "status": n.status,
                "forecast_value": n.forecast_value,
                "forecast_progress": n.forecast_progress,
                "likely_miss": n.likely_miss,
                "archived": kr.archived_at is not None,
            }
        )
    return out


def _kr_refs(me: Person, data: dict[str, Any]) -> dict[str, Any]:
    org = me.organisation
    for field, model, name in (
        ("owner_unit_id", Unit, "owner_unit"),
        ("owner_person_id", Person, "owner_person"),
        ("kpi_id", KPI, "kpi"),
    ):
        if field in data:
            data[name] = resolve_in_org(model, org, data.pop(field), field)
    if "co_owner_ids" in data:
        ids = data.pop("co_owner_ids")
        data["co_owners"] = (
            None if ids is None else resolve_many_in_org(Unit, org, ids, "co_owner_ids")
        )
    return data


def _one_kr(me: Person, pk: int) -> dict[str, Any]:
    return render_key_results(me, [selectors.key_results_query(me.organisation).get(pk=pk)])[0]


@router.get("/key-results", response={200: Page[KeyResultOut], **ERRORS})
def key_result_list(
    request: HttpRequest, filters: Query[KeyResultFilters], page: Query[PageParams]
) -> dict[str, Any]:
    me = current_person(request)
    qs = selectors.key_results_query(me.organisation).filter(objective_visible(me, "objective__"))
    if not filters.include_archived:
        qs = qs.filter(archived_at__isnull=True)
    if filters.objective_id is not None:
        qs = qs.filter(objective_id=filters.objective_id)
    if filters.cycle_id is not None:
        qs = qs.filter(objective__cycle_id=filters.cycle_id)
    if filters.owner_person_id is not None:
        qs = qs.filter(owner_person_id=filters.owner_person_id)
    if filters.unit_id is not None:
        qs = qs.filter(
            Q(owner_unit_id=filters.unit_id) | Q(co_owners__id=filters.unit_id)
        ).distinct()
    qs = qs.order_by("objective__key", "key")
    if filters.status is None:
        return paginate(qs, page, lambda rows: render_key_results(me, rows))
    rendered = [r for r in render_key_results(me, list(qs)) if r["status"] == filters.status]
    return paginate(rendered, page, list)


@router.post("/key-results", response={201: KeyResultOut, **ERRORS})
def key_result_create(request: HttpRequest, payload: KeyResultIn) -> tuple[int, dict[str, Any]]:
    me = current_person(request)
    data = _kr_refs(me, payload.model_dump())
    objective = resolve_in_org(Objective, me.organisation, data.pop("objective_id"), "objective_id")
    assert objective is not None
    co_owners = data.pop("co_owners") or []
    kr = services.key_result_create(objective=objective, actor=me, co_owners=co_owners, **data)
    return 201, _one_kr(me, kr.pk)


@router.get("/key-results/{kr_id}", response={200: KeyResultOut, **ERRORS})
def key_result_get(request: HttpRequest, kr_id: Id, response: HttpResponse) -> dict[str, Any]:
    me = current_person(request)
    kr = access_key_result(me, kr_id)
    response["ETag"] = etag_of(kr)
    return _one_kr(me, kr.pk)


@router.patch("/key-results/{kr_id}", response={200: KeyResultOut, **ERRORS})
def key_result_patch(
    request: HttpRequest,
    kr_id: Id,
    payload: KeyResultPatch,
    response: HttpResponse,
    if_match: str | None = IF_MATCH,
) -> dict[str, Any]:
    me = current_person(request)
    pk = access_key_result(me, kr_id).pk
    changes = _kr_refs(me, sent_fields(payload))
    with edit_guard(KeyResult, pk, if_match) as kr:
        services.key_result_update(key_result=kr, actor=me, **changes)
    response["ETag"] = etag_for(KeyResult, pk)
    return _one_kr(me, pk)


@router.delete("/key-results/{kr_id}", response={200: KeyResultOut, **ERRORS})
def key_result_archive(request: HttpRequest, kr_id: Id) -> dict[str, Any]:
    me = current_person(request)
    services.key_result_archive(key_result=access_key_result(me, kr_id), actor=me)
    return _one_kr(me, kr_id)


# ---- check-ins ------------------------------------------------------------------------


class CheckInIn(Schema):
    value: float | None = Field(
        None, description="new value; for a milestone, steps done (1 = done)"
    )
    steps_done: list[int] | None = Field(None, description="milestone: indexes of finished steps")
    confidence: int = Field(..., ge=1, le=10)
    note: str = Field("", max_length=5000)
    blockers: str = Field("", max_length=5000)
    blocking_unit_id: Id | None = None
    at: dt.datetime | None = Field(None, description="when the value was true; defaults to now")


class CheckInOut(Schema):
    id: int
    key_result_id: int
    at: dt.datetime
    value: float
    steps_done: list[int] | None
    confidence: int
    note: str
    blockers: str
    blocking_unit_id: int | None
    author_id: int | None
    source: str


class CheckInCreated(Schema):
    checkin: CheckInOut
    key_result: KeyResultOut


@router.post("/key-results/{kr_id}/checkins", response={201: CheckInCreated, **ERRORS})
def checkin_create(
    request: HttpRequest,
    kr_id: Id,
    payload: CheckInIn,
    response: HttpResponse,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> tuple[int, Any]:
    me = current_person(request)
    kr = access_key_result(me, kr_id)

    def record() -> tuple[int, Any]:
        data = payload.model_dump()
        data["blocking_unit"] = resolve_in_org(
            Unit, me.organisation, data.pop("blocking_unit_id"), "blocking_unit_id"
        )
        checkin = services.checkin_record(
            key_result=kr, actor=me, source=CheckIn.Source.API, **data
        )
        out = {"checkin": checkin, "key_result": _one_kr(me, kr.pk)}
        return 201, CheckInCreated.model_validate(out).model_dump(mode="json")

    return idempotent(request, me, idempotency_key, response, record)


@router.get("/key-results/{kr_id}/checkins", response={200: Page[CheckInOut], **ERRORS})
def checkin_list(request: HttpRequest, kr_id: Id, page: Query[PageParams]) -> dict[str, Any]:
    kr = access_key_result(current_person(request), kr_id)
    return paginate(kr.checkins.order_by("at", "id"), page, list)


# ---- initiatives ----------------------------------------------------------------------


class InitiativeIn(Schema):
    title: str = Field(..., min_length=1, max_length=300)
    owner_unit_id: Id
    key_result_ids: list[Id] = []
    assignee_id: Id | None = None
    state: Initiative.State = Initiative.State.PLANNED
    due: dt.date | None = None
    description: str = Field("", max_length=10000)


class InitiativePatch(PatchSchema):
    nullable = frozenset({"assignee_id", "due"})
    title: str | None = Field(None, min_length=1, max_length=300)
    owner_unit_id: Id | None = None
    key_result_ids: list[Id] | None = None
    assignee_id: Id | None = None
    state: Initiative.State | None = None
    due: dt.date | None = None
    description: str | None = Field(None, max_length=10000)


class InitiativeOut(Schema):
    id: int
    title: str
    description: str
    owner_unit_id: int
    key_result_ids: list[int]
    assignee_id: int | None
    state: str
    due: dt.date | None
    archived: bool


class InitiativeFilters(Schema):
    unit_id: Id | None = None
    key_result_id: Id | None = None
    state: Initiative.State | None = None
    include_archived: bool = False


def _initiative_out(i: Initiative) -> dict[str, Any]:
    return {
        "id": i.pk,
        "title": i.title,
        "description": i.description,
        "owner_unit_id": i.owner_unit_id,
        "key_result_ids": [kr.pk for kr in i.key_results.all()],
        "assignee_id": i.assignee_id,
        "state": i.state,
        "due": i.due,
        "archived": i.archived_at is not None,
    }


def _initiative_refs(me: Person, data: dict[str, Any]) -> dict[str, Any]:
    org = me.organisation
    if "owner_unit_id" in data:
        data["owner_unit"] = resolve_in_org(Unit, org, data.pop("owner_unit_id"), "owner_unit_id")
    if "assignee_id" in data:
        data["assignee"] = resolve_in_org(Person, org, data.pop("assignee_id"), "assignee_id")
    if "key_result_ids" in data:
        ids = data.pop("key_result_ids")
        data["key_results"] = (
            None if ids is None else resolve_many_in_org(KeyResult, org, ids, "key_result_ids")
        )
    return data


@router.get("/initiatives", response={200: Page[InitiativeOut], **ERRORS})
def initiative_list(
    request: HttpRequest, filters: Query[InitiativeFilters], page: Query[PageParams]
) -> dict[str, Any]:
    me = current_person(request)
    qs = Initiative.objects.filter(organisation=me.organisation).prefetch_related("key_results")
    if not filters.include_archived:
        qs = qs.filter(archived_at__isnull=True)
    if filters.unit_id is not None:
        qs = qs.filter(owner_unit_id=filters.unit_id)
    if filters.key_result_id is not None:
        qs = qs.filter(key_results__id=filters.key_result_id)
    if filters.state is not None:
        qs = qs.filter(state=filters.state)
    return paginate(qs.order_by("due", "id"), page, lambda rows: [_initiative_out(i) for i in rows])


@router.post("/initiatives", response={201: InitiativeOut, **ERRORS})
def initiative_create(request: HttpRequest, payload: InitiativeIn) -> tuple[int, dict[str, Any]]:
    me = current_person(request)
    data = _initiative_refs(me, payload.model_dump())
    return 201, _initiative_out(
        services.initiative_create(organisation=me.organisation, actor=me, **data)
    )


@router.get("/initiatives/{initiative_id}", response={200: InitiativeOut, **ERRORS})
def initiative_get(
    request: HttpRequest, initiative_id: Id, response: HttpResponse
) -> dict[str, Any]:
    initiative = access_initiative(current_person(request), initiative_id)
    response["ETag"] = etag_of(initiative)
    return _initiative_out(initiative)


@router.patch("/initiatives/{initiative_id}", response={200: InitiativeOut, **ERRORS})
def initiative_patch(
    request: HttpRequest,
    initiative_id: Id,
    payload: InitiativePatch,
    response: HttpResponse,
    if_match: str | None = IF_MATCH,
) -> dict[str, Any]:
    me = current_person(request)
    pk = access_initiative(me, initiative_id).pk
    data = _initiative_refs(me, sent_fields(payload))
    with edit_guard(Initiative, pk, if_match) as initiative:
        updated = services.initiative_update(initiative=initiative, actor=me, **data)
    response["ETag"] = etag_for(Initiative, pk)
    return _initiative_out(updated)


@router.delete("/initiatives/{initiative_id}", response={200: InitiativeOut, **ERRORS})
def initiative_archive(request: HttpRequest, initiative_id: Id) -> dict[str, Any]:
    me = current_person(request)
    return _initiative_out(
        services.initiative_archive(initiative=access_initiative(me, initiative_id), actor=me)
    )


# ---- KPIs -----------------------------------------------------------------------------


class KPIIn(Schema):
    name: str = Field(..., min_length=1, max_length=200)
    key: str | None = Field(None, max_length=100)
    measure: str = Field("", max_length=50)
    healthy_min: float | None = None
    healthy_max: float | None = None
    owner_unit_ids: list[Id] = []


class KPIPatch(PatchSchema):
    nullable = frozenset({"healthy_min", "healthy_max"})
    name: str | None = Field(None, min_length=1, max_length=200)
    key: str | None = Field(None, max_length=100)
    measure: str | None = Field(None, max_length=50)
    healthy_min: float | None = None
    healthy_max: float | None = None
    owner_unit_ids: list[Id] | None = None


class KPIPointIO(Schema):
    at: dt.datetime | None = None
    value: float


class KPIOut(Schema):
    id: int
    key: str
    name: str
    measure: str
    healthy_min: float | None
    healthy_max: float | None
    owner_unit_ids: list[int]
    latest: KPIPointIO | None
    archived: bool


def _kpi_out(k: KPI) -> dict[str, Any]:
    latest = k.points.order_by("-at", "-id").first()
    return {
        "id": k.pk,
        "key": k.key,
        "name": k.name,
        "measure": k.measure,
        "healthy_min": k.healthy_min,
        "healthy_max": k.healthy_max,
        "owner_unit_ids": [u.pk for u in k.owner_units.all()],
        "latest": {"at": latest.at, "value": latest.value} if latest else None,
        "archived": k.archived_at is not None,
    }


def _kpi_refs(me: Person, data: dict[str, Any]) -> dict[str, Any]:
    if "owner_unit_ids" in data:
        ids = data.pop("owner_unit_ids")
        data["owner_units"] = (
            None
            if ids is None
            else resolve_many_in_org(Unit, me.organisation, ids, "owner_unit_ids")
        )
    return data


@router.get("/kpis", response={200: Page[KPIOut], **ERRORS})
def kpi_list(
    request: HttpRequest, page: Query[PageParams], include_archived: bool = False
) -> dict[str, Any]:
    me = current_person(request)
    qs = KPI.objects.filter(organisation=me.organisation).prefetch_related("owner_units")
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    return paginate(qs.order_by("key"), page, lambda rows: [_kpi_out(k) for k in rows])


@router.post("/kpis", response={201: KPIOut, **ERRORS})
def kpi_create(request: HttpRequest, payload: KPIIn) -> tuple[int, dict[str, Any]]:
    me = current_person(request)
    data = _kpi_refs(me, payload.model_dump())
    return 201, _kpi_out(services.kpi_create(organisation=me.organisation, actor=me, **data))


@router.get("/kpis/{kpi_id}", response={200: KPIOut, **ERRORS})
def kpi_get(request: HttpRequest, kpi_id: Id, response: HttpResponse) -> dict[str, Any]:
    kpi = access_kpi(current_person(request), kpi_id)
    response["ETag"] = etag_of(kpi)
    return _kpi_out(kpi)


@router.patch("/kpis/{kpi_id}", response={200: KPIOut, **ERRORS})
def kpi_patch(
    request: HttpRequest,
    kpi_id: Id,
    payload: KPIPatch,
    response: HttpResponse,
    if_match: str | None = IF_MATCH,
) -> dict[str, Any]:
    me = current_person(request)
    pk = access_kpi(me, kpi_id).pk
    changes = _kpi_refs(me, sent_fields(payload))
    with edit_guard(KPI, pk, if_match) as kpi:
        updated = services.kpi_update(kpi=kpi, actor=me, **changes)
    response["ETag"] = etag_for(KPI, pk)
    return _kpi_out(updated)


@router.delete("/kpis/{kpi_id}", response={200: KPIOut, **ERRORS})
def kpi_archive(request: HttpRequest, kpi_id: Id) -> dict[str, Any]:
    me = current_person(request)
    return _kpi_out(services.kpi_archive(kpi=access_kpi(me, kpi_id), actor=me))


@router.post("/kpis/{kpi_id}/points", response={201: KPIPointIO, **ERRORS})
def kpi_point_create(request: HttpRequest, kpi_id: Id, payload: KPIPointIO) -> tuple[int, Any]:
    me = current_person(request)
    kpi = access_kpi(me, kpi_id)
    return 201, services.kpi_point_record(kpi=kpi, actor=me, value=payload.value, at=payload.at)


@router.get("/kpis/{kpi_id}/points", response={200: Page[KPIPointIO], **ERRORS})
def kpi_point_list(request: HttpRequest, kpi_id: Id, page: Query[PageParams]) -> dict[str, Any]:
    kpi = access_kpi(current_person(request), kpi_id)
    return paginate(kpi.points.order_by("at", "id"), page, list)
