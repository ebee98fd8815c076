"""Optimistic concurrency on API edits: ETag on reads, If-Match on PATCH, 412 when stale."""

from __future__ import annotations

import json

import pytest

from lockstep.goals import services as goals
from lockstep.goals.models import KPI, Cycle, Initiative, KeyResult, Objective
from lockstep.org.models import Organisation, Person, Unit


@pytest.fixture
def rows(org, units, cycle, person) -> dict[str, object]:
    objective = goals.objective_create(
        organisation=org,
        actor=person,
        cycle=cycle,
        title="Grow visits",
        key="visits",
        owner_unit=units["marketing"],
    )
    kr = goals.key_result_create(
        objective=objective,
        actor=person,
        title="Visits",
        key="visits",
        kind="increase",
        start=0,
        target=1000,
        owner_unit=units["marketing"],
    )
    initiative = goals.initiative_create(
        organisation=org, actor=person, title="Campaign", owner_unit=units["marketing"]
    )
    kpi = goals.kpi_create(
        organisation=org, actor=person, name="Visits", owner_units=[units["marketing"]]
    )
    return {
        "cycles": cycle,
        "kpis": kpi,
        "objectives": objective,
        "key-results": kr,
        "initiatives": initiative,
        "units": units["marketing"],
        "people": person,
    }


# resource path -> (model, a field the PATCH changes, its new value)
EDITS = {
    "cycles": (Cycle, "name", "Sprint two"),
    "kpis": (KPI, "name", "Daily visits"),
    "objectives": (Objective, "title", "Grow visits a lot"),
    "key-results": (KeyResult, "title", "Unique visits"),
    "initiatives": (Initiative, "title", "Spring campaign"),
    "units": (Unit, "name", "Marketing & Brand"),
    "people": (Person, "name", "Ada King"),
}


def patch(client, path: str, body: dict, if_match: str | None):
    headers = {} if if_match is None else {"If-Match": if_match}
    return client.patch(path, json.dumps(body), content_type="application/json", headers=headers)


@pytest.mark.parametrize("resource", sorted(EDITS))
def test_a_stale_edit_is_refused_with_412_and_changes_nothing(client_in, rows, resource):
    model, field, value = EDITS[resource]
    row = rows[resource]
    path = f"/api/v1/{resource}/{row.pk}"
    first = client_in.get(path)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')

    # Someone else's edit lands first: the version moves on.
    mine = patch(client_in, path, {field: value}, etag)
    assert mine.status_code == 200, mine.json()
    assert mine.headers["ETag"] != etag
    assert client_in.get(path).headers["ETag"] == mine.headers["ETag"]

    # The edit made against the old version is refused, names who changed it, saves nothing.
    stale = patch(client_in, path, {field: "A stale overwrite"}, etag)
    assert stale.status_code == 412
    error = stale.json()["error"]
    assert error["code"] == "edit_conflict"
    assert "after you opened it" in error["message"] and "nothing was saved" in error["message"]
    assert "by Ada " in error["message"]  # (the people case renames Ada herself)
    assert getattr(model.objects.get(pk=row.pk), field) == value


def test_a_stale_edit_of_the_organisation_is_refused(client_in, org):
    path = "/api/v1/organisation"
    etag = client_in.get(path).headers["ETag"]
    assert patch(client_in, path, {"name": "Acme Group"}, etag).status_code == 200
    stale = patch(client_in, path, {"name": "Overwritten"}, etag)
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "edit_conflict"
    assert Organisation.objects.get(pk=org.pk).name == "Acme Group"
    doc = client_in.get("/api/v1/openapi.json").json()
    assert any(p["name"] == "If-Match" for p in doc["paths"][path]["patch"]["parameters"])


def test_a_numbers_refresh_does_not_move_the_organisation_s_version(client_in, org):
    from lockstep.goals.services import numbers_refresh_full

    etag = client_in.get("/api/v1/organisation").headers["ETag"]
    numbers_refresh_full(org)
    assert client_in.get("/api/v1/organisation").headers["ETag"] == etag


def test_the_current_version_or_a_star_is_accepted(client_in, rows):
    path = f"/api/v1/objectives/{rows['objectives'].pk}"
    etag = client_in.get(path).headers["ETag"]
    assert patch(client_in, path, {"title": "One"}, f'"0.0", {etag}').status_code == 200
    assert patch(client_in, path, {"title": "Two"}, "*").status_code == 200
    assert Objective.objects.get(pk=rows["objectives"].pk).title == "Two"


def test_an_edit_without_if_match_is_not_compared(client_in, rows):
    path = f"/api/v1/key-results/{rows['key-results'].pk}"
    assert patch(client_in, path, {"title": "No version sent"}, None).status_code == 200


def test_if_match_is_documented_on_every_patch(client_in):
    doc = client_in.get("/api/v1/openapi.json").json()
    for resource in EDITS:
        path = next(p for p in doc["paths"] if p.startswith(f"/api/v1/{resource}/{{"))
        params = doc["paths"][path]["patch"]["parameters"]
        assert any(p["name"] == "If-Match" and p["in"] == "header" for p in params), resource
        assert "412" in doc["paths"][path]["patch"]["responses"]


@pytest.mark.parametrize("kind", ["person", "unit", "organisation"])
def test_an_admin_page_form_opened_before_another_edit_is_refused(client_in, person, units, kind):
    import re

    from lockstep.org import services as org_services

    if kind == "person":
        url, row = f"/manage/people/{person.pk}/", person
        post = {"name": "Stale name", "email": "ada@example.com", "is_org_admin": "on"}
        post |= {"membership_unit": units["product"].pk, "membership_role": "leader"}
    elif kind == "unit":
        url, row = f"/manage/units/{units['support'].pk}/", units["support"]
        post = {"name": "Stale name", "kind": row.kind, "parent": units["acme"].pk}
        post |= {"capacity_unit": "hours"}
    else:
        url, row = "/manage/organisation/", person.organisation
        post = {"name": "Stale name", "timezone": "UTC", "on_track_margin": "0.1"}
        post |= {"at_risk_margin": "0.25", "answer_window_days": "5"}
        post |= {"max_objectives_per_unit": "5", "max_krs_per_objective": "5"}
        post |= {"low_confidence": "3", "single_point_min_units": "3", "task_share": "0.5"}
    page = client_in.get(url).content.decode()
    version = re.search(r'name="version" value="([^"]+)"', page).group(1)

    if kind == "person":  # someone else saves first
        org_services.person_update(person=person, actor=person, name="Ada King")
    elif kind == "unit":
        org_services.unit_update(unit=row, actor=person, name="Care")
    else:
        org_services.organisation_update(organisation=row, actor=person, name="Care")

    r = client_in.post(url, {**post, "version": version.replace("&quot;", '"')})
    assert r.status_code == 412
    assert "after you opened it" in r.content.decode()
    row.refresh_from_db()
    assert row.name in {"Ada King", "Care"}

    fresh = re.search(r'name="version" value="([^"]+)"', client_in.get(url).content.decode())
    ok = client_in.post(url, {**post, "version": fresh.group(1).replace("&quot;", '"')})
    assert ok.status_code == 302
    row.refresh_from_db()
    assert row.name == "Stale name"
