"""GET /api/v1/objectives reads the stored numbers, a page at a time, in a fixed number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lockstep.goals import services as goals
from lockstep.goals.models import Objective


def add_objectives(org, units, cycle, parent, start: int, count: int) -> None:
    """`count` shared objectives under `parent`, each with a co-owned KR and a checked-in one."""
    for i in range(start, start + count):
        o = goals.objective_create(
            organisation=org,
            actor=None,
            cycle=cycle,
            key=f"o{i}",
            title=f"Objective {i}",
            level="shared",
            contributors=[units["product"], units["marketing"]],
            parents=[(parent, 1.0)],
        )
        goals.key_result_create(
            objective=o,
            actor=None,
            title="Visits",
            kind="increase",
            target=100,
            owner_unit=units["marketing"],
            co_owners=[units["product"]],
        )
        kr = goals.key_result_create(
            objective=o,
            actor=None,
            title="Tickets",
            kind="decrease",
            start=50,
            target=10,
            weight=2,
            owner_unit=units["support"],
        )
        goals.checkin_record(key_result=kr, actor=None, confidence=6, value=10 + i % 40)


@pytest.fixture
def company(org, units, cycle) -> Objective:
    return goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        key="company",
        title="Grow",
        level="company",
        owner_unit=units["acme"],
    )


def list_queries(api, **params) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as ctx:
        status, body = api.get("/objectives", **params)
    assert status == 200, body
    return len(ctx.captured_queries), body


def test_list_costs_the_same_queries_whatever_the_page_holds(api, org, units, cycle, company):
    add_objectives(org, units, cycle, company, 0, 2)
    few, body = list_queries(api, limit=100)
    assert body["count"] == 3
    add_objectives(org, units, cycle, company, 2, 12)
    many, body = list_queries(api, limit=100)
    assert body["count"] == 15
    # sign-in and person lookups, count per cycle, cycle starts, page, two prefetches, KRs,
    # KR co-owners
    assert many == few <= 11
    filtered, body = list_queries(api, limit=100, status="on_track", unit_id=units["product"].pk)
    assert filtered <= few + 1  # the filter asks once whether every row has stored numbers


def test_list_items_equal_the_live_detail(api, org, units, cycle, company):
    add_objectives(org, units, cycle, company, 0, 4)
    items = api.get("/objectives", limit=100)[1]["items"]
    assert len(items) == 5
    for item in items:
        detail = api.get(f"/objectives/{item['id']}")[1]
        assert item["expected_progress"] == pytest.approx(detail.pop("expected_progress"))
        assert item["progress"] == pytest.approx(detail.pop("progress"), abs=1e-12)
        item.pop("expected_progress"), item.pop("progress")
        shares = item.pop("unit_shares")
        assert [s["unit_id"] for s in shares] == [s["unit_id"] for s in detail["unit_shares"]]
        for s, d in zip(shares, detail.pop("unit_shares"), strict=True):
            assert s["share"] == pytest.approx(d["share"], abs=1e-12)
        assert item == detail


def test_list_shows_stored_status_and_filters_by_it(api, org, units, cycle, company):
    add_objectives(org, units, cycle, company, 0, 2)
    o0 = Objective.objects.get(key="o0")
    live = api.get(f"/objectives/{o0.pk}")[1]["status"]
    assert live != "done"
    # As if the clock had moved since the last refresh: the list shows what is stored.
    Objective.objects.filter(pk=o0.pk).update(status="done", progress=1.0)
    listed = {o["key"]: o for o in api.get("/objectives")[1]["items"]}
    assert listed["o0"]["status"] == "done" and listed["o0"]["progress"] == 1.0
    assert [o["key"] for o in api.get("/objectives", status="done")[1]["items"]] == ["o0"]
    assert api.get(f"/objectives/{o0.pk}")[1]["status"] == live


def test_rows_without_stored_numbers_roll_up_live(api, org, units, cycle, company):
    add_objectives(org, units, cycle, company, 0, 2)
    expected = {o["key"]: o for o in api.get("/objectives")[1]["items"]}
    # Rows of the bulk path before their first full refresh carry no numbers.
    Objective.objects.filter(key__in=["o1", "company"]).update(
        progress=None, status=None, numbers_at=None
    )
    listed = {o["key"]: o for o in api.get("/objectives")[1]["items"]}
    for key in ("o1", "company"):
        assert listed[key]["status"] == expected[key]["status"]
        assert listed[key]["progress"] == pytest.approx(expected[key]["progress"])
        assert listed[key]["unit_shares"] == expected[key]["unit_shares"]
    status = expected["company"]["status"]
    assert "company" in [o["key"] for o in api.get("/objectives", status=status)[1]["items"]]


def test_pages_follow_cycle_start_then_key_across_cycles(api, org, units, cycle):
    """Pages walk the cycles by start date; cycles starting the same day interleave by key."""
    import datetime as dt

    later = goals.cycle_create(
        organisation=org,
        actor=None,
        name="Next",
        key="next",
        kind="two_weeks",
        start=cycle.end + dt.timedelta(days=1),
        end=cycle.end + dt.timedelta(days=14),
    )
    twin = goals.cycle_create(
        organisation=org,
        actor=None,
        name="Twin",
        key="twin",
        kind="quarter",
        start=cycle.start,
        end=cycle.end + dt.timedelta(days=30),
    )
    for c, keys in ((later, "adg"), (cycle, "bfh"), (twin, "ce")):
        for k in keys:
            goals.objective_create(
                organisation=org, actor=None, cycle=c, key=k, title=k, level="company"
            )
    expected = list(
        Objective.objects.filter(organisation=org)
        .order_by("cycle__start", "key")
        .values_list("key", flat=True)
    )
    assert expected == list("bcefhadg")
    for limit in (1, 2, 3, 8, 20):
        seen = []
        for offset in range(0, 10, limit):
            _, body = list_queries(api, limit=limit, offset=offset)
            assert body["count"] == 8
            seen += [o["key"] for o in body["items"]]
        assert seen == expected, limit
    _, body = list_queries(api, limit=5, offset=2, level="company", cycle_id=twin.pk)
    assert [o["key"] for o in body["items"]] == [] and body["count"] == 2
