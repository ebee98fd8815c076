"""Stored progress and status equal the live numbers after every kind of write."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lockstep.alignment import services as alignment
from lockstep.goals import services as goals
from lockstep.goals.models import KR_COUNT_FIELDS, KeyResult, Objective
from lockstep.goals.selectors import kr_numbers, objective_numbers
from lockstep.org import services as org_services


def assert_stored_is_live(org, at=None):
    """Every objective and live KR stores the numbers the live selectors compute."""
    objectives = list(Objective.objects.filter(organisation=org))
    live = objective_numbers([o.pk for o in objectives], organisation=org, at=at)
    for o in objectives:
        assert o.progress == pytest.approx(live[o.pk].progress, abs=1e-12), o.key
        assert o.status == live[o.pk].status, o.key
    krs = KeyResult.objects.filter(organisation=org, archived_at__isnull=True).select_related(
        "objective__cycle"
    )
    counts = {o.pk: dict.fromkeys(KR_COUNT_FIELDS, 0) for o in objectives}
    for kr in krs:
        n = kr_numbers(kr, organisation=org, at=at)
        assert kr.progress == pytest.approx(n.progress, abs=1e-12), kr.key
        assert kr.status == n.status, kr.key
        counts[kr.objective_id][f"kr_{n.status.value}"] += 1
    for o in objectives:
        assert {f: getattr(o, f) for f in KR_COUNT_FIELDS} == counts[o.pk], o.key


@pytest.fixture
def incremental_only(monkeypatch):
    """Structural events run no full refresh, so only the services' incremental path counts."""
    monkeypatch.setattr(alignment, "findings_refresh_full", lambda *a, **k: [])


@pytest.fixture
def tree(org, units, cycle):
    """company <- shared <- team goal, and team goal -> company directly too (two parents),
    with a fourth level below the team goal; KRs on every level."""
    company = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        key="company",
        title="Grow",
        level="company",
        owner_unit=units["acme"],
    )
    shared = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        key="shared",
        title="Launch",
        level="shared",
        contributors=[units["product"], units["marketing"]],
        parents=[(company, 2.0)],
    )
    team = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        key="team",
        title="Ship the app",
        owner_unit=units["product"],
        parents=[(shared, 1.0), (company, 0.5)],
    )
    squad = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        key="squad",
        title="Checkout",
        owner_unit=units["product"],
        parents=[(team, 3.0)],
    )
    krs = {}
    for objective, key, kind, start, target, unit in (
        (company, "revenue", "increase", 0, 100, "acme"),
        (shared, "visits", "increase", 0, 5000, "marketing"),
        (shared, "csat", "at_least", 0, 95, "support"),
        (team, "crashes", "decrease", 50, 10, "product"),
        (team, "release", "milestone", 0, 1, "product"),
        (squad, "conversion", "increase", 1, 3, "product"),
    ):
        krs[key] = goals.key_result_create(
            objective=objective,
            actor=None,
            key=key,
            title=key,
            kind=kind,
            start=start,
            target=target,
            owner_unit=units[unit],
        )
    return {"company": company, "shared": shared, "team": team, "squad": squad, **krs}


def test_new_objectives_and_krs_store_their_numbers(org, tree):
    assert_stored_is_live(org)
    company = Objective.objects.get(pk=tree["company"].pk)
    assert (company.progress, company.status) == (0.0, "not_started")
    assert company.numbers_at is not None


def test_check_ins_roll_up_through_every_level_and_both_parents(org, tree, incremental_only):
    goals.checkin_record(key_result=tree["conversion"], actor=None, value=2.5, confidence=7)
    assert_stored_is_live(org)
    goals.checkin_record(key_result=tree["visits"], actor=None, value=1000, confidence=4)
    goals.checkin_record(key_result=tree["crashes"], actor=None, value=20, confidence=6)
    goals.checkin_record(key_result=tree["release"], actor=None, value=1, confidence=9)
    assert_stored_is_live(org)
    company = Objective.objects.get(pk=tree["company"].pk)
    assert 0 < company.progress < 1 and company.status == "off_track"
    kr = KeyResult.objects.get(pk=tree["release"].pk)
    assert (kr.progress, kr.status) == (1.0, "done")


