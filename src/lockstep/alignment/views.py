"""Pages of the alignment engine: findings, dependencies and their map, peer reviews, asks
and offers.

Every form posts to its own address. A plain post answers with POST/redirect/GET and a
message; an htmx post gets back the part of the page it changed. A refused step (not
allowed, wrong state, a missing field) is shown next to its form and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Case, Count, IntegerField, Prefetch, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from lockstep.activity.models import ActivityEvent
from lockstep.alignment import selectors, services
from lockstep.alignment.access import access_ask_offer, access_dependency, access_review
from lockstep.alignment.map_drawing import (
    LEGEND_ORDER,
    STATE_SHAPES,
    STATE_WORDS,
    MapFilters,
    dependency_map_drawing,
)
from lockstep.alignment.models import AskOffer, Dependency, Finding, Review, ReviewNote
from lockstep.core.findings import CATALOGUE
from lockstep.core.snapshot import DependencyState
from lockstep.errors import (
    Conflict,
    Forbidden,
    LockstepError,
    NotFound,
    Problems,
    ValidationFailed,
)
from lockstep.goals.models import KPI, Cycle, Initiative, KeyResult, Objective
from lockstep.keys import is_id
from lockstep.org.access import resolve_in_org, resolve_many_in_org
from lockstep.org.models import Membership, Organisation, Person, Unit
from lockstep.org.roles import WRITERS
from lockstep.org.selectors import indented_units
from lockstep.org.views import today_in
from lockstep.web.templatetags.lockstep_ui import long_day
from lockstep.web.views import page_context, person_page

S = DependencyState
SEVERITIES = ("error", "warning", "info")
# A page of findings; more than this and the filters are the way to find the rest.
FINDINGS_SHOWN = 200
HISTORY_SHOWN = 20
# The refusals a form shows next to itself; anything else is a bug and a 500.
REFUSALS = (ValidationFailed, Forbidden, Conflict)


def _from_htmx(request: HttpRequest) -> bool:
    # HtmxMiddleware sets request.htmx; it is falsy for a plain form post.
    return bool(getattr(request, "htmx", False))


def _int_or_none(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if is_id(raw) else None


# ---- forms ------------------------------------------------------------------------------


@dataclass
class FormState:
    """One form as the page shows it: fresh, or refused with what was posted and why."""

    errors: dict[str, str] = field(default_factory=dict)
    problem: str = ""
    data: QueryDict | None = None

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.problem)

    @property
    def first_error(self) -> str:
        return next(iter(self.errors), "")

    @classmethod
    def refused(cls, exc: LockstepError, data: QueryDict, inputs: Mapping[str, str]) -> FormState:
        """`inputs` maps a service's field name to the form's input; others become the problem."""
        errors: dict[str, str] = {}
        other: list[str] = []
        for f in exc.fields:
            name = inputs.get(f.field)
            if name and name not in errors:
                errors[name] = f.message
            else:
                other.append(f"{f.field.replace('_', ' ')} {f.message}")
        if not exc.fields:
            other.append(exc.message)
        return cls(errors=errors, problem="; ".join(other), data=data)


def _date_input(post: QueryDict, name: str, problems: Problems) -> dt.date | None:
    raw = post.get(name, "").strip()
    if not raw:
        problems.add(name, "enter a date")
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        problems.add(name, "enter a date as YYYY-MM-DD")
        return None


def _id_input(post: QueryDict, name: str, problems: Problems, *, required: bool) -> int | None:
    raw = post.get(name, "").strip()
    if not raw:
        if required:
            problems.add(name, "choose one from the list")
        return None
    if not is_id(raw):
        problems.add(name, "choose one from the list")
        return None
    return int(raw)


# ---- whose units -------------------------------------------------------------------------


@dataclass
class UnitScope:
    """The units a page speaks for: the person's own, or for an org admin any chosen one."""

    me: Person
    mine: list[Unit]
    leads: set[int]
    works: set[int]  # units the person leads or is a member of (not only a viewer)
    units: list[Unit]
    options: list[tuple[Unit, str]]
    choice: str  # "" (my units), "all", or a unit id

    @property
    def ids(self) -> set[int]:
        return {u.pk for u in self.units}

    @property
    def mine_ids(self) -> set[int]:
        return {u.pk for u in self.mine}

    @property
    def picker(self) -> bool:
        """Whether there is anything to choose between."""
        return self.me.is_org_admin or len(self.mine) > 1

    @property
    def label(self) -> str:
        if self.choice == "all":
            return "all units"
        if len(self.units) == 1:
            return self.units[0].name
        return "your units"

    def can_lead(self, unit_id: int) -> bool:
        # The services decide; this only spares people forms they cannot use.
        return self.me.is_org_admin or unit_id in self.leads

    def is_member(self, unit_id: int) -> bool:
        return self.me.is_org_admin or unit_id in self.works


def _unit_scope(me: Person, raw_choice: str) -> UnitScope:
    memberships = list(
        Membership.objects.filter(person=me, unit__archived_at__isnull=True)
        .select_related("unit")
        .order_by("unit__name")
    )
    mine = [m.unit for m in memberships]
    leads = {m.unit_id for m in memberships if m.role == Membership.Role.LEADER}
    works = {m.unit_id for m in memberships if m.role in WRITERS}
    wanted = _int_or_none(raw_choice)
    if me.is_org_admin:
        every = list(
            Unit.objects.filter(organisation=me.organisation, archived_at__isnull=True).order_by(
                "name"
            )
        )
        by_id = {u.pk: u for u in every}
        options = indented_units(every)
        if wanted in by_id:
            units, choice = [by_id[wanted]], str(wanted)
        elif raw_choice == "all" or not mine:
            units, choice = every, "all"
        else:
            units, choice = mine, ""
    else:
        options = [(u, "") for u in mine]
        chosen = [u for u in mine if u.pk == wanted]
        units, choice = (chosen, str(wanted)) if chosen else (mine, "")
    return UnitScope(
        me=me, mine=mine, leads=leads, works=works, units=units, options=options, choice=choice
    )


