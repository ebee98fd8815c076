"""The dashboard page's own selectors: heat map, KPI groups and the progress trend."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lockstep.dashboard.selectors import (
    dashboard_of,
    heat_map,
    kpi_groups,
    progress_trend,
)
from lockstep.goals import services as goals
from lockstep.goals.selectors import day_start, org_tz
from lockstep.org import services as org_services
from lockstep.org.models import Organisation, Unit
from tests.api.conftest import Api
from tests.dashboard.conftest import grow_org


def _cells(org, **kw):
    h = heat_map(dashboard_of(org, **kw))
    return h, {(row.name, col.key): cell for row, cells in h.table for col, cell in cells if cell}


def test_heat_map_rows_columns_and_cells(org, board):
    h, cells = _cells(org)
    assert [c.key for c in h.columns] == ["grow", "launch"]  # company, then shared
    assert [r.name for r in h.rows] == ["Marketing", "Product", "Support"]
    assert not h.capped
    product = cells[("Product", "launch")]
    assert product.key_results == 3 and product.status == "off_track"
    assert product.progress == pytest.approx((1 + 0.2 / 2.2 + 0) / 3)
    assert cells[("Marketing", "grow")].progress == pytest.approx(0.4)
    assert cells[("Marketing", "grow")].status == "on_track"
    assert cells[("Support", "grow")].status == "done"
    assert ("Support", "launch") not in cells


def test_a_jointly_owned_kr_counts_once_per_row_and_in_each_row(org, board, cycle):
    u = board["units"]
    launch = board["objectives"]["launch"]
    # Owned by the Web team with the App team: both are Product's, so once there.
    both = goals.key_result_create(
        objective=launch,
        actor=None,
        key="joint",
        title="joint",
        kind="increase",
        start=0,
        target=10,
        owner_unit=u["web"],
        co_owners=[u["app"], u["support"]],
    )
    goals.checkin_record(key_result=both, actor=None, value=5, confidence=5)
    _, cells = _cells(org)
    assert cells[("Product", "launch")].key_results == 4
    assert cells[("Product", "launch")].progress == pytest.approx((1 + 0.2 / 2.2 + 0 + 0.5) / 4)
    assert cells[("Support", "launch")].key_results == 1  # as a co-owner, in its own row
    assert cells[("Support", "launch")].progress == pytest.approx(0.5)


def test_an_archived_objective_feeds_no_cell(org, board):
    web_goal = board["krs"]["speed"].objective
    goals.objective_archive(objective=web_goal, actor=None)
    _, cells = _cells(org)
    assert cells[("Product", "launch")].key_results == 2


def test_below_a_unit_the_rows_are_its_children(org, board):
    product = board["units"]["product"]
    h, cells = _cells(org, unit=product)
    # The company's objective, the shared one Product works on, its teams' own.
    assert [c.key for c in h.columns] == ["grow", "launch", "app-goal", "web-goal"]
    assert [r.name for r in h.rows] == ["App team", "Web team"]
    assert cells[("Web team", "launch")].status == "off_track"
    assert cells[("Web team", "grow")].status == "off_track"
    assert cells[("App team", "launch")].status == "not_started"
    assert cells[("App team", "app-goal")].key_results == 1
    assert ("App team", "web-goal") not in cells


def test_heat_map_is_two_queries_whatever_the_size(org, units, board, cycle):
    org = Organisation.objects.get(pk=org.pk)
    product = Unit.objects.get(pk=board["units"]["product"].pk)

    def count(**kw) -> int:
        d = dashboard_of(org, **kw)
        with CaptureQueriesContext(connection) as ctx:
            heat_map(d)
        return len(ctx.captured_queries)

    small = (count(), count(unit=product))
    grow_org(org, units, cycle, 12)
    assert (count(), count(unit=product)) == small == (2, 2)


def test_kpi_groups_put_joint_owners_first(org, board):
    u = board["units"]
    joint = goals.kpi_create(
        organisation=org, actor=None, name="Zeta", owner_units=[u["support"], u["marketing"]]
    )
    groups = kpi_groups(dashboard_of(org).kpis)
    assert groups[0].owners == ["Marketing", "Support"] and groups[0].joint
    assert [k.id for k in groups[0].kpis] == [joint.pk]
    assert all(not g.joint for g in groups[1:])


@pytest.fixture
def history(org, units, cycle):
    """One KR checked in two days after the cycle start (20%) and today (50%)."""
    objective = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, key="o", title="O", owner_unit=units["product"]
    )
    kr = goals.key_result_create(
        objective=objective,
        actor=None,
        key="k",
        title="k",
        kind="increase",
        start=0,
        target=100,
        owner_unit=units["product"],
    )
    start = day_start(cycle.start, org_tz(org))
    goals.checkin_record(
        key_result=kr, actor=None, value=20, confidence=5, at=start + dt.timedelta(days=2)
    )
    goals.checkin_record(key_result=kr, actor=None, value=50, confidence=5)
    return kr


def test_trend_replays_the_check_ins_week_by_week(org, cycle, history):
    trend = progress_trend(dashboard_of(org))
    assert trend is not None and not trend.too_many and trend.key_results == 1
    tz = org_tz(org)
    start = day_start(cycle.start, tz)
    assert [p.at for p in trend.points[:2]] == [start, start + dt.timedelta(weeks=1)]
    assert [p.progress for p in trend.points] == pytest.approx([0.0, 0.2, 0.5])
    # The pace line: expected progress at each moment, from 0 at the start.
    assert trend.points[0].expected == 0
    assert trend.points[1].expected == pytest.approx(7 / 14)
    assert trend.points[-1].at == pytest.approx(timezone.now(), abs=dt.timedelta(seconds=30))


def test_trend_below_a_unit_counts_only_its_key_results(org, units, cycle, history):
    theirs = progress_trend(dashboard_of(org, unit=units["marketing"]))
    assert theirs is not None and theirs.key_results == 0 and theirs.points == []
    mine = progress_trend(dashboard_of(org, unit=units["product"]))
    assert mine.key_results == 1 and mine.points[-1].progress == pytest.approx(0.5)


def test_trend_is_two_queries(org, cycle, history, units):
    d = dashboard_of(org)
    with CaptureQueriesContext(connection) as ctx:
        progress_trend(d)
    assert len(ctx.captured_queries) == 2


# ---- the same panels through the API ------------------------------------------------------


def test_heat_map_endpoint_shares_the_selector(client_in, board):
    api = Api(client_in)
    u, o = board["units"], board["objectives"]
    status, body = api.get("/dashboard/heat-map")
    assert status == 200, body
    assert body["objective_ids"] == [o["grow"].pk, o["launch"].pk] and not body["capped"]
    assert body["unit_ids"] == [u["marketing"].pk, u["product"].pk, u["support"].pk]
    cells = {(c["unit_id"], c["objective_id"]): c for c in body["cells"]}
    assert cells[(u["marketing"].pk, o["launch"].pk)] == {
        "unit_id": u["marketing"].pk,
        "objective_id": o["launch"].pk,
        "progress": pytest.approx(0.8),
        "status": "on_track",
        "key_results": 1,
    }
    status, body = api.get("/dashboard/heat-map", unit=u["product"].pk)
    assert body["unit_ids"] == [u["app"].pk, u["web"].pk]


def test_trend_endpoint_shares_the_selector(client_in, org, cycle, history):
    status, body = Api(client_in).get("/dashboard/trend")
    assert status == 200, body
    assert body["key_results"] == 1 and not body["too_many"]
    assert [p["progress"] for p in body["points"]] == pytest.approx([0.0, 0.2, 0.5])
    assert body["start"] == cycle.start.isoformat()


def test_panel_endpoints_hide_another_organisations_rows(client_in, board):
    other = org_services.organisation_create(slug="globex", name="Globex")
    unit = org_services.unit_create(organisation=other, actor=None, name="Sales", kind="team")
    for path in ("/dashboard/heat-map", "/dashboard/trend"):
        status, body = Api(client_in).get(path, unit=unit.pk)
        assert status == 404, body
        status, body = Api(client_in).get(path, unit="abc")
        assert status == 422, body
