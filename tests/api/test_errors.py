"""Bad input gets one error envelope naming the field and why, and writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from lockstep.goals import services as goals
from lockstep.org import services as org_services
from tests.api.conftest import field_error


@pytest.fixture
def objective(api, units, cycle):
    status, body = api.post(
        "/objectives",
        {
            "title": "Shared",
            "cycle_id": cycle.pk,
            "level": "unit",
            "owner_unit_id": units["product"].pk,
        },
    )
    assert status == 201
    return body


@pytest.fixture
def kr(api, objective, units):
    status, body = api.post(
        "/key-results",
        {
            "objective_id": objective["id"],
            "title": "Visits",
            "kind": "increase",
            "target": 100,
            "owner_unit_id": units["product"].pk,
        },
    )
    assert status == 201
    return body


def test_unauthenticated_gets_401_envelope(db):
    r = Client().get("/api/v1/units")
    assert r.status_code == 401
    assert r.json() == {
        "error": {"code": "unauthenticated", "message": "sign in first", "fields": []}
    }


def test_user_without_person_is_forbidden(db, django_user_model):
    user = django_user_model.objects.create_user("loner", "l@example.com", "pw-long-enough")
    c = Client()
    c.force_login(user)
    r = c.get("/api/v1/units")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_other_organisations_rows_are_not_found(api, db):
    other = org_services.organisation_create(slug="globex", name="Globex")
    unit = org_services.unit_create(organisation=other, actor=None, name="Secret")
    status, body = api.get(f"/units/{unit.pk}")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = api.patch(f"/units/{unit.pk}", {"name": "Mine now"})
    assert status == 404
    unit.refresh_from_db()
    assert unit.name == "Secret"


def test_reference_to_other_organisation_names_the_field(api, units, cycle, unchanged):
    other = org_services.organisation_create(slug="globex", name="Globex")
    foreign = org_services.unit_create(organisation=other, actor=None, name="Secret")
    with unchanged():
        status, body = api.post(
            "/objectives",
            {"title": "Mine", "cycle_id": cycle.pk, "level": "unit", "owner_unit_id": foreign.pk},
        )
    assert status == 422
    assert "unknown unit" in field_error(body, "owner_unit_id")


def test_schema_errors_name_the_field(api, units, unchanged):
    with unchanged():
        status, body = api.post("/units", {"name": "X", "kind": "galaxy"})
    assert status == 422 and body["error"]["code"] == "validation_error"
    assert field_error(body, "kind")
    with unchanged():
        status, body = api.post("/units", {"kind": "team"})
    assert field_error(body, "name")


@pytest.mark.parametrize(
    ("kind", "start", "target", "message"),
    [
        ("increase", 10, 10, "must differ from the start"),
        ("increase", 10, 5, "above the start"),
        ("decrease", 5, 10, "below the start"),
    ],
)
def test_key_result_target_must_make_sense(
    api, objective, units, unchanged, kind, start, target, message
):
    with unchanged():
        status, body = api.post(
            "/key-results",
            {
                "objective_id": objective["id"],
                "title": "Bad",
                "kind": kind,
                "start": start,
                "target": target,
            },
        )
    assert status == 422
    assert message in field_error(body, "target")


def test_key_result_due_outside_cycle(api, objective, cycle, unchanged):
    with unchanged():
        status, body = api.post(
            "/key-results",
            {
                "objective_id": objective["id"],
                "title": "Late",
                "kind": "increase",
                "target": 5,
                "due": str(cycle.end + dt.timedelta(days=1)),
            },
        )
    assert status == 422 and "inside the cycle" in field_error(body, "due")


def test_checkin_outside_cycle_is_refused(api, kr, cycle, unchanged):
    before = dt.datetime.combine(cycle.start - dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC)
    with unchanged():
        status, body = api.post(
            f"/key-results/{kr['id']}/checkins",
            {"value": 5, "confidence": 5, "at": before.isoformat()},
        )
    assert status == 422 and "inside the cycle" in field_error(body, "at")


def test_checkin_in_the_future_is_refused(api, kr, unchanged):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with unchanged():
        status, body = api.post(
            f"/key-results/{kr['id']}/checkins",
            {"value": 5, "confidence": 5, "at": later.isoformat()},
        )
    assert status == 422 and field_error(body, "at")


@pytest.mark.parametrize("confidence", [0, 11])
def test_checkin_confidence_range(api, kr, unchanged, confidence):
    with unchanged():
        status, body = api.post(
            f"/key-results/{kr['id']}/checkins", {"value": 5, "confidence": confidence}
        )
    assert status == 422 and field_error(body, "confidence")


def test_checkin_on_milestone_beyond_steps(api, objective, unchanged):
    status, ms = api.post(
        "/key-results", {"objective_id": objective["id"], "title": "Done?", "kind": "milestone"}
    )
    with unchanged():
        status, body = api.post(f"/key-results/{ms['id']}/checkins", {"value": 2, "confidence": 5})
    assert status == 422 and field_error(body, "value")


def test_contribution_cycle_is_refused(api, units, cycle, unchanged):
    ids = []
    for title in ("A", "B", "C"):
        parents = [{"objective_id": ids[-1]}] if ids else []
        status, body = api.post(
            "/objectives",
            {
                "title": title,
                "cycle_id": cycle.pk,
                "level": "unit",
                "owner_unit_id": units["product"].pk,
                "parents": parents,
            },
        )
        ids.append(body["id"])
    # C -> B -> A; making A contribute to C closes the loop.
    with unchanged():
        status, body = api.patch(f"/objectives/{ids[0]}", {"parents": [{"objective_id": ids[2]}]})
    assert status == 422
    message = field_error(body, "parents")
    assert "cycle" in message and "a -> c -> b -> a" in message


def test_objective_cannot_contribute_to_itself(api, objective, unchanged):
    with unchanged():
        status, body = api.patch(
            f"/objectives/{objective['id']}", {"parents": [{"objective_id": objective["id"]}]}
        )
    assert status == 422 and field_error(body, "parents")


def test_cycle_outside_parent_is_refused(api, cycle, unchanged):
    with unchanged():
        status, body = api.post(
            "/cycles",
            {
                "name": "Stray week",
                "kind": "week",
                "parent_id": cycle.pk,
                "start": str(cycle.end),
                "end": str(cycle.end + dt.timedelta(days=6)),
            },
        )
    assert status == 422 and "outside its parent" in field_error(body, "parent")


def test_cycle_end_before_start(api, unchanged, org):
    with unchanged():
        status, body = api.post(
            "/cycles",
            {"name": "Backwards", "kind": "week", "start": "2026-03-10", "end": "2026-03-01"},
        )
    assert status == 422 and field_error(body, "end")


def test_cycle_with_objectives_cannot_be_deleted(api, cycle, objective, unchanged):
    with unchanged():
        status, body = api.delete(f"/cycles/{cycle.pk}")
    assert status == 409 and body["error"]["code"] == "conflict"


def test_shared_objective_needs_two_units(api, units, cycle, unchanged):
    with unchanged():
        status, body = api.post(
            "/objectives",
            {
                "title": "Lonely",
                "cycle_id": cycle.pk,
                "level": "shared",
                "contributor_ids": [units["product"].pk],
            },
        )
    assert status == 422 and field_error(body, "contributors")


def test_unit_cannot_move_below_itself(api, units, unchanged):
    team = org_services.unit_create(
        organisation=units["acme"].organisation, actor=None, name="Team", parent=units["product"]
    )
    with unchanged():
        status, body = api.patch(f"/units/{units['product'].pk}", {"parent_id": team.pk})
    assert status == 422 and field_error(body, "parent")


def test_archived_key_result_takes_no_checkins(api, kr, unchanged):
    api.delete(f"/key-results/{kr['id']}")
    with unchanged():
        status, _body = api.post(f"/key-results/{kr['id']}/checkins", {"value": 5, "confidence": 5})
    assert status == 409


def test_checkins_are_append_only(api, kr):
    """There is no endpoint to edit or delete a check-in: corrections are new check-ins."""
    api.post(f"/key-results/{kr['id']}/checkins", {"value": 50, "confidence": 5})
    api.post(
        f"/key-results/{kr['id']}/checkins", {"value": 40, "confidence": 5, "note": "correction"}
    )
    _status, page = api.get(f"/key-results/{kr['id']}/checkins")
    assert [c["value"] for c in page["items"]] == [50, 40]
    assert api.get(f"/key-results/{kr['id']}")[1]["current_value"] == 40
    r = api.client.delete(f"/api/v1/key-results/{kr['id']}/checkins")
    assert r.status_code == 405


def test_backdated_checkin_does_not_replace_latest_value(api, kr, cycle):
    api.post(f"/key-results/{kr['id']}/checkins", {"value": 60, "confidence": 5})
    earlier = dt.datetime.combine(cycle.start, dt.time(9), tzinfo=dt.UTC)
    status, body = api.post(
        f"/key-results/{kr['id']}/checkins",
        {"value": 10, "confidence": 5, "at": earlier.isoformat()},
    )
    assert status == 201
    assert body["key_result"]["current_value"] == 60 and body["key_result"]["checkin_count"] == 2


def test_openapi_document_and_docs(client_in):
    r = client_in.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["info"]["title"] == "Lockstep API"
    for path in (
        "/api/v1/objectives",
        "/api/v1/key-results/{kr_id}/checkins",
        "/api/v1/kpis/{kpi_id}/points",
    ):
        assert path in doc["paths"]
    assert "ErrorOut" in doc["components"]["schemas"]
    assert client_in.get("/api/v1/docs").status_code == 200


def test_service_layer_refuses_link_across_organisations(org, units, cycle):
    other = org_services.organisation_create(slug="globex", name="Globex")
    other_cycle = goals.cycle_create(
        organisation=other, actor=None, name="C", kind="week", start=cycle.start, end=cycle.start
    )
    theirs = goals.objective_create(
        organisation=other, actor=None, cycle=other_cycle, title="Theirs", level="company"
    )
    from lockstep.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        goals.objective_create(
            organisation=org,
            actor=None,
            cycle=cycle,
            title="Ours",
            level="company",
            parents=[(theirs, 1.0)],
        )


def test_unit_with_live_work_cannot_be_archived(api, units, cycle, unchanged):
    status, _ = api.post(
        "/objectives",
        {
            "title": "Ours",
            "cycle_id": cycle.pk,
            "level": "unit",
            "owner_unit_id": units["support"].pk,
        },
    )
    assert status == 201
    with unchanged():
        status, body = api.delete(f"/units/{units['support'].pk}")
    assert status == 409 and "objectives it owns" in body["error"]["message"]


def test_unknown_time_zone_is_refused(api, unchanged):
    with unchanged():
        status, body = api.patch("/organisation", {"timezone": "Mars/Olympus"})
    assert status == 422 and "unknown time zone" in field_error(body, "timezone")