def _live_krs(org: Organisation, unit_ids: Iterable[int]) -> QuerySet[KeyResult]:
    """Key results of these units that can still take work: not archived, cycle not over."""
    return (
        KeyResult.objects.filter(
            organisation=org,
            owner_unit_id__in=list(unit_ids),
            archived_at__isnull=True,
            objective__archived_at__isnull=True,
            objective__cycle__end__gte=today_in(org),
        )
        .exclude(objective__state=Objective.State.CLOSED)
        .select_related("objective__cycle", "owner_unit")
        .order_by("owner_unit__name", "objective__cycle__start", "objective__title", "pk")
    )


def _kr_groups(krs: Iterable[KeyResult]) -> list[tuple[str, list[KeyResult]]]:
    """Key results grouped under their unit's name, for <optgroup>s."""
    groups: dict[str, list[KeyResult]] = {}
    for kr in krs:
        groups.setdefault(kr.owner_unit.name if kr.owner_unit else "No unit", []).append(kr)
    return list(groups.items())


# ---- findings ---------------------------------------------------------------------------

SEVERITY_WORDS = {"error": "errors", "warning": "warnings", "info": "notes"}


@dataclass
class ItemLink:
    """An item a finding names: what kind, its title, its page (if it has one), its unit."""

    kind: str
    label: str
    url: str = ""
    unit_id: int | None = None


@dataclass
class FindingCard:
    finding: Finding
    means: str
    links: list[ItemLink]
    map_url: str = ""  # the dependency map around it, for findings about dependency chains


LINK_KINDS = {
    "kr": "Key result",
    "objective": "Objective",
    "dependency": "Dependency",
    "unit": "Unit",
    "initiative": "Initiative",
    "kpi": "KPI",
}


def _item_links(
    org: Organisation, refs: set[tuple[str, int]], units: list[Unit]
) -> dict[tuple[str, int], ItemLink]:
    """Titles and pages of the items findings name: one query per kind of item named."""
    wanted: dict[str, list[int]] = defaultdict(list)
    for kind, pk in refs:
        wanted[kind].append(pk)
    out: dict[tuple[str, int], ItemLink] = {}
    if wanted["kr"]:
        for pk, title, oid, unit_id in KeyResult.objects.filter(
            organisation=org, pk__in=wanted["kr"]
        ).values_list("pk", "title", "objective_id", "owner_unit_id"):
            url = reverse("objective-detail", args=[oid]) + f"#kr-{pk}"
            out[("kr", pk)] = ItemLink(LINK_KINDS["kr"], title, url, unit_id)
    if wanted["objective"]:
        for pk, title in Objective.objects.filter(
            organisation=org, pk__in=wanted["objective"]
        ).values_list("pk", "title"):
            url = reverse("objective-detail", args=[pk])
            out[("objective", pk)] = ItemLink(LINK_KINDS["objective"], title, url)
    if wanted["dependency"]:
        for pk, title, unit_id in Dependency.objects.filter(
            organisation=org, pk__in=wanted["dependency"]
        ).values_list("pk", "title", "requester_unit_id"):
            url = reverse("dependency-detail", args=[pk])
            out[("dependency", pk)] = ItemLink(LINK_KINDS["dependency"], title, url, unit_id)
    for u in units:
        if u.pk in wanted["unit"]:
            out[("unit", u.pk)] = ItemLink(
                LINK_KINDS["unit"], u.name, reverse("unit-detail", args=[u.pk]), u.pk
            )
    if wanted["initiative"]:
        for pk, title, unit_id in Initiative.objects.filter(
            organisation=org, pk__in=wanted["initiative"]
        ).values_list("pk", "title", "owner_unit_id"):
            out[("initiative", pk)] = ItemLink(LINK_KINDS["initiative"], title, unit_id=unit_id)
    if wanted["kpi"]:
        for pk, name in KPI.objects.filter(organisation=org, pk__in=wanted["kpi"]).values_list(
            "pk", "name"
        ):
            out[("kpi", pk)] = ItemLink(LINK_KINDS["kpi"], name)
    return out


# Findings about how units depend on each other: the map shows what they are about.
MAP_CODES = frozenset({*selectors.RISK_CODES, "SINGLE_POINT_OF_FAILURE", "OVER_CAPACITY"})


def _finding_map_url(f: Finding, links: Mapping[tuple[str, int], ItemLink]) -> str:
    """The dependency map around a finding about dependencies, centred on its subject's unit."""
    if f.code not in MAP_CODES:
        return ""
    subject = links.get((f.subject_type, int(f.subject_id)))
    unit = subject.unit_id if subject else None
    return reverse("dependency-map") + (f"?{urlencode({'unit': unit})}" if unit else "")


def _finding_filters(data: QueryDict) -> dict[str, str]:
    """The finding filters a request names, keeping only values the page knows."""
    out: dict[str, str] = {}
    unit = _int_or_none(data.get("unit"))
    if unit is not None:
        out["unit"] = str(unit)
    code, severity = data.get("code", ""), data.get("severity", "")
    if code in CATALOGUE:
        out["code"] = code
    if severity in SEVERITIES:
        out["severity"] = severity
    return out


def _error_count(org: Organisation) -> int:
    return Finding.objects.filter(organisation=org, severity=Finding.Severity.ERROR).count()


