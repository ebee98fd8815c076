"""The dashboard's figures on a small organisation, and a query count that does not grow."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lockstep.dashboard.selectors import dashboard_of
from lockstep.goals.models import Objective
from lockstep.org.models import Organisation, Unit
from tests.dashboard.conftest import grow_org


def _counts(c):
    return (c.not_started, c.on_track, c.at_risk, c.off_track, c.done)


def _mean_progress(*keys):
    return sum(Objective.objects.get(key=k).progress for k in keys) / len(keys)


def test_company_dashboard(org, board, cycle):
    d = dashboard_of(org)
    u = board["units"]
    assert [c.pk for c in d.cycles] == [cycle.pk]
    assert [o.key for o in d.objectives] == ["grow"]
    grow = Objective.objects.get(key="grow")
    assert d.objectives[0].progress == grow.progress and d.objectives[0].status == "off_track"
    everything = ("grow", "launch", "web-goal", "app-goal", "brand", "care")
    assert d.figures.objectives == 6 and d.figures.pending == 0
    # not_started, on_track, at_risk, off_track, done
    assert _counts(d.figures.key_results) == (2, 1, 1, 1, 2) and d.figures.key_results.total == 7
    assert d.figures.progress == pytest.approx(_mean_progress(*everything))

    rows = {r.key: r.figures for r in d.units}
    assert [r.key for r in d.units] == ["marketing", "product", "support"]
    # A unit's objectives: those it (or a unit below it) owns or contributes to, once each.
    assert rows["product"].objectives == 3  # launch, web-goal, app-goal
    assert _counts(rows["product"].key_results) == (1, 1, 0, 1, 1)
    assert rows["product"].progress == pytest.approx(
        _mean_progress("launch", "web-goal", "app-goal")
    )
    assert rows["marketing"].objectives == 2  # launch, brand
    assert _counts(rows["marketing"].key_results) == (1, 1, 0, 0, 1)
    assert _counts(rows["support"].key_results) == (0, 0, 0, 0, 1)

    assert [f.title for f in d.at_risk] == [
        "new-error",
        "old-error",
        "brand-warning",
        "loose-warning",
    ]
    assert d.at_risk[0].unit_ids == [u["web"].pk]

    pairs = [
        (
            p.requester_unit_name,
            p.provider_unit_name,
            p.requested,
            p.accepted,
            p.late,
            p.declined,
            p.delivered,
            p.trouble,
        )
        for p in d.dependencies
    ]
    assert pairs == [
        ("Marketing", "Product", 0, 0, 0, 1, 0, 1),
        ("Web team", "Marketing", 0, 1, 1, 0, 0, 1),
        ("Web team", "Support", 1, 0, 0, 0, 0, 0),
        ("App team", "Marketing", 0, 1, 0, 0, 0, 0),
        ("Marketing", "Support", 0, 0, 0, 0, 1, 0),
    ]

    assert [k.name for k in d.kpis] == ["Page speed", "Calls", "Reach"]
    speed, calls, reach = d.kpis
    assert speed.healthy is False and calls.healthy is None and reach.healthy is True
    assert [p.value for p in reach.points] == [float(v) for v in range(7, 19)]


def test_unit_dashboard_covers_the_unit_and_the_units_below(org, board):
    u = board["units"]
    d = dashboard_of(org, unit=u["product"])
    assert [o.key for o in d.objectives] == ["launch"]  # contributed to; the teams own the rest
    assert d.figures.objectives == 3
    assert _counts(d.figures.key_results) == (1, 1, 0, 1, 1)
    assert [r.key for r in d.units] == ["app", "web"]
    assert [r.figures.objectives for r in d.units] == [1, 1]
    assert [_counts(r.figures.key_results) for r in d.units] == [(1, 0, 0, 0, 0), (0, 0, 0, 1, 0)]
    assert [f.title for f in d.at_risk] == ["new-error", "old-error"]
    assert {(p.requester_unit_name, p.provider_unit_name) for p in d.dependencies} == {
        ("Marketing", "Product"),
        ("Web team", "Marketing"),
        ("Web team", "Support"),
        ("App team", "Marketing"),
    }
    assert [k.name for k in d.kpis] == ["Page speed"]

    team = dashboard_of(org, unit=u["web"])
    assert team.units == [] and [o.key for o in team.objectives] == ["web-goal"]
    assert _counts(team.figures.key_results) == (0, 0, 0, 1, 0)


def test_objectives_without_stored_numbers_are_pending(org, board):
    Objective.objects.filter(key="web-goal").update(
        progress=None, status=None, kr_off_track=None, kr_not_started=None
    )
    d = dashboard_of(org)
    assert d.figures.pending == 1 and d.figures.objectives == 6
    assert d.figures.key_results.off_track == 0


def test_a_cycle_that_is_not_running_shows_nothing_of_today(org, board, cycle):
    import datetime as dt

    from lockstep.goals import services as goals

    old = goals.cycle_create(
        organisation=org,
        actor=None,
        name="Old",
        kind="month",
        start=cycle.start - dt.timedelta(days=60),
        end=cycle.start - dt.timedelta(days=30),
    )
    d = dashboard_of(org, cycle=old)
    assert d.objectives == [] and d.figures.key_results.total == 0 and d.dependencies == []
    assert [r.key for r in d.units] == ["marketing", "product", "support"]


def _queries(org, **kw) -> int:
    with CaptureQueriesContext(connection) as ctx:
        dashboard_of(org, **kw)
    return len(ctx.captured_queries)


# Cycles running today, objectives, row units, one statement of figures over the unit tree,
# one of the newest errors and warnings, their units, dependency pairs and their unit names,
# KPIs, KPI points.
DASHBOARD_QUERIES = 10


def test_query_count_does_not_grow_with_the_organisation(org, units, board, cycle):
    # Rows as a request fetches them: nothing related is cached.
    org = Organisation.objects.get(pk=org.pk)
    product = Unit.objects.get(pk=board["units"]["product"].pk)
    small = (_queries(org), _queries(org, unit=product))
    grow_org(org, units, cycle, 6)
    assert (_queries(org), _queries(org, unit=product)) == small == (DASHBOARD_QUERIES,) * 2
    assert len(dashboard_of(org).units) == 9 and len(dashboard_of(org, unit=product).units) == 8
