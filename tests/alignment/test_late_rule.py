"""One rule of "late" everywhere: a dependency still open (requested, countered or
accepted) whose needed-by day has passed. An unanswered request past its day is as late
as an accepted one; a delivered one never is."""

from __future__ import annotations

import datetime as dt

import pytest

from lockstep.alignment import selectors as alignment_selectors
from lockstep.alignment import services as alignment
from lockstep.alignment.models import Dependency
from lockstep.dashboard.selectors import dashboard_of
from lockstep.goals import services as goals
from lockstep.org.selectors import unit_page


@pytest.fixture
def deps(org, units, cycle):
    o = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="Ship", owner_unit=units["product"]
    )
    kr = goals.key_result_create(
        objective=o, actor=None, title="K", kind="increase", target=10, owner_unit=units["product"]
    )
    today = dt.date.today()

    def ask(title, days):
        return alignment.dependency_request(
            organisation=org,
            actor=None,
            requester_item=kr,
            provider_unit=units["support"],
            title=title,
            needed_by=today + dt.timedelta(days=days),
        )

    unanswered = ask("unanswered, past its day", -2)
    accepted = alignment.dependency_accept(dependency=ask("accepted, past its day", -1), actor=None)
    delivered = alignment.dependency_deliver(
        dependency=alignment.dependency_accept(dependency=ask("delivered", -1), actor=None),
        actor=None,
    )
    upcoming = ask("still to come", 3)
    return {
        "unanswered": unanswered,
        "accepted": accepted,
        "delivered": delivered,
        "upcoming": upcoming,
        "today": today,
    }


def test_the_rule(deps):
    today = deps["today"]
    assert [
        deps[k].is_late(today) for k in ("unanswered", "accepted", "delivered", "upcoming")
    ] == [True, True, False, False]
    late = set(Dependency.objects.filter(Dependency.late_q(today)).values_list("title", flat=True))
    assert late == {"unanswered, past its day", "accepted, past its day"}


def test_dashboard_unit_page_and_map_count_the_same_two(org, units, deps):
    today = deps["today"]
    (pair,) = dashboard_of(org).dependencies or dashboard_of(org, unit=units["acme"]).dependencies
    assert pair.late == 2
    page = unit_page(units["product"], organisation=org)
    assert page.asked.late == 2
    support = unit_page(units["support"], organisation=org)
    assert support.owes.late == 2
    shown = alignment_selectors.dependency_map(org, today=today, show="late")
    assert {d.title for d in shown.dependencies} == {
        "unanswered, past its day",
        "accepted, past its day",
    }
    assert all(d.late for d in shown.dependencies)