@person_page
def findings(request: HttpRequest, me: Person) -> HttpResponse:
    org = me.organisation
    chosen = _finding_filters(request.GET)
    hidden = selectors.findings_hidden(org, me)
    counts = dict(
        Finding.objects.filter(organisation=org)
        .filter(hidden)
        .values_list("severity")
        .annotate(n=Count("id"))
        .values_list("severity", "n")
    )
    rows = selectors.findings_query(org).filter(hidden)
    if "unit" in chosen:
        rows = rows.filter(units__id=int(chosen["unit"]))
    if "code" in chosen:
        rows = rows.filter(code=chosen["code"])
    if "severity" in chosen:
        rows = rows.filter(severity=chosen["severity"])
    matching = rows.count() if chosen else sum(counts.values())
    shown = list(rows[:FINDINGS_SHOWN])
    units = list(Unit.objects.filter(organisation=org).order_by("name"))
    links = _item_links(org, {(str(k), int(pk)) for f in shown for k, pk in f.links}, units)
    cards = [
        FindingCard(
            finding=f,
            means=CATALOGUE[f.code][1] if f.code in CATALOGUE else "",
            links=[
                links.get((str(k), int(pk)))
                or ItemLink(LINK_KINDS.get(str(k), str(k)), f"{k} {pk} (no longer there)")
                for k, pk in f.links
            ],
            map_url=_finding_map_url(f, links),
        )
        for f in shown
    ]
    live_units = [u for u in units if u.archived_at is None]
    context = page_context(
        me,
        "findings",
        cards=cards,
        counts=[(s, counts.get(s, 0), SEVERITY_WORDS[s]) for s in SEVERITIES],
        total=sum(counts.values()),
        matching=matching,
        capped=matching > len(shown),
        chosen=chosen,
        query=urlencode(chosen),
        unit_options=indented_units(live_units),
        unit_choice=_int_or_none(chosen.get("unit")),
        filtered_unit=next((u for u in units if str(u.pk) == chosen.get("unit")), None),
        codes=sorted(CATALOGUE),
        severities=SEVERITIES,
        finding_errors=counts.get("error", 0),
    )
    return render(request, "alignment/findings.html", context)


@require_POST
@person_page
def findings_refresh(request: HttpRequest, me: Person) -> HttpResponse:
    found = services.findings_refresh_full(me.organisation)
    errors = sum(1 for f in found if f.severity.value == "error")
    messages.success(
        request,
        f"Findings recomputed: {len(found)} found, {errors} error{'' if errors == 1 else 's'}.",
    )
    chosen = _finding_filters(request.POST)
    return redirect(reverse("findings") + (f"?{urlencode(chosen)}" if chosen else ""))


@person_page
def findings_badge(request: HttpRequest, me: Person) -> HttpResponse:
    """The navigation's error count, for pages whose view did not count it already."""
    return render(
        request,
        "alignment/_findings_badge.html",
        {"finding_errors": _error_count(me.organisation)},
    )


# ---- dependencies -----------------------------------------------------------------------

ACTIONS = ("accept", "decline", "counter", "counter-answer", "deliver", "miss", "cancel")
CLOSED = (S.DECLINED, S.DELIVERED, S.MISSED, S.CANCELLED)
# Which steps each part of the page offers; the services decide who may take them.
SECTION_ACTIONS: dict[str, frozenset[str]] = {
    "waiting": frozenset({"accept", "decline", "counter"}),
    "counters": frozenset({"counter-answer", "cancel"}),
    "owes": frozenset({"deliver", "miss"}),
    "owed": frozenset({"cancel"}),
    "history": frozenset(),
}
# The service's field names → the form's inputs, per step.
ACTION_INPUTS: dict[str, dict[str, str]] = {
    "accept": {"provider_item": "provider_kr", "provider_kr": "provider_kr"},
    "decline": {"reason": "reason"},
    "counter": {"counter_date": "counter_date", "reason": "reason"},
    "counter-answer": {"accept": "accept"},
    "deliver": {},
    "miss": {"reason": "reason"},
    "cancel": {},
}
REQUEST_INPUTS = {
    "requester_item": "requester_kr",
    "requester_kr": "requester_kr",
    "provider_unit": "provider_unit",
    "title": "title",
    "needed_by": "needed_by",
    "effort": "effort",
    "description": "description",
}
DEPENDENCY_VERBS = {
    "dependency.requested": "asked for it",
    "dependency.accepted": "accepted it",
    "dependency.declined": "declined it",
    "dependency.countered": "offered another date",
    "dependency.counter_accepted": "took the new date",
    "dependency.counter_rejected": "turned the new date down; it is asked for again",
    "dependency.delivered": "marked it delivered",
    "dependency.missed": "marked it missed",
    "dependency.cancelled": "withdrew the request",
}


def _form_key(action: str) -> str:
    # Templates look forms up by attribute, and "counter-answer" is no name there.
    return action.replace("-", "_")


def _fresh_forms() -> dict[str, FormState]:
    return {_form_key(a): FormState() for a in ACTIONS}


def _actions(dep: Dependency, scope: UnitScope) -> set[str]:
    """The steps this person could take on the dependency now."""
    out: set[str] = set()
    if dep.state == S.REQUESTED and scope.can_lead(dep.provider_unit_id):
        out |= {"accept", "decline", "counter"}
    if dep.state == S.COUNTERED and scope.is_member(dep.requester_unit_id):
        out.add("counter-answer")
    if dep.state == S.ACCEPTED:
        if scope.is_member(dep.provider_unit_id):
            out |= {"deliver", "miss"}
        elif scope.is_member(dep.requester_unit_id):
            out.add("miss")
    if dep.state in (S.REQUESTED, S.COUNTERED, S.ACCEPTED) and scope.is_member(
        dep.requester_unit_id
    ):
        out.add("cancel")
    return out


@dataclass
class DepRow:
    """A dependency as one part of the page shows it, with the forms it offers there."""

    dep: Dependency
    section: str
    actions: set[str]
    findings: list[Finding]
    provider_krs: list[KeyResult]
    forms: dict[str, FormState]

    @property
    def prefix(self) -> str:
        return f"d{self.dep.pk}-{self.section}"

    @property
    def dom_id(self) -> str:
        return f"dep-{self.section}-{self.dep.pk}"


@dataclass
class Failed:
    """A refused form: which dependency (if any), which step, and its state."""

    dependency_id: int | None
    action: str
    form: FormState
    title: str = ""

    @property
    def message(self) -> str:
        return "; ".join(m for m in (self.form.problem, *self.form.errors.values()) if m)


def _dependencies(org: Organisation) -> QuerySet[Dependency]:
    return Dependency.objects.filter(organisation=org).select_related(
        "requester_unit",
        "provider_unit",
        "requester_kr",
        "provider_kr",
        "requester_initiative",
        "provider_initiative",
        "requested_by",
        "answered_by",
    )


