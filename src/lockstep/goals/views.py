"""Pages of the goal spine: the objective list, the objective page and the check-in form."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from lockstep.activity.models import ActivityEvent
from lockstep.core.progress import KRKind
from lockstep.errors import Conflict, FieldError, NotFound, ValidationFailed
from lockstep.goals import selectors, services
from lockstep.goals.access import access_key_result
from lockstep.goals.models import CheckIn, ContributionLink, Cycle, KeyResult, Objective
from lockstep.org.access import resolve_in_org
from lockstep.org.models import Organisation, Person, Unit
from lockstep.org.views import today_in, units_in_tree_order
from lockstep.web.templatetags.lockstep_ui import status_label
from lockstep.web.views import page_context, person_page

RECENT_CHECKINS = 5
RECENT_ACTIVITY = 10
# The check-in form's fields in screen order, with the words the error summary uses.
FORM_FIELDS = {
    "value": "Value",
    "confidence": "Confidence",
    "blocking_unit": "Blocked by unit",
    "note": "Note",
    "blockers": "Blockers",
}

# Fields a check-in can fail on that the form has no input for.
OTHER_FIELDS = {"at": "The check-in time"}

VERB_PHRASES = {
    "checkin.recorded": "checked in on",
    "key_result.created": "added the key result",
    "key_result.updated": "edited the key result",
    "key_result.archived": "archived the key result",
    "objective.created": "created the objective",
    "objective.updated": "edited the objective",
    "objective.archived": "archived the objective",
}


# ---- objective list ---------------------------------------------------------------------


def _int_param(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name, "")
    return int(raw) if raw.isdigit() else None


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
        unit_options=[(u, "\u00a0\u00a0" * depth) for u, depth in units_in_tree_order(units)],
        unit_choice=unit_id,
        filtered_unit=next((u for u in units if u.pk == unit_id), None),
    )
    return render(request, "goals/objective_list.html", context)


# ---- objective page ---------------------------------------------------------------------


@dataclass
class CheckinForm:
    """The state of one KR's check-in form: fresh, saved, or refused with its errors."""

    errors: dict[str, str] = field(default_factory=dict)
    problem: str = ""
    data: QueryDict | None = None
    saved: bool = False

    @classmethod
    def refused(cls, exc: ValidationFailed | Conflict, data: QueryDict) -> CheckinForm:
        errors: dict[str, str] = {}
        other: list[str] = []
        for f in exc.fields:
            # The form shows a milestone's steps where a number would be; one error place.
            name = "value" if f.field == "steps_done" else f.field
            if name in FORM_FIELDS and name not in errors:
                errors[name] = f.message
            else:
                other.append(f"{OTHER_FIELDS.get(f.field, f.field)} {f.message}")
        if not exc.fields:
            other.append(exc.message)
        return cls(errors=errors, problem="; ".join(other), data=data)

    @property
    def error_items(self) -> list[tuple[str, str, str]]:
        """(field, label, message) in screen order, for the error summary."""
        return [(f, label, self.errors[f]) for f, label in FORM_FIELDS.items() if f in self.errors]

    @property
    def first_error(self) -> str:
        """The field that takes focus when the form comes back refused."""
        return next((f for f in FORM_FIELDS if f in self.errors), "")


def _day(d: dt.date) -> str:
    return f"{d.day} {d:%b %Y}"


@dataclass
class KRCard:
    """A KR as its table row and check-in form show it."""

    kr: KeyResult
    numbers: selectors.KRNumbers
    recent: list[CheckIn]
    form: CheckinForm
    today: dt.date

    @property
    def closed_because(self) -> str:
        """Why the KR takes no check-in now, in words; empty when it takes one."""
        o = self.kr.objective
        if self.kr.archived_at is not None or o.archived_at is not None:
            return "it is archived"
        if o.state == Objective.State.CLOSED:
            return "the objective is closed"
        if self.today < o.cycle.start:
            return f"the cycle starts on {_day(o.cycle.start)}"
        if self.today > o.cycle.end:
            return f"the cycle ended on {_day(o.cycle.end)}"
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
    org: Organisation, krs: list[KeyResult], forms: dict[int, CheckinForm] | None = None
) -> list[KRCard]:
    forms = forms or {}
    recent = _recent_checkins([kr.pk for kr in krs])
    today = today_in(org)
    return [
        KRCard(
            kr=kr,
            numbers=selectors.kr_numbers(kr, organisation=org),
            recent=recent[kr.pk],
            form=forms.get(kr.pk, CheckinForm()),
            today=today,
        )
        for kr in krs
    ]


def _key_results(org: Organisation) -> QuerySet[KeyResult]:
    # In the order they were written down, which is how their authors list them.
    return selectors.key_results_query(org).filter(archived_at__isnull=True).order_by("pk")


def _objective(org: Organisation, objective_id: int) -> Objective:
    objective = selectors.objectives_query(org).filter(pk=objective_id).first()
    if objective is None:
        raise NotFound(f"objective {objective_id} not found")
    return objective