def test_many_feeders_of_every_status_off_the_chain(org, units, tree, incremental_only):
    """A check-in on a company KR re-rolls the company objective from its feeders' stored
    numbers, summed by status, whatever their number."""
    cycle = tree["company"].cycle
    for i, value in enumerate([None, 0, 10, 60, 100, 100, 30]):
        feeder = goals.objective_create(
            organisation=org,
            actor=None,
            cycle=cycle,
            title=f"Feeder {i}",
            owner_unit=units["support"],
            parents=[(tree["company"], 0.5 + i)],
        )
        kr = goals.key_result_create(
            objective=feeder, actor=None, title=f"F{i}", kind="increase", target=100
        )
        if value is not None:
            goals.checkin_record(key_result=kr, actor=None, value=value, confidence=5)
    goals.checkin_record(key_result=tree["revenue"], actor=None, value=50, confidence=5)
    assert_stored_is_live(org)


def test_key_result_edits_move_the_roll_up(org, tree, incremental_only):
    goals.checkin_record(key_result=tree["visits"], actor=None, value=2500, confidence=7)
    goals.key_result_update(key_result=tree["visits"], actor=None, target=2500)
    assert_stored_is_live(org)
    assert KeyResult.objects.get(pk=tree["visits"].pk).status == "done"
    goals.key_result_update(key_result=tree["conversion"], actor=None, weight=4)
    goals.key_result_update(key_result=tree["crashes"], actor=None, due=tree["company"].cycle.start)
    assert_stored_is_live(org)
    goals.key_result_create(
        objective=tree["squad"], actor=None, title="Done already", kind="at_most", target=5
    )
    assert_stored_is_live(org)


def test_link_changes_re_roll_old_and_new_parents(org, tree, incremental_only):
    goals.checkin_record(key_result=tree["conversion"], actor=None, value=3, confidence=7)
    before = Objective.objects.get(pk=tree["company"].pk).progress
    # The team goal leaves the company (keeps the shared objective) and weighs more there.
    goals.objective_update(objective=tree["team"], actor=None, parents=[(tree["shared"], 5.0)])
    assert_stored_is_live(org)
    assert Objective.objects.get(pk=tree["company"].pk).progress != before
    goals.objective_update(objective=tree["squad"], actor=None, parents=[])
    assert_stored_is_live(org)
    goals.objective_create(
        organisation=org,
        actor=None,
        cycle=tree["company"].cycle,
        title="Late joiner",
        owner_unit=tree["company"].owner_unit,
        parents=[(tree["squad"], 1.0), (tree["company"], 1.0)],
    )
    assert_stored_is_live(org)


def test_archiving_takes_krs_and_objectives_out_of_the_roll_up(org, tree, incremental_only):
    goals.checkin_record(key_result=tree["release"], actor=None, value=1, confidence=9)
    goals.checkin_record(key_result=tree["visits"], actor=None, value=4000, confidence=9)
    goals.key_result_archive(key_result=tree["crashes"], actor=None)
    assert_stored_is_live(org)
    goals.objective_archive(objective=tree["squad"], actor=None)
    assert_stored_is_live(org)


def test_a_kpi_point_moves_the_krs_that_follow_it(org, units, tree, incremental_only):
    kpi = goals.kpi_create(organisation=org, actor=None, name="Visits", owner_units=[units["acme"]])
    goals.key_result_update(key_result=tree["visits"], actor=None, kpi=kpi)
    goals.kpi_point_record(kpi=kpi, actor=None, value=2500)
    assert KeyResult.objects.get(pk=tree["visits"].pk).progress == 0.5
    assert_stored_is_live(org)


def test_a_cycle_that_moves_moves_every_pace_line(org, tree, cycle, incremental_only):
    goals.checkin_record(key_result=tree["visits"], actor=None, value=1000, confidence=6)
    goals.checkin_record(key_result=tree["conversion"], actor=None, value=2.8, confidence=6)
    goals.cycle_update(cycle=cycle, actor=None, end=cycle.end + dt.timedelta(days=60))
    assert_stored_is_live(org)


