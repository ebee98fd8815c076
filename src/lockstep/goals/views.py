"""Pages of the goal spine: the objective list, the objective page and the check-in form."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.contrib import messages
from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from lockstep.activity.models import ActivityEvent
from lockstep.alignment import selectors as alignment_selectors
from lockstep.alignment.models import Dependency, Finding
from lockstep.errors import NotFound
from lockstep.goals import selectors
from lockstep.goals.access import (
    CheckInRights,
    access_key_result,
    hidden_objectives,
    objective_visible,
)
from lockstep.goals.checkin_form import CheckinForm, checkin_post, checkin_saved
from lockstep.goals.models import CheckIn, ContributionLink, Cycle, KeyResult, Objective
from lockstep.keys import is_id
from lockstep.org.models import Organisation, Person, Unit
from lockstep.org.selectors import indented_units
from lockstep.org.views import today_in
from lockstep.web import charts
from lockstep.web.templatetags.lockstep_ui import long_day, percent
from lockstep.web.views import page_context, person_page

RECENT_CHECKINS = 5
RECENT_ACTIVITY = 10

VERB_PHRASES = {
    "checkin.recorded": "checked in on",
    "key_result.created": "added the key result",
    "key_result.updated": "edited the key result",
    "key_result.archived": "archived the key result",
    "objective.created": "created the objective",
    "objective.updated": "edited the objective",
    "objective.archived": "archived the objective",
}


SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


# ---- objective list ---------------------------------------------------------------------


def _int_param(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name, "")
    return int(raw) if is_id(raw) else None


@person_page
def objective_list(request: HttpRequest, me: Person) -> HttpResponse:
    org = me.organisation
    cycles = list(Cycle.objects.filter(organisation=org).order_by("-start", "key"))
    units = list(Unit.objects.filter(organisation=org, archived_at__isnull=True).order_by("name"))
    cycle_choice = request.GET.get("cycle", "")
    cycle_id = _int_param(request, "cycle")
    unit_id = _int_param(request, "unit")

    today = today_in(org)
    running = [c for c in cycles if c.start <= today <= c.end]

    rows = selectors.objectives_query(org).filter(archived_at__isnull=True)
    rows = rows.filter(objective_visible(me))
    if cycle_id is not None:
        rows = rows.filter(cycle_id=cycle_id)
    elif cycle_choice != "all":
        cycle_choice = ""
        rows = rows.filter(cycle_id__in=[c.pk for c in running])
    if unit_id is not None:
        rows = rows.filter(Q(owner_unit_id=unit_id) | Q(contributors__id=unit_id)).distinct()
    objectives = list(rows.order_by("cycle__start", "title"))
    numbers = selectors.objective_numbers_stored(objectives, organisation=org)
    context = page_context(
        me,
        "objectives",
        rows=[(o, numbers[o.pk]) for o in objectives],
        cycles=cycles,
        running=running,
        cycle_choice=str(cycle_id) if cycle_id is not None else cycle_choice,
        chosen_cycle=next((c for c in cycles if c.pk == cycle_id), None),
        unit_options=indented_units(units),
        unit_choice=unit_id,
        filtered_unit=next((u for u in units if u.pk == unit_id), None),
    )
    return render(request, "goals/objective_list.html", context)


# ---- objective page ---------------------------------------------------------------------


@dataclass
class KRCard:
    """A KR as its table row and check-in form show it."""

    kr: KeyResult
    numbers: selectors.KRNumbers
    recent: list[CheckIn]
    form: CheckinForm
    today: dt.date
    history: selectors.KRHistory | None = None
    may_check_in: bool = True

    @property
    def chart(self) -> SafeString:
        """The KR's history chart: check-ins, the pace line and the forecast, in progress."""
        return _history_chart(self.kr, self.history) if self.history else SafeString("")

    @property
    def closed_because(self) -> str:
        """Why the KR takes no check-in now, in words; empty when it takes one."""
        o = self.kr.objective
        if self.kr.archived_at is not None or o.archived_at is not None:
            return "it is archived"
        if o.state == Objective.State.CLOSED:
            return "the objective is closed"
        if self.today < o.cycle.start:
            return f"the cycle starts on {long_day(o.cycle.start)}"
        if self.today > o.cycle.end:
            return f"the cycle ended on {long_day(o.cycle.end)}"
        if not self.may_check_in:
            return "only its owner and the people of its units check in on it"
        return ""

    @property
    def steps(self) -> list[tuple[int, str, bool]]:
        """(index, name, ticked): ticked as posted, else as the latest check-in left them."""
        if self.form.data is not None:
            ticked = set(self.form.data.getlist("steps_done"))
            return [(i, s, str(i) in ticked) for i, s in enumerate(self.kr.steps or [])]
        # The latest check-in is the one the current value came from.
        done = set((self.recent[0].steps_done or []) if self.recent else [])
        return [(i, s, i in done) for i, s in enumerate(self.kr.steps or [])]

    @property
    def done_ticked(self) -> bool:
        if self.form.data is not None:
            return bool(self.form.data.get("done"))
        return (self.kr.current_value or 0) >= 1

    def _posted(self, name: str, default: Any = "") -> Any:
        return self.form.data.get(name, "") if self.form.data is not None else default

    @property
    def value_input(self) -> str:
        return str(self._posted("value"))

    @property
    def confidence_input(self) -> str:
        last = self.kr.last_confidence
        return str(self._posted("confidence", "" if last is None else last))

    @property
    def note_input(self) -> str:
        return str(self._posted("note"))

    @property
    def blockers_input(self) -> str:
        return str(self._posted("blockers"))

    @property
    def blocking_unit_input(self) -> str:
        return str(self._posted("blocking_unit"))