def _board(me: Person, scope: UnitScope, *, failed: Failed | None = None) -> dict[str, Any]:
    """Everything the dependency board shows for the units in scope."""
    org = me.organisation
    ids = scope.ids
    mine = Q(requester_unit_id__in=ids) | Q(provider_unit_id__in=ids)
    live = list(
        _dependencies(org).filter(mine).exclude(state__in=CLOSED).order_by("needed_by", "id")
    )
    history = list(
        _dependencies(org)
        .filter(mine, state__in=CLOSED)
        .order_by(Coalesce("closed_at", "answered_at", "requested_at").desc(), "-id")[
            :HISTORY_SHOWN
        ]
    )
    about = selectors.dependency_findings(org, [d.pk for d in [*live, *history]], me)
    krs = list(_live_krs(org, ids))
    krs_of: dict[int, list[KeyResult]] = defaultdict(list)
    for kr in krs:
        if kr.owner_unit_id is not None:
            krs_of[kr.owner_unit_id].append(kr)

    placed = False

    def row(dep: Dependency, section: str) -> DepRow:
        nonlocal placed
        actions = _actions(dep, scope) & SECTION_ACTIONS[section]
        forms = _fresh_forms()
        if failed and failed.dependency_id == dep.pk and failed.action in actions:
            forms[_form_key(failed.action)] = failed.form
            placed = True
        return DepRow(
            dep=dep,
            section=section,
            actions=actions,
            findings=about.get(dep.pk, []),
            provider_krs=krs_of.get(dep.provider_unit_id, []),
            forms=forms,
        )

    def part(section: str, keep: Callable[[Dependency], bool]) -> list[DepRow]:
        return [row(d, section) for d in live if keep(d)]

    sections = {
        "waiting": part("waiting", lambda d: d.provider_unit_id in ids and d.state == S.REQUESTED),
        "counters": part(
            "counters", lambda d: d.requester_unit_id in ids and d.state == S.COUNTERED
        ),
        "owes": part(
            "owes",
            lambda d: d.provider_unit_id in ids and d.state in (S.ACCEPTED, S.COUNTERED),
        ),
        "owed": part(
            "owed",
            lambda d: d.requester_unit_id in ids and d.state in (S.REQUESTED, S.ACCEPTED),
        ),
        "history": [row(d, "history") for d in history],
    }
    request_form = FormState()
    if failed and failed.action == "request":
        request_form, placed = failed.form, True
    units = list(Unit.objects.filter(organisation=org, archived_at__isnull=True).order_by("name"))
    return {
        "scope": scope,
        "sections": sections,
        "requester_krs": _kr_groups(kr for kr in krs if scope.is_member(kr.owner_unit_id or 0)),
        "provider_units": units,
        "request_form": request_form,
        # A refusal that has no form on the board (the step is not offered here) shows on top.
        "board_problem": failed if failed and not placed else None,
    }


def _dependencies_page(
    request: HttpRequest,
    me: Person,
    choice: str,
    *,
    failed: Failed | None = None,
    status: int = 200,
) -> HttpResponse:
    scope = _unit_scope(me, choice)
    context = page_context(me, "dependencies", **_board(me, scope, failed=failed))
    return render(request, "alignment/dependencies.html", context, status=status)


def _board_fragment(
    request: HttpRequest,
    me: Person,
    choice: str,
    *,
    failed: Failed | None = None,
    said: str = "",
    status: int = 200,
) -> HttpResponse:
    """The board alone, for htmx to swap in; `said` is what the step did, shown on top."""
    scope = _unit_scope(me, choice)
    context = page_context(me, "dependencies", said=said, **_board(me, scope, failed=failed))
    return render(request, "alignment/_dependency_board.html", context, status=status)


@person_page
def dependencies(request: HttpRequest, me: Person) -> HttpResponse:
    return _dependencies_page(request, me, request.GET.get("unit", ""))


def _board_url(choice: str) -> str:
    return reverse("dependencies") + (f"?{urlencode({'unit': choice})}" if choice else "")


def _take_step(action: str, dep: Dependency, me: Person, post: QueryDict) -> str:
    """Run one lifecycle step from its form; the sentence that says what happened."""
    org = me.organisation
    problems = Problems()
    requester, provider = dep.requester_unit.name, dep.provider_unit.name
    if action == "accept":
        kr_id = _id_input(post, "provider_kr", problems, required=False)
        problems.raise_any()
        item = resolve_in_org(KeyResult, org, kr_id, "provider_kr")
        done = services.dependency_accept(dependency=dep, actor=me, provider_item=item)
        by = f", delivered through “{item.title}”" if item else ""
        return f"Accepted “{done.title}” for {requester}{by}."
    if action == "decline":
        done = services.dependency_decline(dependency=dep, actor=me, reason=post.get("reason", ""))
        return f"Declined “{done.title}”; {requester} sees your reason."
    if action == "counter":
        when = _date_input(post, "counter_date", problems)
        problems.raise_any()
        assert when is not None
        done = services.dependency_counter(
            dependency=dep, actor=me, counter_date=when, reason=post.get("reason", "")
        )
        return f"Offered {long_day(when)} for “{done.title}”; {requester} answers next."
    if action == "counter-answer":
        raw = post.get("accept", "")
        if raw not in ("0", "1"):
            raise ValidationFailed.on("accept", "take the new date or keep asking for yours")
        done = services.dependency_counter_answer(dependency=dep, actor=me, accept=raw == "1")
        if raw == "1":
            return f"Took {long_day(done.needed_by)} for “{done.title}”; {provider} owes it then."
        return f"Kept asking {provider} for “{done.title}” by {long_day(done.needed_by)}."
    if action == "deliver":
        done = services.dependency_deliver(dependency=dep, actor=me)
        return f"Marked “{done.title}” delivered to {requester}."
    if action == "miss":
        done = services.dependency_miss(dependency=dep, actor=me, reason=post.get("reason", ""))
        return f"Marked “{done.title}” missed."
    done = services.dependency_cancel(dependency=dep, actor=me)
    return f"Withdrew the request “{done.title}” to {provider}."


