"""The shared layout, the wrapper every signed-in page goes through, My week and the check-in.

My week is the home page: what the signed-in person must check in on, answer, deliver and
watch this week. The weekly check-in lists the same key results on one screen, one small
form per key result: Enter saves a row (htmx swaps it in place and moves on to the next),
and as a value is typed the row previews the progress and status it would give.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Concatenate, ParamSpec
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from lockstep.core.progress import KRKind
from lockstep.errors import LockstepError, NotFound, ValidationFailed
from lockstep.goals import selectors as goal_selectors
from lockstep.goals.checkin_form import CheckinForm, checkin_input, checkin_post, checkin_saved
from lockstep.goals.models import KeyResult
from lockstep.goals.selectors import org_tz
from lockstep.org.access import NoPerson, current_person
from lockstep.org.models import Person
from lockstep.web import selectors

P = ParamSpec("P")
PersonView = Callable[Concatenate[HttpRequest, Person, P], HttpResponse]


def person_page(view: PersonView[P]) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Run a page as the request's person, with dates shown in the organisation's time zone.

    Signed-out visitors go to the sign-in page; an account without a person gets a 403 page
    rather than a crash, and an id from another organisation a 404 page (never a hint that
    the row exists). A write the person's role does not allow (a service raising a 403
    error that the page did not handle itself) gets a 403 page saying why.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        try:
            me = current_person(request)
        except NoPerson as exc:
            return render(request, "web/forbidden.html", {"message": exc.message}, status=403)
        with timezone.override(org_tz(me.organisation)):
            try:
                return view(request, me, *args, **kwargs)
            except NotFound:
                return render(request, "web/not_found.html", {"me": me}, status=404)
            except LockstepError as exc:
                if exc.status != 403:
                    raise
                context = {"me": me, "message": exc.message}
                return render(request, "web/forbidden.html", context, status=403)

    signed_in_only = login_required(wrapper)

    @wraps(view)
    def outer(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        if not request.user.is_authenticated and _from_htmx(request):
            # An htmx call after the session ended (the wall screen's refresh, a form): the
            # whole page goes to sign-in, and back to itself after it, rather than the
            # sign-in form landing inside a panel.
            here = urlsplit(request.headers.get("HX-Current-URL", "") or request.get_full_path())
            back = here.path + (f"?{here.query}" if here.query else "")
            return HttpResponseClientRedirect(redirect_to_login(back)["Location"])
        return signed_in_only(request, *args, **kwargs)

    return outer


def page_context(me: Person, section: str, **extra: Any) -> dict[str, Any]:
    """What the base layout needs: who is signed in and which navigation entry is current."""
    return {"me": me, "section": section, **extra}


def _from_htmx(request: HttpRequest) -> bool:
    # HtmxMiddleware sets request.htmx; it is falsy for a plain request.
    return bool(getattr(request, "htmx", False))


# ---- My week ------------------------------------------------------------------------------


@person_page
def home(request: HttpRequest, me: Person) -> HttpResponse:
    week = selectors.my_week(me)
    context = page_context(me, "home", week=week, upcoming_days=selectors.UPCOMING_DAYS)
    return render(request, "web/my_week.html", context)


# ---- the weekly check-in ------------------------------------------------------------------


@dataclass
class CheckinRow:
    """One KR's row on the check-in page: its numbers, and its form fresh, saved or refused."""

    due: selectors.KRDue
    form: CheckinForm
    steps_done: list[int] = field(default_factory=list)

    @property
    def kr(self) -> KeyResult:
        return self.due.kr

    def _posted(self, name: str, default: str = "") -> str:
        return str(self.form.data.get(name, "")) if self.form.data is not None else default

    @property
    def value_input(self) -> str:
        return self._posted("value")

    @property
    def confidence_input(self) -> str:
        last = self.kr.last_confidence
        return self._posted("confidence", "" if last is None else str(last))

    @property
    def note_input(self) -> str:
        return self._posted("note")

    @property
    def steps(self) -> list[tuple[int, str, bool]]:
        """(index, name, ticked): ticked as posted, else as the latest check-in left them."""
        if self.form.data is not None:
            ticked = set(self.form.data.getlist("steps_done"))
            return [(i, s, str(i) in ticked) for i, s in enumerate(self.kr.steps or [])]
        done = set(self.steps_done)
        return [(i, s, i in done) for i, s in enumerate(self.kr.steps or [])]

    @property
    def done_ticked(self) -> bool:
        if self.form.data is not None:
            return bool(self.form.data.get("done"))
        return (self.kr.current_value or 0) >= 1