def _recent_checkins(kr_ids: list[int]) -> dict[int, list[CheckIn]]:
    """The latest few check-ins of each KR in one query, however long the history is."""
    ranked = (
        CheckIn.objects.filter(key_result_id__in=kr_ids)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=F("key_result_id"),
                order_by=[F("at").desc(), F("id").desc()],
            )
        )
        .filter(rank__lte=RECENT_CHECKINS)
        .select_related("author", "blocking_unit")
        .order_by("key_result_id", "-at", "-id")
    )
    out: dict[int, list[CheckIn]] = {pk: [] for pk in kr_ids}
    for c in ranked:
        out[c.key_result_id].append(c)
    return out


def _kr_cards(
    me: Person, krs: list[KeyResult], forms: dict[int, CheckinForm] | None = None
) -> list[KRCard]:
    org = me.organisation
    forms = forms or {}
    may = CheckInRights(me)
    recent = _recent_checkins([kr.pk for kr in krs])
    histories = selectors.kr_histories(krs, organisation=org)
    today = today_in(org)
    return [
        KRCard(
            kr=kr,
            numbers=selectors.kr_numbers(kr, organisation=org),
            recent=recent[kr.pk],
            form=forms.get(kr.pk, CheckinForm()),
            today=today,
            history=histories[kr.pk],
            may_check_in=may(kr),
        )
        for kr in krs
    ]


def _day_ticks(start: dt.date, span: float, due_t: float, due: dt.date) -> list[tuple[float, str]]:
    """Four or five dates along the x axis, whole days from the cycle start, the due day last."""
    step = max(1, round(span / 4))
    ticks = [
        (float(d), _short_day(start + dt.timedelta(days=d)))
        for d in range(0, int(span) + 1, step)
        if d < due_t - step / 2
    ]
    return [*ticks, (due_t, _short_day(due))]


def _short_day(d: dt.date) -> str:
    return f"{d.day} {d:%b}"


