"""Every resource of the API is created, read, listed, updated and archived the same way."""

from __future__ import annotations

import datetime as dt

import pytest

from lockstep.activity.models import ActivityEvent
from tests.api.conftest import field_error


@pytest.fixture
def objective(api, units, cycle):
    status, body = api.post(
        "/objectives",
        {
            "title": "Launch Feature X",
            "key": "launch-x",
            "cycle_id": cycle.pk,
            "level": "shared",
            "contributor_ids": [units["product"].pk, units["marketing"].pk],
        },
    )
    assert status == 201, body
    return body


@pytest.fixture
def kr(api, objective, units):
    status, body = api.post(
        "/key-results",
        {
            "objective_id": objective["id"],
            "title": "5,000 visits",
            "kind": "increase",
            "start": 0,
            "target": 5000,
            "measure": "visits",
            "owner_unit_id": units["marketing"].pk,
        },
    )
    assert status == 201, body
    return body


def _resources(units, cycle, objective, kr, person):
    """(path, create body, patch body, field the patch changes)."""
    return {
        "units": (
            "/units",
            {
                "name": "Lab",
                "kind": "department",
                "parent_id": units["acme"].pk,
                "weekly_capacity": 40,
                "capacity_unit": "jobs",
            },
            {"weekly_capacity": 50},
            "weekly_capacity",
        ),
        "people": (
            "/people",
            {
                "name": "Grace",
                "email": "Grace@Example.com",
                "memberships": [{"unit_id": units["support"].pk, "role": "leader"}],
            },
            {"name": "Grace Hopper"},
            "name",
        ),
        "cycles": (
            "/cycles",
            {
                "name": "Week 2",
                "kind": "week",
                "start": str(cycle.start),
                "end": str(cycle.start + dt.timedelta(days=6)),
                "parent_id": cycle.pk,
            },
            {"name": "Week two"},
            "name",
        ),
        "objectives": (
            "/objectives",
            {
                "title": "Support ready",
                "cycle_id": cycle.pk,
                "level": "unit",
                "owner_unit_id": units["support"].pk,
                "parents": [{"objective_id": objective["id"], "weight": 2}],
            },
            {"title": "Support fully ready"},
            "title",
        ),
        "key-results": (
            "/key-results",
            {
                "objective_id": objective["id"],
                "title": "CSAT",
                "kind": "at_least",
                "target": 95,
                "measure": "%",
                "owner_unit_id": units["support"].pk,
            },
            {"target": 96},
            "target",
        ),
        "initiatives": (
            "/initiatives",
            {
                "title": "Landing page",
                "owner_unit_id": units["marketing"].pk,
                "key_result_ids": [kr["id"]],
                "assignee_id": person.pk,
            },
            {"state": "in_progress"},
            "state",
        ),
        "kpis": (
            "/kpis",
            {
                "name": "Customer acquisition cost",
                "measure": "EUR",
                "healthy_min": 0,
                "healthy_max": 120,
                "owner_unit_ids": [units["marketing"].pk],
            },
            {"healthy_max": 110},
            "healthy_max",
        ),
    }


@pytest.mark.parametrize(
    "name", ["units", "people", "cycles", "objectives", "key-results", "initiatives", "kpis"]
)
def test_resource_lifecycle(api, units, cycle, objective, kr, person, name):
    path, create, patch, field = _resources(units, cycle, objective, kr, person)[name]
    events = ActivityEvent.objects.count()

    status, made = api.post(path, create)
    assert status == 201, made
    assert ActivityEvent.objects.count() == events + 1

    status, got = api.get(f"{path}/{made['id']}")
    # The pace line moves with the clock between the two calls; everything else must match.
    assert status == 200
    assert {k: v for k, v in got.items() if k != "expected_progress"} == {
        k: v for k, v in made.items() if k != "expected_progress"
    }

    status, page = api.get(path, limit=500)
    assert status == 200
    assert made["id"] in [row["id"] for row in page["items"]]
    assert page["count"] == len(page["items"])

    status, changed = api.patch(f"{path}/{made['id']}", patch)
    assert status == 200, changed
    assert changed[field] == patch[field]
    assert ActivityEvent.objects.count() == events + 2

    status, gone = api.delete(f"{path}/{made['id']}")
    assert status in (200, 204), gone
    if status == 200:
        assert gone["archived"] is True
        status, page = api.get(path, limit=500)
        assert made["id"] not in [row["id"] for row in page["items"]]
        status, page = api.get(path, limit=500, include_archived=True)
        assert made["id"] in [row["id"] for row in page["items"]]
    else:
        assert api.get(f"{path}/{made['id']}")[0] == 404


def test_people_email_is_normalised_and_unique(api, units):
    status, body = api.post("/people", {"name": "Grace", "email": "Grace@Example.com"})
    assert status == 201 and body["email"] == "grace@example.com"
    status, body = api.post("/people", {"name": "Other", "email": "grace@example.com"})
    assert status == 422
    assert "already used" in field_error(body, "email")


def test_pagination_counts_and_slices(api, units):
    status, page = api.get("/units", limit=2, offset=1)
    assert status == 200
    assert page["count"] == 4 and page["limit"] == 2 and page["offset"] == 1
    assert [u["key"] for u in page["items"]] == ["marketing", "product"]
    status, body = api.get("/units", limit=0)
    assert status == 422 and field_error(body, "limit")