def test_the_full_refresh_fills_rows_the_bulk_path_left_empty(org, tree):
    goals.checkin_record(key_result=tree["visits"], actor=None, value=1000, confidence=6)
    KeyResult.objects.update(progress=None, status=None, numbers_at=None)
    Objective.objects.update(
        progress=None, status=None, numbers_at=None, **dict.fromkeys(KR_COUNT_FIELDS)
    )
    alignment.findings_refresh_full(org)
    assert_stored_is_live(org)
    org.refresh_from_db()
    assert org.numbers_refreshed_at is not None
    # Nothing moved since: the next run writes nothing.
    assert goals.numbers_refresh_full(org) == 0


def test_the_full_refresh_follows_the_clock(org, tree, cycle):
    goals.checkin_record(key_result=tree["visits"], actor=None, value=2000, confidence=6)
    assert KeyResult.objects.get(pk=tree["visits"].pk).status == "at_risk"
    later = timezone.now() + dt.timedelta(days=4)
    written = goals.numbers_refresh_full(org, now=later)
    assert written > 0
    assert KeyResult.objects.get(pk=tree["visits"].pk).status == "off_track"
    assert_stored_is_live(org, at=later)


def test_new_margins_restatus_everything(org, tree):
    goals.checkin_record(key_result=tree["visits"], actor=None, value=2000, confidence=6)
    org_services.organisation_update(
        organisation=org, actor=None, on_track_margin=0.5, at_risk_margin=0.6
    )
    assert KeyResult.objects.get(pk=tree["visits"].pk).status == "on_track"
    assert_stored_is_live(org)


def test_incremental_refresh_computes_what_the_bulk_path_left_empty(org, tree, incremental_only):
    """Rows without numbers met on the way are computed, not counted as zero."""
    goals.checkin_record(key_result=tree["csat"], actor=None, value=95, confidence=6)
    goals.checkin_record(key_result=tree["conversion"], actor=None, value=2, confidence=6)
    KeyResult.objects.filter(pk=tree["csat"].pk).update(progress=None, status=None)
    Objective.objects.filter(pk=tree["squad"].pk).update(
        progress=None, status=None, **dict.fromkeys(KR_COUNT_FIELDS)
    )
    goals.checkin_record(key_result=tree["crashes"], actor=None, value=30, confidence=6)
    assert_stored_is_live(org)


def test_a_store_left_mostly_empty_is_filled_by_the_full_refresh(
    org, tree, incremental_only, monkeypatch
):
    monkeypatch.setattr(goals, "CHAIN_MAX", 2)
    KeyResult.objects.update(progress=None, status=None)
    Objective.objects.update(progress=None, status=None, **dict.fromkeys(KR_COUNT_FIELDS))
    goals.checkin_record(key_result=tree["revenue"], actor=None, value=10, confidence=6)
    assert_stored_is_live(org)
    org.refresh_from_db()
    assert org.numbers_refreshed_at is not None


def test_re_rolling_a_chain_costs_two_queries_whatever_its_depth(org, tree):
    goals.checkin_record(key_result=tree["conversion"], actor=None, value=2, confidence=6)
    # Nothing moved: one read.
    with CaptureQueriesContext(connection) as ctx:
        goals.numbers_refresh(organisation=org, objective_ids=[tree["squad"].pk])
    assert len(ctx.captured_queries) == 1
    # A change four levels down: one read, one UPDATE of the objectives that moved.
    KeyResult.objects.filter(pk=tree["conversion"].pk).update(progress=0.9, status="on_track")
    with CaptureQueriesContext(connection) as ctx:
        goals.numbers_refresh(organisation=org, objective_ids=[tree["squad"].pk])
    assert len(ctx.captured_queries) == 2
    moved = Objective.objects.filter(pk__in=[tree[k].pk for k in ("squad", "team", "company")])
    assert all(o.numbers_at is not None for o in moved)


def test_stored_numbers_stay_out_of_the_activity_log(org, tree):
    from lockstep.activity.models import ActivityEvent

    goals.key_result_update(key_result=tree["visits"], actor=None, target=4000)
    event = ActivityEvent.objects.filter(verb="key_result.updated").latest("id")
    assert event.before == {"target": 5000.0} and event.after == {"target": 4000.0}
