"""API for dependencies, asks and offers, peer reviews, findings and the dependency graph."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from lockstep.alignment import selectors, services
from lockstep.alignment.access import access_ask_offer, access_dependency, access_review
from lockstep.alignment.models import AskOffer, Dependency, Review, ReviewNote
from lockstep.apischema import ERRORS, Id, Page, PageParams, paginate
from lockstep.core.snapshot import DependencyState
from lockstep.errors import ValidationFailed
from lockstep.goals.access import access_objective
from lockstep.goals.models import Cycle, Initiative, KeyResult
from lockstep.org.access import current_person, resolve_in_org, resolve_many_in_org
from lockstep.org.models import Person, Unit

router = Router(tags=["alignment"])


def _item(
    me: Person, kr_id: Id | None, initiative_id: Id | None, field: str
) -> KeyResult | Initiative | None:
    if kr_id is not None and initiative_id is not None:
        raise ValidationFailed.on(field, "name a key result or an initiative, not both")
    if kr_id is not None:
        return resolve_in_org(KeyResult, me.organisation, kr_id, f"{field}_kr_id")
    if initiative_id is not None:
        return resolve_in_org(Initiative, me.organisation, initiative_id, f"{field}_initiative_id")
    return None


# ---- dependencies ---------------------------------------------------------------------


class DependencyIn(Schema):
    title: str = Field(..., min_length=1, max_length=300)
    key: str | None = Field(None, max_length=100)
    description: str = Field("", max_length=10000)
    requester_kr_id: Id | None = None
    requester_initiative_id: Id | None = None
    provider_unit_id: Id
    needed_by: dt.date
    effort: float = Field(0, ge=0, description="load on the provider's weekly capacity")


class DependencyOut(Schema):
    id: int
    key: str
    title: str
    description: str
    requester_unit_id: int
    provider_unit_id: int
    requester_kr_id: int | None
    requester_initiative_id: int | None
    provider_kr_id: int | None
    provider_initiative_id: int | None
    needed_by: dt.date
    counter_date: dt.date | None
    effort: float
    state: DependencyState
    reason: str
    requested_by_id: int | None
    answered_by_id: int | None
    requested_at: dt.datetime
    answered_at: dt.datetime | None


class DependencyFilters(Schema):
    unit_id: Id | None = Field(None, description="either side")
    requester_unit_id: Id | None = None
    provider_unit_id: Id | None = None
    state: DependencyState | None = None


class AcceptIn(Schema):
    provider_kr_id: Id | None = None
    provider_initiative_id: Id | None = None


class ReasonIn(Schema):
    reason: str = Field("", max_length=5000)


class CounterIn(Schema):
    counter_date: dt.date
    reason: str = Field("", max_length=5000)


class CounterAnswerIn(Schema):
    accept: bool


@router.get("/dependencies", response={200: Page[DependencyOut], **ERRORS})
def dependency_list(
    request: HttpRequest, filters: Query[DependencyFilters], page: Query[PageParams]
) -> dict[str, Any]:
    me = current_person(request)
    qs = Dependency.objects.filter(organisation=me.organisation)
    if filters.unit_id is not None:
        qs = qs.filter(Q(requester_unit_id=filters.unit_id) | Q(provider_unit_id=filters.unit_id))
    if filters.requester_unit_id is not None:
        qs = qs.filter(requester_unit_id=filters.requester_unit_id)
    if filters.provider_unit_id is not None:
        qs = qs.filter(provider_unit_id=filters.provider_unit_id)
    if filters.state is not None:
        qs = qs.filter(state=filters.state)
    return paginate(qs.order_by("needed_by", "id"), page, list)


@router.post("/dependencies", response={201: DependencyOut, **ERRORS})
def dependency_create(request: HttpRequest, payload: DependencyIn) -> tuple[int, Dependency]:
    me = current_person(request)
    item = _item(me, payload.requester_kr_id, payload.requester_initiative_id, "requester")
    if item is None:
        raise ValidationFailed.on(
            "requester_kr_id", "name the key result or initiative that needs it"
        )
    provider = resolve_in_org(Unit, me.organisation, payload.provider_unit_id, "provider_unit_id")
    assert provider is not None
    dep = services.dependency_request(
        organisation=me.organisation,
        actor=me,
        requester_item=item,
        provider_unit=provider,
        title=payload.title,
        needed_by=payload.needed_by,
        description=payload.description,
        effort=payload.effort,
        key=payload.key,
    )
    return 201, dep


@router.get("/dependencies/{dep_id}", response={200: DependencyOut, **ERRORS})
def dependency_get(request: HttpRequest, dep_id: Id) -> Dependency:
    return access_dependency(current_person(request), dep_id)


@router.post("/dependencies/{dep_id}/accept", response={200: DependencyOut, **ERRORS})
def dependency_accept(request: HttpRequest, dep_id: Id, payload: AcceptIn) -> Dependency:
    me = current_person(request)
    item = _item(me, payload.provider_kr_id, payload.provider_initiative_id, "provider")
    return services.dependency_accept(
        dependency=access_dependency(me, dep_id), actor=me, provider_item=item
    )


@router.post("/dependencies/{dep_id}/decline", response={200: DependencyOut, **ERRORS})
def dependency_decline(request: HttpRequest, dep_id: Id, payload: ReasonIn) -> Dependency:
    me = current_person(request)
    return services.dependency_decline(
        dependency=access_dependency(me, dep_id), actor=me, reason=payload.reason
    )


@router.post("/dependencies/{dep_id}/counter", response={200: DependencyOut, **ERRORS})
def dependency_counter(request: HttpRequest, dep_id: Id, payload: CounterIn) -> Dependency:
    me = current_person(request)
    return services.dependency_counter(
        dependency=access_dependency(me, dep_id),
        actor=me,
        counter_date=payload.counter_date,
        reason=payload.reason,
    )


@router.post("/dependencies/{dep_id}/counter-answer", response={200: DependencyOut, **ERRORS})
def dependency_counter_answer(
    request: HttpRequest, dep_id: Id, payload: CounterAnswerIn
) -> Dependency:
    me = current_person(request)
    return services.dependency_counter_answer(
        dependency=access_dependency(me, dep_id), actor=me, accept=payload.accept
    )


@router.post("/dependencies/{dep_id}/deliver", response={200: DependencyOut, **ERRORS})
def dependency_deliver(request: HttpRequest, dep_id: Id) -> Dependency:
    me = current_person(request)
    return services.dependency_deliver(dependency=access_dependency(me, dep_id), actor=me)


@router.post("/dependencies/{dep_id}/miss", response={200: DependencyOut, **ERRORS})
def dependency_miss(request: HttpRequest, dep_id: Id, payload: ReasonIn) -> Dependency:
    me = current_person(request)
    return services.dependency_miss(
        dependency=access_dependency(me, dep_id), actor=me, reason=payload.reason
    )


@router.post("/dependencies/{dep_id}/cancel", response={200: DependencyOut, **ERRORS})
def dependency_cancel(request: HttpRequest, dep_id: Id) -> Dependency:
    me = current_person(request)
    return services.dependency_cancel(dependency=access_dependency(me, dep_id), actor=me)


# ---- asks and offers ------------------------------------------------------------------


class AskOfferIn(Schema):
    cycle_id: Id
    kind: AskOffer.Kind
    from_unit_id: Id
    to_unit_id: Id
    text: str = Field(..., min_length=1, max_length=5000)


class AskOfferOut(Schema):
    id: int
    cycle_id: int
    kind: str
    from_unit_id: int
    to_unit_id: int
    text: str
    author_id: int | None
    dependency_id: int | None


class AskToDependencyIn(Schema):
    requester_kr_id: Id | None = None
    requester_initiative_id: Id | None = None
    needed_by: dt.date
    effort: float = Field(0, ge=0)


@router.get("/asks-offers", response={200: Page[AskOfferOut], **ERRORS})
def ask_offer_list(
    request: HttpRequest,
    page: Query[PageParams],
    cycle_id: Id | None = None,
    unit_id: Id | None = None,
) -> dict[str, Any]:
    me = current_person(request)
    qs = AskOffer.objects.filter(organisation=me.organisation)
    if cycle_id is not None:
        qs = qs.filter(cycle_id=cycle_id)
    if unit_id is not None:
        qs = qs.filter(Q(from_unit_id=unit_id) | Q(to_unit_id=unit_id))
    return paginate(qs.order_by("created_at", "id"), page, list)


@router.post("/asks-offers", response={201: AskOfferOut, **ERRORS})
def ask_offer_create(request: HttpRequest, payload: AskOfferIn) -> tuple[int, AskOffer]:
    me = current_person(request)
    org = me.organisation
    cycle = resolve_in_org(Cycle, org, payload.cycle_id, "cycle_id")
    from_unit = resolve_in_org(Unit, org, payload.from_unit_id, "from_unit_id")
    to_unit = resolve_in_org(Unit, org, payload.to_unit_id, "to_unit_id")
    assert cycle is not None and from_unit is not None and to_unit is not None
    return 201, services.ask_offer_create(
        organisation=org,
        actor=me,
        cycle=cycle,
        kind=payload.kind,
        from_unit=from_unit,
        to_unit=to_unit,
        text=payload.text,
    )


@router.post("/asks-offers/{ask_id}/request", response={201: DependencyOut, **ERRORS})
def ask_to_dependency(
    request: HttpRequest, ask_id: Id, payload: AskToDependencyIn
) -> tuple[int, Dependency]:
    me = current_person(request)
    item = _item(me, payload.requester_kr_id, payload.requester_initiative_id, "requester")
    if item is None:
        raise ValidationFailed.on(
            "requester_kr_id", "name the key result or initiative that needs it"
        )
    dep = services.ask_to_dependency(
        ask=access_ask_offer(me, ask_id),
        actor=me,
        requester_item=item,
        needed_by=payload.needed_by,
        effort=payload.effort,
    )
    return 201, dep


# ---- peer reviews ---------------------------------------------------------------------


class ReviewRequestIn(Schema):
    unit_ids: list[Id] | None = Field(
        None, description="default: units it depends on and that depend on it"
    )


class ReviewNoteIn(Schema):
    kind: ReviewNote.Kind
    text: str = Field("", max_length=10000)


class ReviewNoteOut(Schema):
    id: int
    kind: str
    text: str
    author_id: int | None
    created_at: dt.datetime


class ReviewOut(Schema):
    id: int
    objective_id: int
    unit_id: int
    state: str
    requested_at: dt.datetime
    answered_at: dt.datetime | None
    notes: list[ReviewNoteOut]


def _review_out(r: Review) -> dict[str, Any]:
    return {
        "id": r.pk,
        "objective_id": r.objective_id,
        "unit_id": r.unit_id,
        "state": r.state,
        "requested_at": r.requested_at,
        "answered_at": r.answered_at,
        "notes": list(r.notes.all()),
    }


@router.post("/objectives/{objective_id}/reviews", response={201: list[ReviewOut], **ERRORS})
def review_request(
    request: HttpRequest, objective_id: Id, payload: ReviewRequestIn
) -> tuple[int, list[dict[str, Any]]]:
    me = current_person(request)
    objective = access_objective(me, objective_id)
    units = (
        None
        if payload.unit_ids is None
        else resolve_many_in_org(Unit, me.organisation, payload.unit_ids, "unit_ids")
    )
    services.review_request(objective=objective, actor=me, units=units)
    return 201, [_review_out(r) for r in objective.reviews.prefetch_related("notes")]


@router.get("/reviews", response={200: Page[ReviewOut], **ERRORS})
def review_list(
    request: HttpRequest,
    page: Query[PageParams],
    unit_id: Id | None = None,
    objective_id: Id | None = None,
    state: Review.State | None = None,
) -> dict[str, Any]:
    me = current_person(request)
    qs = Review.objects.filter(organisation=me.organisation).prefetch_related("notes")
    if unit_id is not None:
        qs = qs.filter(unit_id=unit_id)
    if objective_id is not None:
        qs = qs.filter(objective_id=objective_id)
    if state is not None:
        qs = qs.filter(state=state)
    return paginate(
        qs.order_by("requested_at", "id"), page, lambda rows: [_review_out(r) for r in rows]
    )


@router.post("/reviews/{review_id}/notes", response={201: ReviewOut, **ERRORS})
def review_respond(
    request: HttpRequest, review_id: Id, payload: ReviewNoteIn
) -> tuple[int, dict[str, Any]]:
    me = current_person(request)
    review = access_review(me, review_id)
    services.review_respond(review=review, actor=me, kind=payload.kind, text=payload.text)
    review.refresh_from_db()
    return 201, _review_out(review)


# ---- findings and graph ---------------------------------------------------------------


class FindingOut(Schema):
    id: int
    key: str
    code: str
    severity: str
    subject_type: str
    subject_id: int
    unit_ids: list[int]
    title: str
    explanation: list[str]
    suggestion: str
    links: list[tuple[str, int]]
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime


class FindingFilters(Schema):
    unit_id: Id | None = None
    code: str | None = None
    severity: str | None = Field(None, pattern="^(error|warning|info)$")
    subject_type: str | None = None
    subject_id: Id | None = None


def _finding_out(f: Any) -> dict[str, Any]:
    return {
        "id": f.pk,
        "key": f.key,
        "code": f.code,
        "severity": f.severity,
        "subject_type": f.subject_type,
        "subject_id": f.subject_id,
        "unit_ids": [u.pk for u in f.units.all()],
        "title": f.title,
        "explanation": f.explanation,
        "suggestion": f.suggestion,
        "links": [tuple(x) for x in f.links],
        "first_seen_at": f.first_seen_at,
        "last_seen_at": f.last_seen_at,
    }


@router.get("/findings", response={200: Page[FindingOut], **ERRORS})
def finding_list(
    request: HttpRequest, filters: Query[FindingFilters], page: Query[PageParams]
) -> dict[str, Any]:
    me = current_person(request)
    qs = selectors.findings_query(me.organisation, me)
    if filters.unit_id is not None:
        qs = qs.filter(units__id=filters.unit_id)
    if filters.code:
        qs = qs.filter(code=filters.code)
    if filters.severity:
        qs = qs.filter(severity=filters.severity)
    if filters.subject_type:
        qs = qs.filter(subject_type=filters.subject_type)
    if filters.subject_id is not None:
        qs = qs.filter(subject_id=filters.subject_id)
    return paginate(qs, page, lambda rows: [_finding_out(f) for f in rows])


class RefreshOut(Schema):
    findings: int


@router.post("/findings/refresh", response={200: RefreshOut, **ERRORS})
def finding_refresh(request: HttpRequest) -> dict[str, int]:
    me = current_person(request)
    return {"findings": len(services.findings_refresh_full(me.organisation))}


class GraphNode(Schema):
    id: str
    type: str
    label: str
    unit_id: Id | None
    status: str | None
    at_risk: bool = Field(..., description="a finding marks it at risk upstream")
    problem: bool = Field(
        ..., description="a finding on the item itself (likely miss, off track, declined, ...)"
    )


class GraphEdge(Schema):
    source: str
    target: str
    kind: str
    state: str
    dependency_id: Id
    label: str
    problem: bool


class GraphOut(Schema):
    nodes: list[GraphNode]
    edges: list[GraphEdge]


@router.get("/dependency-graph", response={200: GraphOut, **ERRORS})
def dependency_graph(request: HttpRequest, unit_id: Id | None = None) -> dict[str, Any]:
    me = current_person(request)
    return selectors.dependency_graph(me.organisation, unit_id=unit_id)