def test_objective_filters(api, units, cycle, objective, kr):
    status, other = api.post(
        "/objectives",
        {
            "title": "Ops",
            "cycle_id": cycle.pk,
            "level": "unit",
            "owner_unit_id": units["support"].pk,
        },
    )
    assert status == 201
    by_unit = api.get("/objectives", unit_id=units["marketing"].pk)[1]
    assert [o["id"] for o in by_unit["items"]] == [objective["id"]]
    by_level = api.get("/objectives", level="unit")[1]
    assert [o["id"] for o in by_level["items"]] == [other["id"]]
    by_cycle = api.get("/objectives", cycle_id=cycle.pk)[1]
    assert by_cycle["count"] == 2
    api.post(f"/key-results/{kr['id']}/checkins", {"value": 100, "confidence": 4})
    off = api.get("/objectives", status="off_track")[1]
    assert [o["id"] for o in off["items"]] == [objective["id"]]
    assert api.get("/objectives", status="on_track")[1]["count"] == 0


def test_key_result_filters(api, units, objective, kr, cycle):
    assert api.get("/key-results", unit_id=units["marketing"].pk)[1]["count"] == 1
    assert api.get("/key-results", unit_id=units["support"].pk)[1]["count"] == 0
    assert api.get("/key-results", objective_id=objective["id"])[1]["count"] == 1
    assert api.get("/key-results", cycle_id=cycle.pk)[1]["count"] == 1
    assert api.get("/key-results", status="not_started")[1]["count"] == 1
    assert api.get("/key-results", status="done")[1]["count"] == 0


def test_key_result_defaults_due_to_cycle_end(kr, cycle):
    assert kr["due"] == str(cycle.end)
    assert kr["commitment"] == "committed" and kr["cadence_days"] == 7


def test_checkin_moves_progress_and_is_listed(api, kr, objective):
    status, body = api.post(
        f"/key-results/{kr['id']}/checkins", {"value": 4000, "confidence": 8, "note": "Good"}
    )
    assert status == 201, body
    assert body["checkin"]["value"] == 4000
    assert body["key_result"]["progress"] == pytest.approx(0.8)
    assert body["key_result"]["status"] == "on_track"
    status, page = api.get(f"/key-results/{kr['id']}/checkins")
    assert page["count"] == 1 and page["items"][0]["note"] == "Good"
    assert api.get(f"/objectives/{objective['id']}")[1]["progress"] == pytest.approx(0.8)


def test_milestone_checkin_by_steps(api, objective, units):
    status, ms = api.post(
        "/key-results",
        {
            "objective_id": objective["id"],
            "title": "Feature built",
            "kind": "milestone",
            "steps": ["Code", "QA", "Release"],
            "owner_unit_id": units["product"].pk,
        },
    )
    assert status == 201, ms
    assert ms["start"] == 0 and ms["target"] == 3
    status, body = api.post(
        f"/key-results/{ms['id']}/checkins", {"steps_done": [0, 2], "confidence": 7}
    )
    assert status == 201, body
    assert body["key_result"]["progress"] == pytest.approx(2 / 3)
    status, body = api.post(
        f"/key-results/{ms['id']}/checkins", {"steps_done": [0, 1, 2], "confidence": 9}
    )
    assert body["key_result"]["status"] == "done"


def test_kpi_point_updates_following_kr(api, objective, units):
    status, kpi = api.post(
        "/kpis",
        {
            "name": "Answer rate",
            "measure": "%",
            "owner_unit_ids": [units["support"].pk, units["product"].pk],
        },
    )
    status, kr = api.post(
        "/key-results",
        {
            "objective_id": objective["id"],
            "title": "Answer 95%",
            "kind": "at_least",
            "target": 95,
            "kpi_id": kpi["id"],
            "owner_unit_id": units["support"].pk,
        },
    )
    assert status == 201
    status, point = api.post(f"/kpis/{kpi['id']}/points", {"value": 76})
    assert status == 201, point
    kr_now = api.get(f"/key-results/{kr['id']}")[1]
    assert kr_now["current_value"] == 76 and kr_now["progress"] == pytest.approx(0.8)
    assert api.get(f"/kpis/{kpi['id']}")[1]["latest"]["value"] == 76
    assert api.get(f"/kpis/{kpi['id']}/points")[1]["count"] == 1


def test_objective_rollup_through_links(api, units, cycle, objective, kr):
    _, child = api.post(
        "/objectives",
        {
            "title": "Support ready",
            "cycle_id": cycle.pk,
            "level": "unit",
            "owner_unit_id": units["support"].pk,
            "parents": [{"objective_id": objective["id"], "weight": 3}],
        },
    )
    _status, ckr = api.post(
        "/key-results",
        {
            "objective_id": child["id"],
            "title": "Macros",
            "kind": "milestone",
            "owner_unit_id": units["support"].pk,
        },
    )
    api.post(f"/key-results/{ckr['id']}/checkins", {"value": 1, "confidence": 9})
    api.post(f"/key-results/{kr['id']}/checkins", {"value": 1000, "confidence": 6})
    parent = api.get(f"/objectives/{objective['id']}")[1]
    # own KR 0.2 (weight 1) + child 1.0 (link weight 3) -> (0.2 + 3) / 4
    assert parent["progress"] == pytest.approx(0.8)
    assert parent["unit_shares"] == [
        {"unit_id": units["marketing"].pk, "share": pytest.approx(0.2)}
    ]
    assert child["parents"] == [{"objective_id": objective["id"], "weight": 3.0}]
