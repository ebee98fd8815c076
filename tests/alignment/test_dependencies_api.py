"""The dependency lifecycle through the API: who may answer, and every step's rules."""

from __future__ import annotations

import datetime as dt

import pytest

from lockstep.activity.models import ActivityEvent
from lockstep.alignment.models import Dependency
from tests.api.conftest import field_error


@pytest.fixture
def requested(leaders, plan, units):
    _, mkt = leaders["marketing"]
    status, body = mkt.post(
        "/dependencies",
        {
            "title": "Feature live",
            "requester_kr_id": plan["visits"].pk,
            "provider_unit_id": units["product"].pk,
            "needed_by": str(plan["needed_by"]),
            "effort": 8,
        },
    )
    assert status == 201, body
    assert body["state"] == "requested" and body["requester_unit_id"] == units["marketing"].pk
    return body


def test_provider_leader_accepts_with_the_delivering_kr(leaders, requested, plan):
    _, prod = leaders["product"]
    status, body = prod.post(
        f"/dependencies/{requested['id']}/accept", {"provider_kr_id": plan["build"].pk}
    )
    assert status == 200, body
    assert body["state"] == "accepted" and body["provider_kr_id"] == plan["build"].pk
    status, body = prod.post(f"/dependencies/{requested['id']}/deliver", {})
    assert body["state"] == "delivered"


def test_requester_cannot_answer_its_own_request(leaders, requested, unchanged):
    _, mkt = leaders["marketing"]
    with unchanged():
        status, body = mkt.post(f"/dependencies/{requested['id']}/accept", {})
    assert status == 403 and body["error"]["code"] == "forbidden"


def test_decline_needs_a_reason(leaders, requested, unchanged):
    _, prod = leaders["product"]
    with unchanged():
        status, body = prod.post(f"/dependencies/{requested['id']}/decline", {"reason": "  "})
    assert status == 422 and field_error(body, "reason")
    status, body = prod.post(f"/dependencies/{requested['id']}/decline", {"reason": "No capacity"})
    assert status == 200
    assert body["state"] == "declined" and body["reason"] == "No capacity"


def test_counter_then_requester_accepts_the_new_date(leaders, requested, plan):
    _, prod = leaders["product"]
    _, mkt = leaders["marketing"]
    later = plan["needed_by"] - dt.timedelta(days=2)  # the cycle ends on needed_by
    status, body = prod.post(
        f"/dependencies/{requested['id']}/counter", {"counter_date": str(later)}
    )
    assert status == 200
    assert body["state"] == "countered" and body["counter_date"] == str(later)
    _status, body = mkt.post(f"/dependencies/{requested['id']}/counter-answer", {"accept": True})
    assert (
        body["state"] == "accepted"
        and body["needed_by"] == str(later)
        and body["counter_date"] is None
    )


def test_rejected_counter_goes_back_to_requested(leaders, requested, plan):
    _, prod = leaders["product"]
    _, mkt = leaders["marketing"]
    prod.post(
        f"/dependencies/{requested['id']}/counter",
        {"counter_date": str(plan["needed_by"] - dt.timedelta(days=3))},
    )
    _status, body = mkt.post(f"/dependencies/{requested['id']}/counter-answer", {"accept": False})
    assert body["state"] == "requested" and body["needed_by"] == str(plan["needed_by"])


def test_every_step_is_an_activity_event(leaders, requested, plan):
    _, prod = leaders["product"]
    prod.post(f"/dependencies/{requested['id']}/accept", {})
    prod.post(f"/dependencies/{requested['id']}/deliver", {})
    verbs = list(
        ActivityEvent.objects.filter(object_type="dependency")
        .order_by("id")
        .values_list("verb", flat=True)
    )
    assert verbs == ["dependency.requested", "dependency.accepted", "dependency.delivered"]


def test_wrong_step_is_a_conflict(leaders, requested, unchanged):
    _, prod = leaders["product"]
    with unchanged():
        status, _body = prod.post(f"/dependencies/{requested['id']}/deliver", {})
    assert status == 409


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"provider_unit": "marketing"}, "provider_unit", "itself"),
        ({"needed_by_days": 400}, "needed_by", "inside the cycle"),
        ({"requester_kr_id": 999999}, "requester_kr_id", "unknown"),
    ],
)
def test_bad_requests_write_nothing(leaders, plan, units, unchanged, change, field, message):
    _, mkt = leaders["marketing"]
    body = {
        "title": "X",
        "requester_kr_id": change.get("requester_kr_id", plan["visits"].pk),
        "provider_unit_id": units[change.get("provider_unit", "product")].pk,
        "needed_by": str(plan["needed_by"] + dt.timedelta(days=change.get("needed_by_days", 0))),
    }
    with unchanged():
        status, out = mkt.post("/dependencies", body)
    assert status == 422
    assert message in field_error(out, field if field != "provider_unit" else "provider_unit")


def test_non_member_cannot_ask_for_another_unit(leaders, plan, units, unchanged):
    _, prod = leaders["product"]
    with unchanged():
        status, _body = prod.post(
            "/dependencies",
            {
                "title": "X",
                "requester_kr_id": plan["visits"].pk,
                "provider_unit_id": units["support"].pk,
                "needed_by": str(plan["needed_by"]),
            },
        )
    assert status == 403


def test_filters_by_unit_and_state(leaders, requested, units):
    _, mkt = leaders["marketing"]
    assert mkt.get("/dependencies", provider_unit_id=units["product"].pk)[1]["count"] == 1
    assert mkt.get("/dependencies", requester_unit_id=units["product"].pk)[1]["count"] == 0
    assert mkt.get("/dependencies", state="accepted")[1]["count"] == 0
    assert Dependency.objects.get().key == "feature-live"


def test_model_states_match_the_core_states():
    from lockstep.core.snapshot import DependencyState

    assert list(Dependency.State.values) == [s.value for s in DependencyState]