def _unit_shares(
    objective: Objective, numbers: selectors.ObjectiveNumbers, units: dict[int, Unit]
) -> list[tuple[Unit, float | None]]:
    """The listed units (owner or contributors) first, then any other unit owning a KR."""
    if objective.level == Objective.Level.SHARED:
        listed = list(objective.contributors.all())
    else:
        listed = [objective.owner_unit] if objective.owner_unit else []
    out = [(u, numbers.unit_shares.get(u.pk)) for u in listed]
    seen = {u.pk for u in listed}
    out += [
        (units[pk], share)
        for pk, share in sorted(numbers.unit_shares.items())
        if pk not in seen and pk in units
    ]
    return out


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


def _objective_page(
    request: HttpRequest,
    me: Person,
    objective_id: int,
    *,
    forms: dict[int, CheckinForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    org = me.organisation
    objective = _objective(org, objective_id)
    parents = list(objective.parent_links.all())
    children = list(
        ContributionLink.objects.filter(parent=objective)
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
    cards = _kr_cards(org, list(_key_results(org).filter(objective=objective)), forms)
    failed = [c for c in cards if c.form.errors or c.form.problem]
    context = page_context(
        me,
        "objectives",
        objective=objective,
        numbers=numbers[objective.pk],
        shares=_unit_shares(objective, numbers[objective.pk], units),
        parents=[(link, numbers[link.parent_id]) for link in parents],
        children=[(link, numbers[link.child_id]) for link in children],
        cards=cards,
        failed=failed,
        blocking_units=[u for u in units.values() if u.archived_at is None],
        activity=_activity(org, objective),
    )
    return render(request, "goals/objective_detail.html", context, status=status)


@person_page
def objective_detail(request: HttpRequest, me: Person, objective_id: int) -> HttpResponse:
    return _objective_page(request, me, objective_id)


# ---- check-in -------------------------------------------------------------------------


def _checkin_input(post: QueryDict, kr: KeyResult, org: Organisation) -> dict[str, Any]:
    """Turn the posted form into checkin_record's arguments; every unreadable field is named."""
    problems: list[FieldError] = []
    data: dict[str, Any] = {"note": post.get("note", ""), "blockers": post.get("blockers", "")}
    raw_confidence = post.get("confidence", "").strip()
    if re.fullmatch(r"-?\d+", raw_confidence):
        data["confidence"] = int(raw_confidence)
    else:
        problems.append(FieldError("confidence", "choose a whole number from 1 to 10"))
    if kr.kind == KRKind.MILESTONE and "value" not in post:
        if kr.steps:
            raw_steps = post.getlist("steps_done")
            if all(s.isdigit() for s in raw_steps):
                data["steps_done"] = [int(s) for s in raw_steps]
            else:
                problems.append(FieldError("steps_done", "tick the steps that are done"))
        else:
            data["value"] = 1.0 if post.get("done") else 0.0
    else:
        raw_value = post.get("value", "").strip().replace(",", "").replace(" ", "")
        try:
            value = float(raw_value)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            data["value"] = value
        else:
            problems.append(
                FieldError("value", "enter a number" if not raw_value else "must be a number")
            )
    raw_unit = post.get("blocking_unit", "").strip()
    if raw_unit and not raw_unit.isdigit():
        problems.append(FieldError("blocking_unit", "choose a unit from the list"))
    if problems:
        raise ValidationFailed(
            "; ".join(f"{p.field}: {p.message}" for p in problems), fields=problems
        )
    if raw_unit:
        data["blocking_unit"] = resolve_in_org(Unit, org, int(raw_unit), "blocking_unit")
    return data


def _kr_fragment(
    request: HttpRequest, me: Person, kr_id: int, form: CheckinForm, *, status: int = 200
) -> HttpResponse:
    """The KR's table rows for htmx to swap in, with the objective summary out of band."""
    org = me.organisation
    kr = _key_results(org).get(pk=kr_id)
    card = _kr_cards(org, [kr], {kr.pk: form})[0]
    objective = _objective(org, kr.objective_id)
    numbers = selectors.objective_numbers([objective.pk], organisation=org)[objective.pk]
    units = {u.pk: u for u in Unit.objects.filter(organisation=org).order_by("name")}
    context = page_context(
        me,
        "objectives",
        card=card,
        objective=objective,
        numbers=numbers,
        shares=_unit_shares(objective, numbers, units),
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
    try:
        fields = _checkin_input(request.POST, kr, me.organisation)
        services.checkin_record(key_result=kr, actor=me, source=CheckIn.Source.WEB, **fields)
    except (ValidationFailed, Conflict) as exc:
        form = CheckinForm.refused(exc, request.POST)
        if _from_htmx(request):
            return _kr_fragment(request, me, kr.pk, form, status=422)
        return _objective_page(request, me, kr.objective_id, forms={kr.pk: form}, status=422)
    if _from_htmx(request):
        return _kr_fragment(request, me, kr.pk, CheckinForm(saved=True))
    numbers = selectors.kr_numbers(kr, organisation=me.organisation)
    messages.success(
        request,
        f"Check-in saved for “{kr.title}”: {round(numbers.progress * 100)}% done, "
        f"{status_label(numbers.status).lower()}.",
    )
    return redirect(reverse("objective-detail", args=[kr.objective_id]) + f"#kr-{kr.pk}")