@require_POST
@person_page
def dependency_act(
    request: HttpRequest, me: Person, dependency_id: int, action: str
) -> HttpResponse:
    dep = access_dependency(me, dependency_id)
    if action not in ACTIONS:
        raise NotFound(f"no step {action!r}")
    dep = _dependencies(me.organisation).get(pk=dep.pk)
    choice = request.POST.get("unit", "")
    on_detail = request.POST.get("next") == "detail"
    try:
        said = _take_step(action, dep, me, request.POST)
    except REFUSALS as exc:
        failed = Failed(
            dep.pk, action, FormState.refused(exc, request.POST, ACTION_INPUTS[action]), dep.title
        )
        if _from_htmx(request) and not on_detail:
            # htmx swaps 422 answers only (see base.html), so every refusal comes as one.
            return _board_fragment(request, me, choice, failed=failed, status=422)
        if on_detail:
            return _detail_page(request, me, dep.pk, failed=failed, status=exc.status)
        return _dependencies_page(request, me, choice, failed=failed, status=exc.status)
    if _from_htmx(request) and not on_detail:
        return _board_fragment(request, me, choice, said=said)
    messages.success(request, said)
    if on_detail:
        return redirect("dependency-detail", dependency_id=dep.pk)
    return redirect(_board_url(choice))


def _request_input(post: QueryDict, org: Organisation) -> dict[str, Any]:
    """Turn the request form into dependency_request's arguments, naming every bad field."""
    problems = Problems()
    kr_id = _id_input(post, "requester_kr", problems, required=True)
    unit_id = _id_input(post, "provider_unit", problems, required=True)
    needed_by = _date_input(post, "needed_by", problems)
    raw_effort = post.get("effort", "").strip()
    effort = 0.0
    if raw_effort:
        try:
            effort = float(raw_effort)
        except ValueError:
            effort = math.nan
        if not math.isfinite(effort):
            problems.add("effort", "must be a number of hours (or jobs)")
    title = post.get("title", "")
    if not title.strip():
        problems.add("title", "say what you need")
    problems.raise_any()
    return {
        "requester_item": resolve_in_org(KeyResult, org, kr_id, "requester_kr"),
        "provider_unit": resolve_in_org(Unit, org, unit_id, "provider_unit"),
        "title": title,
        "needed_by": needed_by,
        "effort": effort,
        "description": post.get("description", ""),
    }


@require_POST
@person_page
def dependency_request(request: HttpRequest, me: Person) -> HttpResponse:
    choice = request.POST.get("unit", "")
    try:
        dep = services.dependency_request(
            organisation=me.organisation, actor=me, **_request_input(request.POST, me.organisation)
        )
    except REFUSALS as exc:
        failed = Failed(None, "request", FormState.refused(exc, request.POST, REQUEST_INPUTS))
        if _from_htmx(request):
            return _board_fragment(request, me, choice, failed=failed, status=422)
        return _dependencies_page(request, me, choice, failed=failed, status=exc.status)
    said = f"Asked {dep.provider_unit.name} for “{dep.title}” by {long_day(dep.needed_by)}."
    if _from_htmx(request):
        return _board_fragment(request, me, choice, said=said)
    messages.success(request, said)
    return redirect(_board_url(choice))


@dataclass
class EventLine:
    event: ActivityEvent
    phrase: str
    detail: str


def _event_lines(org: Organisation, dep: Dependency) -> list[EventLine]:
    events = ActivityEvent.objects.filter(
        organisation=org, object_type="dependency", object_id=dep.pk
    ).select_related("actor")
    out = []
    for e in events:
        after = e.after or {}
        bits = []
        if after.get("counter_date"):
            bits.append(f"new date {long_day(dt.date.fromisoformat(after['counter_date']))}")
        elif e.verb == "dependency.counter_accepted" and after.get("needed_by"):
            bits.append(f"now needed by {long_day(dt.date.fromisoformat(after['needed_by']))}")
        if after.get("reason"):
            bits.append(f"“{after['reason']}”")
        out.append(
            EventLine(e, DEPENDENCY_VERBS.get(e.verb, e.verb.replace(".", " ")), "; ".join(bits))
        )
    return out


def _detail_page(
    request: HttpRequest,
    me: Person,
    dependency_id: int,
    *,
    failed: Failed | None = None,
    status: int = 200,
) -> HttpResponse:
    org = me.organisation
    dep = access_dependency(me, dependency_id)
    dep = _dependencies(org).get(pk=dep.pk)
    scope = _unit_scope(me, "")
    forms = _fresh_forms()
    if failed is not None:
        forms[_form_key(failed.action)] = failed.form
    row = DepRow(
        dep=dep,
        section="detail",
        actions=_actions(dep, scope),
        findings=selectors.dependency_findings(org, [dep.pk], me).get(dep.pk, []),
        provider_krs=list(_live_krs(org, [dep.provider_unit_id])),
        forms=forms,
    )
    placed = failed is not None and failed.action in row.actions
    context = page_context(
        me,
        "dependencies",
        row=row,
        dep=dep,
        events=_event_lines(org, dep),
        board_problem=failed if failed and not placed else None,
    )
    return render(request, "alignment/dependency_detail.html", context, status=status)


@person_page
def dependency_detail(request: HttpRequest, me: Person, dependency_id: int) -> HttpResponse:
    return _detail_page(request, me, dependency_id)


# ---- dependency map ---------------------------------------------------------------------

# The most dependencies the map lists, the soonest needed; the drawing draws none of a
# list cut short (see map_drawing.MOST_LINES_DRAWN).
DEPENDENCIES_LISTED = 300

MAP_SHOW_LABELS = {
    "open": "Open (not delivered)",
    "all": "All but withdrawn",
    **{s: STATE_WORDS[s] for s in selectors.MAP_SHOWS if s in STATE_WORDS},
}


