"""The demo organisation and the `lockstep demo` / `lockstep status` commands."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory

from lockstep.cli import main
from lockstep.goals import selectors
from lockstep.goals.models import CheckIn, KeyResult, Objective
from lockstep.org.models import Organisation


@pytest.fixture
def demo(db) -> Organisation:
    assert main(["demo"]) == 0
    return Organisation.objects.get(slug="northwind")


def _statuses(org: Organisation, at: dt.datetime | None = None) -> Counter[str]:
    krs = selectors.key_results_query(org).filter(archived_at__isnull=True)
    return Counter(selectors.kr_numbers(kr, organisation=org, at=at).status.value for kr in krs)


def test_demo_shows_every_status(demo):
    statuses = _statuses(demo)
    for status in ("done", "on_track", "at_risk", "off_track", "not_started"):
        assert statuses[status] >= 1, statuses


@pytest.mark.parametrize("weekday", range(7))
@pytest.mark.parametrize("hour", [0, 23])
def test_demo_statuses_hold_on_any_day_and_hour(db, weekday, hour):
    """The demo is dated around the day it is loaded; every status must show whatever the day."""
    from lockstep.demo.loader import load_demo

    now = dt.datetime(2026, 3, 2, hour, 30, tzinfo=dt.UTC) + dt.timedelta(days=weekday)
    org = load_demo(now=now)
    assert set(_statuses(org, at=now)) == {
        "done",
        "on_track",
        "at_risk",
        "off_track",
        "not_started",
    }


def test_demo_holds_the_worked_examples(demo):
    titles = set(Objective.objects.filter(organisation=demo).values_list("title", flat=True))
    for expected in (
        "Launch Feature X with high engagement in its first two weeks",
        "Cut cart abandonment by 20% within a month",
        "Establish Production Line A at 80% efficiency",
        "Launch SmartHome Pro and sell 10,000 units in the first month",
        "Running shoes: the right models in every store",
        "Acquire customers profitably",
    ):
        assert expected in titles
    kinds = set(KeyResult.objects.filter(organisation=demo).values_list("kind", flat=True))
    assert kinds == {"increase", "decrease", "at_least", "at_most", "milestone"}
    assert CheckIn.objects.filter(organisation=demo).count() > 60
    # Several weeks of history, not one check-in each.
    assert KeyResult.objects.filter(organisation=demo, checkin_count__gte=3).count() >= 10
    # Every KR that follows a KPI took the KPI's weekly points as check-ins.
    following = KeyResult.objects.filter(organisation=demo, kpi__isnull=False)
    assert following.count() == 5
    assert not following.filter(checkin_count__lt=3).exists()


def test_demo_login_works(demo):
    # Through a request, as the sign-in page does (the rate limiter needs one).
    request = RequestFactory().post("/login/")
    user = authenticate(request, username="demo", password="lockstep-demo")
    assert user is not None and user.person.organisation == demo


def test_demo_refuses_to_load_twice_without_reset(demo, capsys):
    assert main(["demo"]) == 1
    assert main(["demo", "--if-empty"]) == 0
    assert Organisation.objects.filter(slug="northwind").count() == 1
    assert main(["demo", "--reset"]) == 0
    assert Organisation.objects.filter(slug="northwind").count() == 1


def test_status_prints_a_table(demo, capsys):
    assert main(["status", "--cycle", "feature-x-sprint"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ITEM", "OWNER", "PROGRESS", "PACE", "STATUS"]
    assert any("Launch Feature X" in line for line in out)
    assert any(
        "Feature X fully developed" in line and line.rstrip().endswith("done") for line in out
    )
    assert not any("SmartHome" in line for line in out)


def test_status_filters_by_unit(demo, capsys):
    assert main(["status", "--unit", "quality"]) == 0
    out = capsys.readouterr().out
    assert "Production Line A" in out and "Feature X" not in out


def test_status_unknown_cycle_is_an_error(demo):
    with pytest.raises(SystemExit, match="unknown cycle"):
        main(["status", "--cycle", "nope"])


def test_demo_milestones_name_their_finished_steps(demo):
    kr = KeyResult.objects.get(organisation=demo, key="line-a-equipment")
    last = kr.checkins.order_by("-at").first()
    assert last.steps_done == [0, 1] and last.value == 2


def test_demo_shows_the_alignment_engine_at_work(demo):
    """Dependencies in every state, and a finding for each code the demo's story allows."""
    from lockstep.alignment.models import Dependency, Finding

    states = set(Dependency.objects.filter(organisation=demo).values_list("state", flat=True))
    assert states == {
        "requested",
        "accepted",
        "declined",
        "countered",
        "delivered",
        "missed",
        "cancelled",
    }
    codes = set(Finding.objects.filter(organisation=demo).values_list("code", flat=True))
    from lockstep.core.findings import CATALOGUE

    # A believable plan has no dependency loop and no unit with six objectives in a quarter.
    assert codes == set(CATALOGUE) - {"DEPENDENCY_CYCLE", "OVERLOADED_UNIT"}
    chain = Finding.objects.get(
        organisation=demo,
        code="UPSTREAM_AT_RISK",
        subject_id=KeyResult.objects.get(organisation=demo, key="line-a-defects").pk,
    )
    text = " ".join(chain.explanation)
    for unit in ("Quality Control", "Operations", "Engineering"):
        assert unit in text