def _checkin_rows(
    me: Person, krs: list[KeyResult], forms: dict[int, CheckinForm] | None = None
) -> list[CheckinRow]:
    forms = forms or {}
    steps = selectors.steps_last_done(krs)
    due = selectors.krs_due(krs, organisation=me.organisation, now=timezone.now())
    return [
        CheckinRow(
            due=d, form=forms.get(d.kr.pk) or CheckinForm(), steps_done=steps.get(d.kr.pk, [])
        )
        for d in due
    ]


def _checkin_page(
    request: HttpRequest,
    me: Person,
    *,
    forms: dict[int, CheckinForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    org = me.organisation
    mine = selectors.my_units(me)
    today = timezone.localdate(timezone=org_tz(org))
    rows = _checkin_rows(me, list(selectors.my_key_results(me, mine.works, today)), forms)
    failed = [r for r in rows if r.form.errors or r.form.problem]
    context = page_context(me, "checkin", rows=rows, mine=mine, failed=failed)
    return render(request, "web/checkin_week.html", context, status=status)


@require_GET
@person_page
def checkin_week(request: HttpRequest, me: Person) -> HttpResponse:
    return _checkin_page(request, me)


def _kr_of(me: Person, kr_id: int) -> KeyResult:
    """The KR with its objective and cycle, or 404 when the organisation has no such KR."""
    kr = goal_selectors.key_results_query(me.organisation).filter(pk=kr_id).first()
    if kr is None:
        raise NotFound(f"key result {kr_id} not found")
    return kr


def _row_fragment(
    request: HttpRequest, me: Person, kr_id: int, form: CheckinForm, *, status: int = 200
) -> HttpResponse:
    """One row for htmx to swap in place, and what it says for screen readers."""
    [row] = _checkin_rows(me, [_kr_of(me, kr_id)], {kr_id: form})
    context = page_context(me, "checkin", row=row, live=True)
    return render(request, "web/_checkin_row.html", context, status=status)


@require_POST
@person_page
def checkin_week_save(request: HttpRequest, me: Person, kr_id: int) -> HttpResponse:
    """Record one row's check-in through the goals service; a refusal changes nothing."""
    kr = _kr_of(me, kr_id)
    refused = checkin_post(request.POST, me, kr)
    if refused is not None:
        if _from_htmx(request):
            return _row_fragment(request, me, kr.pk, refused, status=422)
        return _checkin_page(request, me, forms={kr.pk: refused}, status=422)
    if _from_htmx(request):
        return _row_fragment(request, me, kr.pk, CheckinForm(saved=True))
    messages.success(request, checkin_saved(me, kr))
    return redirect(reverse("checkin-week") + f"#cw-{kr.pk}")


@dataclass(frozen=True)
class Preview:
    """What the row would show after saving, or why the typed value cannot be read."""

    numbers: goal_selectors.KRNumbers | None = None
    error: str = ""


def _preview_value(query: QueryDict, kr: KeyResult, me: Person) -> float:
    """The value a check-in of these inputs would record, read as the save reads it.

    Confidence does not move progress or status, so it is not judged here: the save does.
    """
    probe = query.copy()
    probe["confidence"] = "1"
    fields = checkin_input(probe, kr, me.organisation)
    if "steps_done" in fields:
        return float(len(set(fields["steps_done"])))
    return float(fields["value"])


@require_GET
@person_page
def checkin_week_preview(request: HttpRequest, me: Person, kr_id: int) -> HttpResponse:
    """The progress and status the typed value would give; reads only, writes nothing."""
    kr = _kr_of(me, kr_id)
    numeric = not (kr.kind == KRKind.MILESTONE and "value" not in request.GET)
    status = 200
    if numeric and not request.GET.get("value", "").strip():
        preview = Preview()
    else:
        try:
            value = _preview_value(request.GET, kr, me)
        except ValidationFailed as exc:
            preview, status = (
                Preview(error=exc.fields[0].message if exc.fields else exc.message),
                422,
            )
        else:
            numbers = selectors.checkin_preview(kr, organisation=me.organisation, value=value)
            preview = Preview(numbers=numbers)
    context = {"kr": kr, "preview": preview}
    return render(request, "web/_checkin_preview.html", context, status=status)