def _map_filters(data: QueryDict, cycles: list[Cycle], units: list[Unit]) -> MapFilters:
    """The map's filters from a request; an id of another organisation's row is a 404."""
    ignored: list[str] = []

    def pick(name: str, rows: list[Any], what: str) -> Any:
        raw = data.get(name, "").strip()
        if not raw or raw == "all":
            return None
        if not is_id(raw):
            ignored.append(f"“{raw}” is not a {what}, so every {what} is shown")
            return None
        found = next((r for r in rows if r.pk == int(raw)), None)
        if found is None:
            raise NotFound(f"{what} {raw} not found")
        return found

    cycle = pick("cycle", cycles, "cycle")
    unit = pick("unit", units, "unit")
    show = data.get("state", "").strip() or "open"
    if show not in selectors.MAP_SHOWS:
        ignored.append(f"“{show}” is not a state the map knows, so open dependencies are shown")
        show = "open"
    return MapFilters(cycle=cycle, show=show, unit=unit, ignored=ignored)


@person_page
def dependency_map(request: HttpRequest, me: Person) -> HttpResponse:
    org = me.organisation
    cycles = list(Cycle.objects.filter(organisation=org).order_by("-start", "key"))
    units = list(Unit.objects.filter(organisation=org).order_by("name"))
    filters = _map_filters(request.GET, cycles, units)
    found = selectors.dependency_map(
        org,
        today=today_in(org),
        show=filters.show,
        needed_from=filters.cycle.start if filters.cycle else None,
        needed_to=filters.cycle.end if filters.cycle else None,
        unit_id=filters.unit.pk if filters.unit else None,
        limit=DEPENDENCIES_LISTED,
    )
    drawing = dependency_map_drawing(found, filters)
    live = [u for u in units if u.archived_at is None]
    context = page_context(
        me,
        "dependencies",
        filters=filters,
        found=found,
        drawing=drawing,
        nodes=drawing.nodes,
        edges=drawing.edges,
        layout=drawing.layout,
        pairs=drawing.pairs,
        unit_count=len(found.unit_names),
        at_risk=sum(1 for d in found.dependencies if d.at_risk),
        unit_page=reverse("unit-detail", args=[filters.unit.pk]) if filters.unit else "",
        every_unit_url=filters.url(unit=None),
        cycles=cycles,
        unit_options=indented_units(live),
        shows=[(s, MAP_SHOW_LABELS[s]) for s in selectors.MAP_SHOWS],
        legend=[(s, STATE_SHAPES[s], STATE_WORDS[s]) for s in LEGEND_ORDER],
        finding_errors=_error_count(org),
    )
    # The filter form asks htmx for the result alone; anything else (a link, a reload, htmx
    # restoring history it no longer holds) gets the whole page.
    htmx = getattr(request, "htmx", None)
    swap = (
        htmx is not None
        and bool(htmx)
        and htmx.target == "depmap-result"
        and not htmx.history_restore_request
    )
    template = "alignment/_map_result.html" if swap else "alignment/dependency_map.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


# ---- peer reviews -----------------------------------------------------------------------

REVIEW_INPUTS = {"kind": "kind", "text": "text"}
SEND_INPUTS = {"objective": "objective", "units": "units"}
NOTE_SAID = {
    ReviewNote.Kind.COMMENT: "Comment sent",
    ReviewNote.Kind.PROPOSAL: "Proposed change sent",
    ReviewNote.Kind.ENDORSEMENT: "Endorsed",
}


@dataclass
class ReviewCard:
    review: Review
    form: FormState
    can_endorse: bool

    @property
    def kind_choice(self) -> str:
        if self.form.data is not None:
            return str(self.form.data.get("kind", ""))
        return ReviewNote.Kind.COMMENT


def _notes() -> Prefetch[Any]:
    return Prefetch("notes", queryset=ReviewNote.objects.select_related("author"))