def _history_chart(kr: KeyResult, h: selectors.KRHistory) -> SafeString:
    last = h.checkins[-1][3] if h.checkins else None
    forecast = h.forecast[-1][1] if h.forecast else None
    words = [f"History of {kr.title} in progress towards its target."]
    if last is None:
        words.append("No check-ins yet.")
    else:
        words.append(f"{len(h.checkins)} check-ins, the last at {percent(last)}.")
    words.append(f"The pace line runs from 0% at the cycle start to 100% on {long_day(h.due)}.")
    if forecast is not None:
        words.append(f"The forecast reaches {percent(forecast)} by then.")
    span = max(h.due_t, *(t for _, t, _, _ in h.checkins)) if h.checkins else h.due_t
    series = [charts.Series("Pace", [(t, p * 100) for t, p in h.pace], "pace")]
    if h.checkins:
        series.append(
            charts.Series("Check-ins", [(t, p * 100) for _, t, _, p in h.checkins], "actual")
        )
    if h.forecast:
        series.append(charts.Series("Forecast", [(t, p * 100) for t, p in h.forecast], "forecast"))
    return charts.line_chart(
        series=series,
        x_domain=(0.0, span),
        y_domain=(0.0, 100.0),
        x_ticks=_day_ticks(h.cycle_start, span, h.due_t, h.due),
        y_ticks=[(0, "0%"), (50, "50%"), (100, "100%")],
        title=" ".join(words),
        width=480,
        height=190,
    )


def _key_results(org: Organisation) -> QuerySet[KeyResult]:
    # In the order they were written down, which is how their authors list them.
    return selectors.key_results_query(org).filter(archived_at__isnull=True).order_by("pk")


def _objective(me: Person, objective_id: int) -> Objective:
    objective = (
        selectors.objectives_query(me.organisation)
        .filter(objective_visible(me))
        .filter(pk=objective_id)
        .first()
    )
    if objective is None:
        raise NotFound(f"objective {objective_id} not found")
    return objective


def _activity(org: Organisation, objective: Objective) -> list[tuple[ActivityEvent, str]]:
    """The latest events of the objective and its KRs, each with how the list words it."""
    kr_ids = KeyResult.objects.filter(objective=objective).values("pk")
    events = (
        ActivityEvent.objects.filter(organisation=org)
        .filter(
            Q(object_type=Objective._meta.model_name, object_id=objective.pk)
            | Q(object_type=KeyResult._meta.model_name, object_id__in=kr_ids)
        )
        .select_related("actor")[:RECENT_ACTIVITY]
    )
    return [
        (e, VERB_PHRASES.get(e.verb, e.verb.replace("_", " ").replace(".", " "))) for e in events
    ]


@dataclass
class DepLine:
    """A dependency of the objective's KRs as its page lists it, with the findings about it."""

    dep: Dependency
    findings: list[Finding]
    today: dt.date

    @property
    def overdue(self) -> bool:
        """Still open after the day it was needed."""
        return self.dep.is_late(self.today)


def _findings_about(
    me: Person, objective: Objective, kr_ids: set[int], dep_ids: list[int]
) -> dict[tuple[str, int], list[Finding]]:
    """Stored findings whose subject is the objective, one of its KRs or their dependencies."""
    rows = (
        alignment_selectors.findings_query(me.organisation, me)
        .prefetch_related(None)
        .filter(
            Q(subject_type="objective", subject_id=objective.pk)
            | Q(subject_type="kr", subject_id__in=kr_ids)
            | Q(subject_type="dependency", subject_id__in=dep_ids)
        )
    )
    out: dict[tuple[str, int], list[Finding]] = defaultdict(list)
    for f in rows:
        out[(f.subject_type, f.subject_id)].append(f)
    return out


def _finding_lines(
    about: dict[tuple[str, int], list[Finding]], krs: dict[int, KeyResult]
) -> list[tuple[Finding, KeyResult | None]]:
    """The findings about the objective and its KRs, most severe first, each with its KR."""
    lines = [
        (f, krs.get(f.subject_id) if kind == "kr" else None)
        for (kind, _), found in about.items()
        if kind != "dependency"  # listed with their dependency
        for f in found
    ]
    return sorted(lines, key=lambda line: (SEVERITY_RANK.get(line[0].severity, 3), line[0].code))


