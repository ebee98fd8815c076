"""The shared layout and home page, and the wrapper every signed-in page goes through."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from lockstep.errors import NotFound
from lockstep.goals.selectors import org_tz
from lockstep.org.access import NoPerson, current_person
from lockstep.org.models import Person

P = ParamSpec("P")
PersonView = Callable[Concatenate[HttpRequest, Person, P], HttpResponse]


def person_page(view: PersonView[P]) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Run a page as the request's person, with dates shown in the organisation's time zone.

    Signed-out visitors go to the sign-in page; an account without a person gets a 403 page
    rather than a crash, and an id from another organisation a 404 page (never a hint that
    the row exists).
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

    return login_required(wrapper)


def page_context(me: Person, section: str, **extra: Any) -> dict[str, Any]:
    """What the base layout needs: who is signed in and which navigation entry is current."""
    return {"me": me, "section": section, **extra}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("unit-tree")