def _inbox(org: Organisation) -> QuerySet[Review]:
    """Reviews with what their cards show: the objective, its owner and KRs, the notes."""
    pending_first = Case(
        When(state=Review.State.PENDING, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    return (
        Review.objects.filter(organisation=org, objective__archived_at__isnull=True)
        .select_related("objective__owner_unit", "objective__cycle", "unit")
        .prefetch_related(
            "objective__contributors",
            Prefetch(
                "objective__key_results",
                queryset=KeyResult.objects.filter(archived_at__isnull=True)
                .select_related("owner_unit")
                .order_by("pk"),
            ),
            _notes(),
        )
        .annotate(pending_first=pending_first)
        .order_by("pending_first", "-requested_at", "id")
    )


def _ours(scope_ids: Iterable[int]) -> Q:
    ids = list(scope_ids)
    return Q(owner_unit_id__in=ids) | Q(contributors__id__in=ids)


def _sendable(me: Person) -> QuerySet[Objective]:
    """Draft objectives this person may send for review: their units' (any, for an admin)."""
    drafts = Objective.objects.filter(
        organisation=me.organisation, state=Objective.State.DRAFT, archived_at__isnull=True
    )
    if me.is_org_admin:
        return drafts
    mine = Membership.objects.filter(person=me, role__in=WRITERS).values_list("unit_id", flat=True)
    return drafts.filter(_ours(mine)).distinct()


def _reviews_page(
    request: HttpRequest,
    me: Person,
    choice: str,
    *,
    failed_review: tuple[int, FormState] | None = None,
    send_form: FormState | None = None,
    status: int = 200,
) -> HttpResponse:
    org = me.organisation
    scope = _unit_scope(me, choice)
    inbox = []
    placed = False
    for review in _inbox(org).filter(unit_id__in=scope.ids):
        form = FormState()
        if failed_review and failed_review[0] == review.pk:
            form, placed = failed_review[1], True
        inbox.append(ReviewCard(review, form, scope.can_lead(review.unit_id)))
    drafts_reviewed = list(
        Objective.objects.filter(organisation=org, archived_at__isnull=True, reviews__isnull=False)
        .filter(_ours(scope.ids))
        .distinct()
        .select_related("cycle", "owner_unit")
        .prefetch_related(
            Prefetch(
                "reviews",
                queryset=Review.objects.select_related("unit").prefetch_related(_notes()),
            )
        )
        .order_by("-updated_at", "title")
    )
    sendable = _sendable(me)
    if scope.choice != "all":
        sendable = sendable.filter(_ours(scope.ids)).distinct()
    context = page_context(
        me,
        "reviews",
        scope=scope,
        inbox=inbox,
        pending=sum(1 for c in inbox if c.review.state == Review.State.PENDING),
        drafts_reviewed=drafts_reviewed,
        sendable=list(sendable.select_related("cycle", "owner_unit").order_by("title")),
        reviewer_units=list(
            Unit.objects.filter(organisation=org, archived_at__isnull=True).order_by("name")
        ),
        send_form=send_form or FormState(),
        chosen_units=set(send_form.data.getlist("units"))
        if send_form and send_form.data
        else set(),
        board_problem=failed_review[1] if failed_review and not placed else None,
    )
    return render(request, "alignment/reviews.html", context, status=status)


@person_page
def reviews(request: HttpRequest, me: Person) -> HttpResponse:
    return _reviews_page(request, me, request.GET.get("unit", ""))


def _reviews_url(choice: str, anchor: str = "") -> str:
    query = f"?{urlencode({'unit': choice})}" if choice else ""
    return reverse("reviews") + query + (f"#{anchor}" if anchor else "")


@require_POST
@person_page
def review_respond(request: HttpRequest, me: Person, review_id: int) -> HttpResponse:
    review = access_review(me, review_id)
    choice = request.POST.get("unit", "")
    kind = request.POST.get("kind", "")
    try:
        services.review_respond(
            review=review, actor=me, kind=kind, text=request.POST.get("text", "")
        )
    except REFUSALS as exc:
        form = FormState.refused(exc, request.POST, REVIEW_INPUTS)
        if _from_htmx(request):
            return _review_fragment(request, me, review.pk, form, status=422)
        return _reviews_page(
            request, me, choice, failed_review=(review.pk, form), status=exc.status
        )
    said = f"{NOTE_SAID[ReviewNote.Kind(kind)]} on “{review.objective.title}”."
    if _from_htmx(request):
        return _review_fragment(request, me, review.pk, FormState(), said=said)
    messages.success(request, said)
    return redirect(_reviews_url(choice, f"review-{review.pk}"))


def _review_fragment(
    request: HttpRequest,
    me: Person,
    review_id: int,
    form: FormState,
    *,
    said: str = "",
    status: int = 200,
) -> HttpResponse:
    review = _inbox(me.organisation).filter(pk=review_id).first()
    if review is None:  # its objective was archived meanwhile
        raise NotFound(f"review {review_id} not found")
    scope = _unit_scope(me, "")
    context = page_context(
        me,
        "reviews",
        card=ReviewCard(review, form, scope.can_lead(review.unit_id)),
        scope=scope,
        said=said,
        choice=request.POST.get("unit", ""),
    )
    return render(request, "alignment/_review_card.html", context, status=status)


@require_POST
@person_page
def review_request(request: HttpRequest, me: Person) -> HttpResponse:
    org = me.organisation
    choice = request.POST.get("unit", "")
    post = request.POST
    try:
        problems = Problems()
        objective_id = _id_input(post, "objective", problems, required=True)
        raw_units = post.getlist("units")
        if any(not is_id(u) for u in raw_units):
            problems.add("units", "tick units from the list")
        problems.raise_any()
        assert objective_id is not None
        objective = _sendable(me).filter(pk=objective_id).first()
        if objective is None:
            if Objective.objects.filter(organisation=org, pk=objective_id).exists():
                raise Forbidden("only people of its units may send an objective for review")
            raise ValidationFailed.on("objective", "choose one of your units' draft objectives")
        units = resolve_many_in_org(Unit, org, [int(u) for u in raw_units], "units") or None
        made = services.review_request(objective=objective, actor=me, units=units)
    except REFUSALS as exc:
        form = FormState.refused(exc, post, SEND_INPUTS)
        return _reviews_page(request, me, choice, send_form=form, status=exc.status)
    if made:
        names = ", ".join(r.unit.name for r in made)
        messages.success(request, f"Sent “{objective.title}” for review to {names}.")
    else:
        messages.success(request, f"Those units already have “{objective.title}” for review.")
    return redirect(_reviews_url(choice))


# ---- asks and offers --------------------------------------------------------------------

ASK_INPUTS = {
    "kind": "kind",
    "cycle": "cycle",
    "from_unit": "from_unit",
    "to_unit": "to_unit",
    "text": "text",
}
TURN_INPUTS = {
    "requester_item": "requester_kr",
    "requester_kr": "requester_kr",
    "needed_by": "needed_by",
}


@dataclass
class AskRow:
    item: AskOffer
    krs: list[KeyResult]
    form: FormState

    @property
    def can_turn(self) -> bool:
        return (
            self.item.kind == AskOffer.Kind.ASK
            and self.item.dependency_id is None
            and bool(self.krs)
        )


@dataclass
class PeerPair:
    """Two units and what they ask of and offer each other."""

    names: str
    rows: list[AskRow]


def _overlaps(kr: KeyResult, cycle: Cycle) -> bool:
    c = kr.objective.cycle
    return c.start <= cycle.end and c.end >= cycle.start


def _ask_rows(
    me: Person, scope: UnitScope, asks: list[AskOffer], failed: tuple[int, FormState] | None
) -> list[AskRow]:
    """Each ask or offer with, on an ask from the person's unit, the KRs it could serve."""
    # Only the people of the asking unit are offered the form; an admin acting for any unit
    # still can through the API.
    turnable = [
        a
        for a in asks
        if a.kind == AskOffer.Kind.ASK
        and a.dependency_id is None
        and a.from_unit_id in scope.mine_ids
    ]
    krs = list(_live_krs(me.organisation, {a.from_unit_id for a in turnable})) if turnable else []
    out = []
    for a in asks:
        choices = (
            [k for k in krs if k.owner_unit_id == a.from_unit_id and _overlaps(k, a.cycle)]
            if a in turnable
            else []
        )
        form = failed[1] if failed and failed[0] == a.pk else FormState()
        out.append(AskRow(a, choices, form))
    return out


def _asks(org: Organisation) -> QuerySet[AskOffer]:
    return AskOffer.objects.filter(organisation=org).select_related(
        "from_unit", "to_unit", "author", "dependency", "cycle"
    )


def _asks_page(
    request: HttpRequest,
    me: Person,
    cycle_choice: str,
    *,
    failed: tuple[int, FormState] | None = None,
    add_form: FormState | None = None,
    status: int = 200,
) -> HttpResponse:
    org = me.organisation
    cycles = list(Cycle.objects.filter(organisation=org).order_by("-start", "key"))
    today = today_in(org)
    running = [c for c in cycles if c.start <= today <= c.end]
    wanted = _int_or_none(cycle_choice)
    chosen = [c for c in cycles if c.pk == wanted] or running
    scope = _unit_scope(me, "")
    asks = list(_asks(org).filter(cycle__in=chosen).order_by("created_at", "id"))
    pairs: dict[tuple[int, int], list[AskRow]] = defaultdict(list)
    names: dict[tuple[int, int], str] = {}
    for row in _ask_rows(me, scope, asks, failed):
        a = row.item
        key = (min(a.from_unit_id, a.to_unit_id), max(a.from_unit_id, a.to_unit_id))
        pairs[key].append(row)
        names[key] = " ↔ ".join(sorted([a.from_unit.name, a.to_unit.name]))
    groups = sorted((PeerPair(names[k], rows) for k, rows in pairs.items()), key=lambda p: p.names)
    from_units = scope.options if me.is_org_admin else [(u, "") for u in scope.mine]
    context = page_context(
        me,
        "asks",
        groups=groups,
        count=len(asks),
        cycles=cycles,
        running=running,
        chosen=chosen,
        cycle_choice=str(wanted) if chosen and wanted == chosen[0].pk else "",
        open_cycles=[c for c in cycles if c.end >= today],
        from_units=from_units,
        to_units=list(
            Unit.objects.filter(organisation=org, archived_at__isnull=True).order_by("name")
        ),
        add_form=add_form or FormState(),
        default_cycle=(chosen[0].pk if chosen else None),
        default_from=scope.mine[0].pk if scope.mine else None,
    )
    return render(request, "alignment/asks_offers.html", context, status=status)


@person_page
def asks_offers(request: HttpRequest, me: Person) -> HttpResponse:
    return _asks_page(request, me, request.GET.get("cycle", ""))


def _asks_url(cycle: str, anchor: str = "") -> str:
    query = f"?{urlencode({'cycle': cycle})}" if is_id(cycle) else ""
    return reverse("asks-offers") + query + (f"#{anchor}" if anchor else "")


@require_POST
@person_page
def ask_offer_create(request: HttpRequest, me: Person) -> HttpResponse:
    org = me.organisation
    post = request.POST
    shown = post.get("shown_cycle", "")
    try:
        problems = Problems()
        ids = {
            n: _id_input(post, n, problems, required=True)
            for n in ("cycle", "from_unit", "to_unit")
        }
        kind = post.get("kind", "")
        if kind not in AskOffer.Kind.values:
            problems.add("kind", "choose ask or offer")
        if not post.get("text", "").strip():
            problems.add("text", "say what you ask for or offer")
        problems.raise_any()
        cycle = resolve_in_org(Cycle, org, ids["cycle"], "cycle")
        from_unit = resolve_in_org(Unit, org, ids["from_unit"], "from_unit")
        to_unit = resolve_in_org(Unit, org, ids["to_unit"], "to_unit")
        assert cycle is not None and from_unit is not None and to_unit is not None
        item = services.ask_offer_create(
            organisation=org,
            actor=me,
            cycle=cycle,
            kind=kind,
            from_unit=from_unit,
            to_unit=to_unit,
            text=post.get("text", ""),
        )
    except REFUSALS as exc:
        form = FormState.refused(exc, post, ASK_INPUTS)
        return _asks_page(request, me, shown, add_form=form, status=exc.status)
    verb = "asks" if item.kind == AskOffer.Kind.ASK else "offers"
    messages.success(
        request, f"Noted: {item.from_unit.name} {verb} {item.to_unit.name} “{item.text}”."
    )
    return redirect(_asks_url(str(item.cycle_id), f"ask-{item.pk}"))


@require_POST
@person_page
def ask_to_dependency(request: HttpRequest, me: Person, ask_id: int) -> HttpResponse:
    org = me.organisation
    ask = access_ask_offer(me, ask_id)
    post = request.POST
    shown = post.get("shown_cycle", "")
    try:
        problems = Problems()
        kr_id = _id_input(post, "requester_kr", problems, required=True)
        needed_by = _date_input(post, "needed_by", problems)
        problems.raise_any()
        kr = resolve_in_org(KeyResult, org, kr_id, "requester_kr")
        assert kr is not None and needed_by is not None
        dep = services.ask_to_dependency(ask=ask, actor=me, requester_item=kr, needed_by=needed_by)
    except REFUSALS as exc:
        form = FormState.refused(exc, post, TURN_INPUTS)
        if _from_htmx(request):
            return _ask_fragment(request, me, ask.pk, form, status=422)
        return _asks_page(request, me, shown, failed=(ask.pk, form), status=exc.status)
    said = f"Asked {dep.provider_unit.name} for “{dep.title}” by {long_day(dep.needed_by)}."
    if _from_htmx(request):
        return _ask_fragment(request, me, ask.pk, FormState(), said=said)
    messages.success(request, said)
    return redirect(_asks_url(shown, f"ask-{ask.pk}"))


def _ask_fragment(
    request: HttpRequest,
    me: Person,
    ask_id: int,
    form: FormState,
    *,
    said: str = "",
    status: int = 200,
) -> HttpResponse:
    ask = _asks(me.organisation).get(pk=ask_id)
    scope = _unit_scope(me, "")
    row = _ask_rows(me, scope, [ask], (ask.pk, form))[0]
    context = page_context(
        me, "asks", row=row, said=said, shown_cycle=request.POST.get("shown_cycle", "")
    )
    return render(request, "alignment/_ask_item.html", context, status=status)
