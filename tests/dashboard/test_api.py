"""GET /api/v1/dashboard: the company or a unit, a chosen cycle, and the error envelope."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from lockstep.goals import services as goals
from lockstep.org import services as org_services
from tests.api.conftest import Api


@pytest.fixture
def api(client_in) -> Api:
    return Api(client_in)


@pytest.fixture
def globex(db):
    other = org_services.organisation_create(slug="globex", name="Globex")
    unit = org_services.unit_create(organisation=other, actor=None, name="Sales", kind="department")
    today = dt.date.today()
    cycle = goals.cycle_create(
        organisation=other,
        actor=None,
        name="Now",
        kind="month",
        start=today - dt.timedelta(days=3),
        end=today + dt.timedelta(days=20),
    )
    return {"unit": unit, "cycle": cycle}


def test_company_dashboard(api, board, cycle):
    status, body = api.get("/dashboard")
    assert status == 200, body
    assert body["unit_id"] is None and body["cycle_ids"] == [cycle.pk]
    assert [o["key"] for o in body["objectives"]] == ["grow"]
    assert body["objectives"][0]["status"] == "off_track"
    assert body["figures"]["objectives"] == 6 and body["figures"]["pending"] == 0
    assert body["figures"]["key_results"] == {
        "not_started": 2,
        "on_track": 1,
        "at_risk": 1,
        "off_track": 1,
        "done": 2,
        "total": 7,
    }
    assert [u["key"] for u in body["units"]] == ["marketing", "product", "support"]
    assert body["at_risk"][0]["title"] == "new-error"
    assert body["dependencies"][0]["trouble"] == 1
    assert body["kpis"][0]["healthy"] is False and len(body["kpis"][2]["points"]) == 12
    assert body["numbers_as_of"] is not None  # the findings' full refresh ran


def test_unit_and_cycle_filters(api, board, cycle):
    product = board["units"]["product"]
    status, body = api.get("/dashboard", unit=product.pk, cycle=cycle.pk)
    assert status == 200, body
    assert body["unit_id"] == product.pk
    assert [u["key"] for u in body["units"]] == ["app", "web"]
    assert body["figures"]["key_results"]["total"] == 4
    assert body["units"][1]["figures"]["key_results"]["off_track"] == 1


def test_another_organisations_unit_or_cycle_is_not_found(api, board, globex):
    for params in ({"unit": globex["unit"].pk}, {"cycle": globex["cycle"].pk}, {"unit": 999999}):
        status, body = api.get("/dashboard", **params)
        assert status == 404, params
        assert body["error"]["code"] == "not_found"


def test_a_bad_id_is_a_validation_error(api, board):
    status, body = api.get("/dashboard", unit="sales")
    assert status == 422 and body["error"]["fields"][0]["field"] == "unit"


def test_signed_out_gets_401(db):
    r = Client().get("/api/v1/dashboard")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthenticated"