def _objective_page(
    request: HttpRequest,
    me: Person,
    objective_id: int,
    *,
    forms: dict[int, CheckinForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    org = me.organisation
    objective = _objective(me, objective_id)
    # Private parents and children the viewer may not see stay out (their numbers still
    # roll up into this objective's).
    links = list(objective.parent_links.all())
    hidden = hidden_objectives(me, [link.parent for link in links])
    parents = [link for link in links if link.parent_id not in hidden]
    children = list(
        ContributionLink.objects.filter(parent=objective)
        .filter(objective_visible(me, "child__"))
        .select_related("child")
        .order_by("child__title")
    )
    related = [
        objective.pk,
        *(link.parent_id for link in parents),
        *(link.child_id for link in children),
    ]
    numbers = selectors.objective_numbers(related, organisation=org)
    units = {u.pk: u for u in Unit.objects.filter(organisation=org).order_by("name")}
    cards = _kr_cards(me, list(_key_results(org).filter(objective=objective)), forms)
    failed = [c for c in cards if c.form.errors or c.form.problem]
    kr_ids = {c.kr.pk for c in cards}
    deps = selectors.objective_dependencies(org, kr_ids)
    about = _findings_about(me, objective, kr_ids, [d.pk for d in deps])
    today = today_in(org)
    context = page_context(
        me,
        "objectives",
        objective=objective,
        numbers=numbers[objective.pk],
        shares=selectors.objective_unit_shares(objective, numbers[objective.pk], units),
        parents=[(link, numbers[link.parent_id]) for link in parents],
        children=[(link, numbers[link.child_id]) for link in children],
        cards=cards,
        failed=failed,
        blocking_units=[u for u in units.values() if u.archived_at is None],
        activity=_activity(org, objective),
        needs=[
            DepLine(d, about.get(("dependency", d.pk), []), today)
            for d in deps
            if d.requester_kr_id in kr_ids
        ],
        gives=[
            DepLine(d, about.get(("dependency", d.pk), []), today)
            for d in deps
            if d.provider_kr_id in kr_ids
        ],
        findings=_finding_lines(about, {c.kr.pk: c.kr for c in cards}),
    )
    return render(request, "goals/objective_detail.html", context, status=status)


@person_page
def objective_detail(request: HttpRequest, me: Person, objective_id: int) -> HttpResponse:
    return _objective_page(request, me, objective_id)


# ---- check-in -------------------------------------------------------------------------


def _kr_fragment(
    request: HttpRequest, me: Person, kr_id: int, form: CheckinForm, *, status: int = 200
) -> HttpResponse:
    """The KR's table rows for htmx to swap in, with the objective summary out of band."""
    org = me.organisation
    kr = _key_results(org).get(pk=kr_id)
    card = _kr_cards(me, [kr], {kr.pk: form})[0]
    objective = _objective(me, kr.objective_id)
    numbers = selectors.objective_numbers([objective.pk], organisation=org)[objective.pk]
    units = {u.pk: u for u in Unit.objects.filter(organisation=org).order_by("name")}
    context = page_context(
        me,
        "objectives",
        card=card,
        objective=objective,
        numbers=numbers,
        shares=selectors.objective_unit_shares(objective, numbers, units),
        blocking_units=[u for u in units.values() if u.archived_at is None],
    )
    return render(request, "goals/_checkin_fragment.html", context, status=status)


def _from_htmx(request: HttpRequest) -> bool:
    # HtmxMiddleware sets request.htmx; it is falsy for a plain form post.
    return bool(getattr(request, "htmx", False))


@require_POST
@person_page
def kr_checkin(request: HttpRequest, me: Person, kr_id: int) -> HttpResponse:
    kr = access_key_result(me, kr_id)
    refused = checkin_post(request.POST, me, kr)
    if refused is not None:
        if _from_htmx(request):
            return _kr_fragment(request, me, kr.pk, refused, status=422)
        return _objective_page(request, me, kr.objective_id, forms={kr.pk: refused}, status=422)
    if _from_htmx(request):
        return _kr_fragment(request, me, kr.pk, CheckinForm(saved=True))
    messages.success(request, checkin_saved(me, kr))
    return redirect(reverse("objective-detail", args=[kr.objective_id]) + f"#kr-{kr.pk}")


# ---- alignment map ----------------------------------------------------------------------

SEARCH_MAX = 100


def _highlight(text: str, q: str) -> SafeString:
    """`text` with every case-insensitive occurrence of `q` marked; plain when there is none."""
    if not q:
        return SafeString(escape(text))
    parts = re.split(f"({re.escape(q)})", text, flags=re.IGNORECASE)
    return mark_safe(  # every part is escaped
        "".join(
            f"<mark>{escape(part)}</mark>" if i % 2 else escape(part)
            for i, part in enumerate(parts)
        )
    )


def _matches(q: str, *texts: str) -> bool:
    folded = q.casefold()
    return bool(folded) and any(folded in t.casefold() for t in texts)


@dataclass
class MapKRLine:
    kr: selectors.MapKR
    title: SafeString
    match: bool


@dataclass
class MapItem:
    """One place an objective takes on the drawn map.

    An objective feeding two parents appears under both; its key results and the objectives
    feeding it are drawn at its first place only, and the others link there.
    """

    node: selectors.MapObjective
    dom_id: str
    first_id: str
    weight: float | None
    depth: int
    title: SafeString
    match: bool
    krs: list[MapKRLine] = field(default_factory=list)
    children: list[MapItem] = field(default_factory=list)
    open: bool = False

    @property
    def first(self) -> bool:
        return self.dom_id == self.first_id

    @property
    def has_more(self) -> bool:
        return self.first and bool(self.krs or self.children)

    @cached_property
    def holds_match(self) -> bool:
        """A search match lies inside this item's collapsible part."""
        return any(line.match for line in self.krs) or any(
            c.match or c.holds_match for c in self.children
        )

    @cached_property
    def holds_scope(self) -> bool:
        """An objective in scope lies inside this item's collapsible part."""
        return any(c.node.in_scope or c.holds_scope for c in self.children)


class _MapDrawing:
    """Turns the map's graph into the nested items the template draws, depth first."""

    def __init__(self, graph: selectors.AlignmentMap, q: str) -> None:
        self.graph = graph
        self.q = q
        self.first: dict[int, str] = {}
        self.places: dict[int, int] = defaultdict(int)
        self.matches: list[tuple[str, str, str]] = []  # (kind, label, anchor)

    def item(self, pk: int, weight: float | None, depth: int, path: frozenset[int]) -> MapItem:
        node = self.graph.objectives[pk]
        o = node.objective
        self.places[pk] += 1
        dom_id = f"map-o{pk}" + (f"-{self.places[pk]}" if self.places[pk] > 1 else "")
        first_id = self.first.setdefault(pk, dom_id)
        match = _matches(self.q, o.title, o.key)
        item = MapItem(
            node=node,
            dom_id=dom_id,
            first_id=first_id,
            weight=weight,
            depth=depth,
            title=_highlight(o.title, self.q),
            match=match,
        )
        if not item.first:
            return item
        if match:
            self.matches.append(("Objective", o.title, dom_id))
        for kr in node.krs:
            kr_match = _matches(self.q, kr.title, kr.key)
            item.krs.append(MapKRLine(kr, _highlight(kr.title, self.q), kr_match))
            if kr_match:
                self.matches.append(("Key result", kr.title, f"{dom_id}-kr{kr.id}"))
        item.children = [
            self.item(child, w, depth + 1, path | {pk})
            for child, w in node.children
            if child not in path  # a loop in the links is drawn once, never forever
        ]
        return item


def _open(item: MapItem, *, searching: bool, unit_chosen: bool) -> None:
    """Open the parts holding a search match; else the way to a chosen unit's objectives;
    else the top level."""
    if searching:
        item.open = item.holds_match
    elif unit_chosen:
        item.open = item.holds_scope or (item.depth == 0 and item.node.in_scope)
    else:
        item.open = item.depth == 0
    for child in item.children:
        _open(child, searching=searching, unit_chosen=unit_chosen)


def _subtree(units: list[Unit], root: int) -> set[int]:
    """The unit and every unit below it."""
    children: dict[int | None, list[int]] = defaultdict(list)
    for u in units:
        children[u.parent_id].append(u.pk)
    out, stack = set(), [root]
    while stack:
        pk = stack.pop()
        if pk not in out:
            out.add(pk)
            stack.extend(children[pk])
    return out


@person_page
def alignment_map(request: HttpRequest, me: Person) -> HttpResponse:
    org = me.organisation
    cycles = list(Cycle.objects.filter(organisation=org).order_by("-start", "key"))
    all_units = list(Unit.objects.filter(organisation=org).order_by("name"))
    units = {u.pk: u for u in all_units}
    live_units = [u for u in all_units if u.archived_at is None]
    problems: list[str] = []

    raw_cycle = request.GET.get("cycle", "").strip()
    today = today_in(org)
    running = [c for c in cycles if c.start <= today <= c.end]
    chosen_cycle = next((c for c in cycles if str(c.pk) == raw_cycle), None)
    cycle_choice = raw_cycle if chosen_cycle or raw_cycle == "all" else ""
    if raw_cycle and not cycle_choice:
        problems.append("There is no such cycle; the map shows the cycles running today.")
    cycle_ids: list[int] | None
    if chosen_cycle is not None:
        # Cycles nest: a quarter's map holds the objectives of the weeks and months inside it.
        cycle_ids = [
            c.pk for c in cycles if chosen_cycle.start <= c.start and c.end <= chosen_cycle.end
        ]
    elif cycle_choice == "all":
        cycle_ids = None
    else:
        cycle_ids = [c.pk for c in running]

    raw_unit = request.GET.get("unit", "").strip()
    chosen_unit = next((u for u in live_units if str(u.pk) == raw_unit), None)
    if raw_unit and chosen_unit is None:
        problems.append("There is no such unit; the map shows every unit.")

    q = " ".join(request.GET.get("q", "").split())
    if len(q) > SEARCH_MAX:
        problems.append(f"The search is cut to its first {SEARCH_MAX} characters.")
        q = q[:SEARCH_MAX]

    graph = selectors.alignment_map(
        org,
        units=units,
        cycle_ids=cycle_ids,
        unit_ids=_subtree(all_units, chosen_unit.pk) if chosen_unit else None,
        viewer=me,
    )
    drawing = _MapDrawing(graph, q)
    roots = [drawing.item(pk, None, 0, frozenset()) for pk in graph.roots]
    orphans = [drawing.item(pk, None, 0, frozenset()) for pk in graph.orphans]
    for item in (*roots, *orphans):
        _open(item, searching=bool(q), unit_chosen=chosen_unit is not None)
    context = page_context(
        me,
        "objectives",
        roots=roots,
        orphans=orphans,
        in_scope=graph.in_scope_count,
        context_count=len(graph.objectives) - graph.in_scope_count,
        matches=drawing.matches,
        q=q,
        problems=problems,
        cycles=cycles,
        running=running,
        cycle_choice=cycle_choice,
        chosen_cycle=chosen_cycle,
        unit_options=indented_units(live_units),
        chosen_unit=chosen_unit,
    )
    return render(request, "goals/alignment_map.html", context)
