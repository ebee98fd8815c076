"""Hostile ids in queries, forms and paths: a clear answer, never a server error."""

from __future__ import annotations

import pytest

from lockstep.keys import is_id

ODD = ["²", "١٢", "99999999999999999999", "-1", "1e3", " 7 "]


def test_is_id_takes_only_ascii_digits_that_fit_64_bits():
    assert is_id("42") and is_id("0") and is_id("9" * 18)
    for raw in ODD:
        assert not is_id(raw), raw


@pytest.mark.parametrize("raw", ODD)
@pytest.mark.parametrize(
    "page",
    [
        "/dashboard/?unit={}",
        "/dashboard/?cycle={}",
        "/map/?unit={}",
        "/objectives/?cycle={}",
        "/objectives/?unit={}",
        "/dependencies/?unit={}",
        "/findings/?unit={}",
        "/manage/people/?unit={}",
        "/dashboard/wall/?refresh={}",
    ],
)
def test_odd_ids_in_a_query_get_a_page(client_in, cycle, page, raw):
    # A page, a 400 that names the filter, or 404 for no such row: never a server error.
    assert client_in.get(page.format(raw)).status_code in (200, 400, 404)


@pytest.mark.parametrize(
    "path", ["/objectives/{}/", "/units/{}/", "/dependencies/{}/", "/manage/people/{}/"]
)
def test_an_id_too_large_for_the_database_is_not_found(client_in, path):
    assert client_in.get(path.format("9" * 25)).status_code == 404


def test_odd_step_and_unit_fields_in_a_check_in_are_refused_with_a_message(
    client_in, org, units, cycle, person
):
    from lockstep.goals import services as goals

    o = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="O", owner_unit=units["product"]
    )
    kr = goals.key_result_create(
        objective=o, actor=None, title="K", kind="increase", target=10, owner_unit=units["product"]
    )
    steps = goals.key_result_create(
        objective=o,
        actor=None,
        title="S",
        kind="milestone",
        steps=["a", "b"],
        owner_unit=units["product"],
    )
    r = client_in.post(
        f"/key-results/{kr.pk}/checkin/",
        {"value": "3", "confidence": "7", "blocking_unit": "²"},
    )
    assert r.status_code == 422
    assert "choose a unit from the list" in r.content.decode()
    r = client_in.post(
        f"/key-results/{steps.pk}/checkin/", {"steps_done": ["0", "²"], "confidence": "7"}
    )
    assert r.status_code == 422
    assert "tick the steps that are done" in r.content.decode()


def test_the_nul_character_is_refused_everywhere_and_nothing_is_written(
    client_in, org, units, cycle, person, unchanged
):
    import json

    from lockstep.goals import services as goals

    o = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="O", owner_unit=units["product"]
    )
    kr = goals.key_result_create(
        objective=o, actor=None, title="K", kind="increase", target=10, owner_unit=units["product"]
    )
    with unchanged():
        api = client_in.post(
            "/api/v1/kpis",
            json.dumps({"name": "Churn\u0000", "owner_unit_ids": [units["product"].pk]}),
            content_type="application/json",
        )
        assert api.status_code == 422
        assert api.json()["error"]["fields"] == [
            {"field": "name", "message": "must not contain the NUL character (U+0000)"}
        ]
        nested = client_in.post(
            "/api/v1/objectives",
            json.dumps({"title": "T", "cycle_id": cycle.pk, "parents": [{"objective": "a\u0000"}]}),
            content_type="application/json",
        )
        assert nested.json()["error"]["fields"][0]["field"] == "parents[0].objective"
        query = client_in.get("/api/v1/activity?verb=a%00b")
        assert query.status_code == 422 and query.json()["error"]["fields"][0]["field"] == "verb"
        page = client_in.post(
            f"/key-results/{kr.pk}/checkin/", {"value": "3", "confidence": "7", "note": "a\x00"}
        )
        assert page.status_code == 400 and b"note: must not contain" in page.content
        assert client_in.get("/objectives/?q=a%00").status_code == 400
    # A JSON text that merely spells a backslash and u0000 is not a NUL.
    ok = client_in.post(
        "/api/v1/kpis",
        json.dumps({"name": "C:\\u0000", "owner_unit_ids": [units["product"].pk]}),
        content_type="application/json",
    )
    assert ok.status_code == 201, ok.content
