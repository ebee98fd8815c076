"""The dashboard's figures on a small organisation, and a query count that does not grow."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lockstep.dashboard.selectors import dashboard_of
from lockstep.goals.models import Objective
from tests.dashboard.conftest import grow_org


def _counts(c):
    return (c.not_started, c.on_track, c.at_risk, c.off_track, c.done, c.unknown)


def test_company_dashboard(org, board, cycle):
    d = dashboard_of(org)
    u = board["units"]
    assert [c.pk for c in d.cycles] == [cycle.pk]
    assert [o.key for o in d.objectives] == ["grow"]
    grow = Objective.objects.get(key="grow")
    assert d.objectives[0].progress == grow.progress and d.objectives[0].status == "off_track"
    assert d.objective_count == 6
    # not_started, on_track, at_risk, off_track, done, unknown
    assert _counts(d.key_results) == (2, 1, 1, 1, 2, 0) and d.key_results.total == 7

    rows = {r.key: r for r in d.units}
    assert [r.key for r in d.units] == ["marketing", "product", "support"]
    assert rows["product"].objective_count == 3  # launch, web-goal, app-goal
    assert _counts(rows["product"].key_results) == (1, 0, 0, 1, 1, 0)
    assert rows["product"].progress == pytest.approx((1 + 0.2 / 2.2 + 0) / 3)
    assert rows["marketing"].objective_count == 2  # launch, brand
    assert rows["marketing"].progress == pytest.approx(0.4)
    assert _counts(rows["support"].key_results) == (0, 0, 0, 0, 1, 0)

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
    assert d.objective_count == 3
    assert [r.key for r in d.units] == ["app", "web"]
    assert [r.objective_count for r in d.units] == [1, 1]
    assert _counts(d.key_results) == (1, 0, 0, 1, 1, 0)
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
    assert _counts(team.key_results) == (0, 0, 0, 1, 0, 0)


def test_krs_without_stored_numbers_count_as_unknown(org, board):
    from lockstep.goals.models import KeyResult

    KeyResult.objects.filter(key="speed").update(progress=None, status=None)
    d = dashboard_of(org)
    assert d.key_results.unknown == 1 and d.key_results.off_track == 0


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
    assert d.objectives == [] and d.key_results.total == 0 and d.dependencies == []
    assert [r.key for r in d.units] == ["marketing", "product", "support"]


def _queries(org, **kw) -> int:
    with CaptureQueriesContext(connection) as ctx:
        dashboard_of(org, **kw)
    return len(ctx.captured_queries)


# Cycles running today, objectives, row units, one statement of KR and objective figures
# over the unit tree, errors, warnings, their units, dependency pairs and their unit names,
# KPIs, KPI points.
DASHBOARD_QUERIES = 11


def test_query_count_does_not_grow_with_the_organisation(org, units, board, cycle):
    product = board["units"]["product"]
    small = (_queries(org), _queries(org, unit=product))
    grow_org(org, units, cycle, 6)
    assert (_queries(org), _queries(org, unit=product)) == small == (DASHBOARD_QUERIES,) * 2
    assert len(dashboard_of(org).units) == 9 and len(dashboard_of(org, unit=product).units) == 8
