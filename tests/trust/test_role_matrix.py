"""Roles: every write operation of the API called as each role, with a valid request.

One organisation, three units: Ops (U, the unit every target object belongs to), Sales
(V, the other side of U's dependencies and reviews) and Lab (W, uninvolved). The roles
are an org admin, U's leader, U's member, U's viewer, W's leader (an outsider to U's
work) and a person with no unit at all. Each call is made with a body that is valid for
its target, inside a savepoint that is rolled back, so every role meets the same state.
A role the rules allow must succeed (2xx); any other role must get 403 with the error
envelope and change nothing. The table must name every write operation of the OpenAPI
document, so a new endpoint cannot ship without its rule. Pages are read as each role:
every role reads the work pages; only admins reach the admin pages and the audit log.
The figures go to test-artifacts/role-matrix.json.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client

from lockstep.alignment import services as alignment
from lockstep.alignment.models import AskOffer
from lockstep.api import api
from lockstep.goals import services as goals
from lockstep.goals.models import Objective
from lockstep.org import services as org_services
from lockstep.trust.tokens import token_create

REPORT = Path(__file__).resolve().parents[2] / "test-artifacts" / "role-matrix.json"
ROLES = ("admin", "leader", "member", "viewer", "outsider", "nobody")
ADMIN = {"admin"}
LEADS = {"admin", "leader"}
WORKS = {"admin", "leader", "member"}
EVERYONE = set(ROLES)
PERSONAL = {"POST /api/v1/tokens", "DELETE /api/v1/tokens/{token_id}"}  # one's own tokens


@dataclass(frozen=True)
class Call:
    method: str
    template: str  # the OpenAPI path
    ids: dict[str, str]  # path parameter -> name of the target in the world
    body: dict[str, Any] | None
    allowed: set[str]

    def url(self, world: dict[str, Any]) -> str:
        out = self.template
        for param, target in self.ids.items():
            out = out.replace(f"{{{param}}}", str(world[target].pk))
        return out


def _calls(w: dict[str, Any]) -> list[Call]:
    today = dt.date.today()
    soon = (today + dt.timedelta(days=3)).isoformat()
    u, v = w["U"].pk, w["V"].pk
    return [
        Call("PATCH", "/api/v1/organisation", {}, {"name": "Renamed"}, ADMIN),
        Call("POST", "/api/v1/units", {}, {"name": "New", "parent_id": w["root"].pk}, ADMIN),
        Call("PATCH", "/api/v1/units/{unit_id}", {"unit_id": "U"}, {"name": "Ops 2"}, ADMIN),
        Call("DELETE", "/api/v1/units/{unit_id}", {"unit_id": "empty_unit"}, None, ADMIN),
        Call("POST", "/api/v1/people", {}, {"name": "New", "email": "new@x.example"}, ADMIN),
        Call(
            "PATCH", "/api/v1/people/{person_id}", {"person_id": "p_member"}, {"name": "M"}, ADMIN
        ),
        Call("DELETE", "/api/v1/people/{person_id}", {"person_id": "p_spare"}, None, ADMIN),
        Call(
            "POST",
            "/api/v1/cycles",
            {},
            {"name": "Next", "kind": "quarter", "start": "2031-01-01", "end": "2031-03-31"},
            ADMIN,
        ),
        Call("PATCH", "/api/v1/cycles/{cycle_id}", {"cycle_id": "cycle"}, {"name": "Q"}, ADMIN),
        Call("DELETE", "/api/v1/cycles/{cycle_id}", {"cycle_id": "empty_cycle"}, None, ADMIN),
        Call(
            "POST",
            "/api/v1/objectives",
            {},
            {"title": "New", "cycle_id": w["cycle"].pk, "owner_unit_id": u},
            LEADS,
        ),
        Call(
            "PATCH",
            "/api/v1/objectives/{objective_id}",
            {"objective_id": "oU"},
            {"title": "T"},
            LEADS,
        ),
        Call("DELETE", "/api/v1/objectives/{objective_id}", {"objective_id": "oU"}, None, LEADS),
        Call(
            "POST",
            "/api/v1/key-results",
            {},
            {"objective_id": w["oU"].pk, "title": "New", "kind": "increase", "target": 5},
            LEADS,
        ),
        Call("PATCH", "/api/v1/key-results/{kr_id}", {"kr_id": "krU"}, {"title": "T"}, LEADS),
        Call("DELETE", "/api/v1/key-results/{kr_id}", {"kr_id": "krU"}, None, LEADS),
        Call(
            "POST",
            "/api/v1/key-results/{kr_id}/checkins",
            {"kr_id": "krU"},
            {"value": 4, "confidence": 7},
            WORKS,
        ),
        Call("POST", "/api/v1/initiatives", {}, {"title": "New", "owner_unit_id": u}, LEADS),
        Call(
            "PATCH",
            "/api/v1/initiatives/{initiative_id}",
            {"initiative_id": "iU"},
            {"title": "T"},
            LEADS,
        ),
        Call("DELETE", "/api/v1/initiatives/{initiative_id}", {"initiative_id": "iU"}, None, LEADS),
        Call("POST", "/api/v1/kpis", {}, {"name": "New", "owner_unit_ids": [u]}, LEADS),
        Call("PATCH", "/api/v1/kpis/{kpi_id}", {"kpi_id": "kU"}, {"name": "T"}, LEADS),
        Call("DELETE", "/api/v1/kpis/{kpi_id}", {"kpi_id": "kU"}, None, LEADS),
        Call("POST", "/api/v1/kpis/{kpi_id}/points", {"kpi_id": "kU"}, {"value": 3}, WORKS),
        Call(
            "POST",
            "/api/v1/dependencies",
            {},
            {
                "title": "Help",
                "requester_kr_id": w["krU"].pk,
                "provider_unit_id": v,
                "needed_by": soon,
            },
            WORKS,
        ),
        Call("POST", "/api/v1/dependencies/{dep_id}/accept", {"dep_id": "d_to_U"}, {}, LEADS),
        Call(
            "POST",
            "/api/v1/dependencies/{dep_id}/decline",
            {"dep_id": "d_to_U"},
            {"reason": "No"},
            LEADS,
        ),
        Call(
            "POST",
            "/api/v1/dependencies/{dep_id}/counter",
            {"dep_id": "d_to_U"},
            {"counter_date": (today + dt.timedelta(days=5)).isoformat()},
            LEADS,
        ),
        Call(
            "POST",
            "/api/v1/dependencies/{dep_id}/counter-answer",
            {"dep_id": "d_countered_U"},
            {"accept": True},
            WORKS,
        ),
        Call(
            "POST", "/api/v1/dependencies/{dep_id}/deliver", {"dep_id": "d_accepted_U"}, None, WORKS
        ),
        Call(
            "POST",
            "/api/v1/dependencies/{dep_id}/miss",
            {"dep_id": "d_accepted_U"},
            {"reason": "x"},
            WORKS,
        ),
        Call("POST", "/api/v1/dependencies/{dep_id}/cancel", {"dep_id": "d_from_U"}, None, WORKS),
        Call(
            "POST",
            "/api/v1/asks-offers",
            {},
            {
                "cycle_id": w["cycle"].pk,
                "kind": "ask",
                "from_unit_id": u,
                "to_unit_id": v,
                "text": "Hi",
            },
            WORKS,
        ),
        Call(
            "POST",
            "/api/v1/asks-offers/{ask_id}/request",
            {"ask_id": "ask_U"},
            {"requester_kr_id": w["krU"].pk, "needed_by": soon},
            WORKS,
        ),
        Call(
            "POST",
            "/api/v1/objectives/{objective_id}/reviews",
            {"objective_id": "draft_U"},
            {"unit_ids": [v]},
            WORKS,
        ),
        Call(
            "POST",
            "/api/v1/reviews/{review_id}/notes",
            {"review_id": "review_U"},
            {"kind": "comment", "text": "ok"},
            WORKS,
        ),
        # Recomputes derived findings from the plan; it changes no one's content.
        Call("POST", "/api/v1/findings/refresh", {}, None, EVERYONE),
    ]


def _person(org, name: str, memberships, admin: bool = False):
    user = get_user_model().objects.create_user(name, f"{name}@acme.example", "x-horse-10")
    p = org_services.person_create(
        organisation=org,
        actor=None,
        name=name.title(),
        email=f"{name}@acme.example",
        is_org_admin=admin,
        memberships=memberships,
    )
    p.user = user
    p.save()
    return p


@pytest.fixture
def world(db) -> dict[str, Any]:
    org = org_services.organisation_create(slug="acme", name="Acme")
    root = org_services.unit_create(
        organisation=org, actor=None, name="Acme", key="acme", kind="company"
    )
    w: dict[str, Any] = {"org": org, "root": root}
    for key, name in (("U", "Ops"), ("V", "Sales"), ("W", "Lab"), ("empty_unit", "Spare")):
        w[key] = org_services.unit_create(
            organisation=org, actor=None, name=name, key=name.lower(), kind="team", parent=root
        )
    people = {
        "admin": _person(org, "admin", [], admin=True),
        "leader": _person(org, "leader", [(w["U"], "leader")]),
        "member": _person(org, "member", [(w["U"], "member")]),
        "viewer": _person(org, "viewer", [(w["U"], "viewer")]),
        "outsider": _person(org, "outsider", [(w["W"], "leader")]),
        "nobody": _person(org, "nobody", []),
    }
    w["people"] = people
    w["p_member"] = people["member"]
    w["p_spare"] = _person(org, "spare", [])
    today = dt.date.today()
    w["cycle"] = goals.cycle_create(
        organisation=org,
        actor=None,
        name="Now",
        kind="quarter",
        start=today - dt.timedelta(days=20),
        end=today + dt.timedelta(days=60),
    )
    w["empty_cycle"] = goals.cycle_create(
        organisation=org,
        actor=None,
        name="Later",
        kind="quarter",
        start=dt.date(2030, 1, 1),
        end=dt.date(2030, 3, 31),
    )

    def objective(unit, title, state=Objective.State.PUBLISHED):
        return goals.objective_create(
            organisation=org,
            actor=None,
            cycle=w["cycle"],
            title=title,
            owner_unit=unit,
            state=state,
        )

    def kr(obj, unit, title):
        return goals.key_result_create(
            objective=obj, actor=None, title=title, kind="increase", target=10, owner_unit=unit
        )

    w["oU"], w["oV"] = objective(w["U"], "Ops goal"), objective(w["V"], "Sales goal")
    w["krU"], w["krV"] = kr(w["oU"], w["U"], "Ops KR"), kr(w["oV"], w["V"], "Sales KR")
    w["draft_U"] = objective(w["U"], "Ops draft", Objective.State.DRAFT)
    draft_v = objective(w["V"], "Sales draft", Objective.State.DRAFT)
    (w["review_U"],) = alignment.review_request(objective=draft_v, actor=None, units=[w["U"]])
    w["iU"] = goals.initiative_create(
        organisation=org, actor=None, title="Ops work", owner_unit=w["U"], key_results=[w["krU"]]
    )
    w["kU"] = goals.kpi_create(organisation=org, actor=None, name="Ops KPI", owner_units=[w["U"]])

    def dep(item, provider, title):
        return alignment.dependency_request(
            organisation=org,
            actor=None,
            requester_item=item,
            provider_unit=provider,
            title=title,
            needed_by=today + dt.timedelta(days=10),
        )

    w["d_to_U"] = dep(w["krV"], w["U"], "Sales asks Ops")
    w["d_accepted_U"] = alignment.dependency_accept(
        dependency=dep(w["krV"], w["U"], "Sales asks Ops, accepted"), actor=None
    )
    w["d_from_U"] = dep(w["krU"], w["V"], "Ops asks Sales")
    w["d_countered_U"] = alignment.dependency_counter(
        dependency=dep(w["krU"], w["V"], "Ops asks Sales, countered"),
        actor=None,
        counter_date=today + dt.timedelta(days=20),
    )
    w["ask_U"] = alignment.ask_offer_create(
        organisation=org,
        actor=None,
        cycle=w["cycle"],
        kind=AskOffer.Kind.ASK,
        from_unit=w["U"],
        to_unit=w["V"],
        text="Ops needs leads",
    )
    return w


def _fingerprint(org) -> str:
    from tests.trust.test_tenant_matrix import _fingerprint as rows_of

    rows = rows_of(org)
    rows.pop("trust.ApiToken")  # a token's last-use time moves on every call, refused or not
    return json.dumps(rows, sort_keys=True)


def test_every_write_operation_is_allowed_exactly_to_its_roles(world):
    calls = _calls(world)
    doc = api.get_openapi_schema()
    writes = {
        f"{m.upper()} {path}"
        for path, ops in doc["paths"].items()
        for m in ops
        if m in ("post", "patch", "put", "delete")
    }
    assert {f"{c.method} {c.template}" for c in calls} == writes - PERSONAL

    clients = {}
    for role, person in world["people"].items():
        _, text = token_create(person=person, name="matrix", scope="write")
        clients[role] = Client(HTTP_AUTHORIZATION=f"Bearer {text}")
    wrong: list[str] = []
    table: dict[str, dict[str, int]] = {}
    for call in calls:
        url = call.url(world)
        row = table.setdefault(f"{call.method} {call.template}", {})
        for role in ROLES:
            with transaction.atomic():
                before = _fingerprint(world["org"])
                kwargs: dict[str, Any] = {}
                if call.body is not None:
                    kwargs = {"data": json.dumps(call.body), "content_type": "application/json"}
                r = getattr(clients[role], call.method.lower())(url, **kwargs)
                row[role] = r.status_code
                if role in call.allowed:
                    if not 200 <= r.status_code < 300:
                        wrong.append(f"{role} {call.method} {url} refused: {r.content[:200]!r}")
                else:
                    if r.status_code != 403 or r.json()["error"]["code"] != "forbidden":
                        wrong.append(f"{role} {call.method} {url} -> {r.status_code}")
                    if _fingerprint(world["org"]) != before:
                        wrong.append(f"{role} {call.method} {url} changed rows")
                transaction.set_rollback(True)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({"roles": ROLES, "operations": table}, indent=2) + "\n")
    assert wrong == [], "\n".join(wrong)
    assert len(calls) * len(ROLES) >= 200


ADMIN_PAGES = ("/manage/people/", "/manage/units/", "/manage/organisation/", "/activity/")


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_work_pages_and_only_admins_the_admin_pages(world, role):
    c = Client()
    c.force_login(world["people"][role].user)
    work = [
        "/",
        "/check-in/",
        "/map/",
        "/objectives/",
        f"/objectives/{world['oU'].pk}/",
        "/dashboard/",
        "/dashboard/wall/",
        "/dependencies/",
        "/dependencies/map/",
        f"/dependencies/{world['d_to_U'].pk}/",
        f"/units/{world['U'].pk}/",
        "/findings/",
        "/reviews/",
        "/asks-offers/",
    ]
    for url in work:
        assert c.get(url).status_code == 200, url
    for url in ADMIN_PAGES:
        assert c.get(url).status_code == (200 if role == "admin" else 403), url


def test_a_viewer_is_shown_no_check_in_form_and_a_member_is(world):
    c = Client()
    c.force_login(world["people"]["viewer"].user)
    page = c.get(f"/objectives/{world['oU'].pk}/").content.decode()
    assert f"/key-results/{world['krU'].pk}/checkin/" not in page
    c.force_login(world["people"]["member"].user)
    page = c.get(f"/objectives/{world['oU'].pk}/").content.decode()
    assert f"/key-results/{world['krU'].pk}/checkin/" in page


def test_the_weekly_check_in_lists_a_units_krs_for_its_members_not_its_viewers(world):
    c = Client()
    c.force_login(world["people"]["viewer"].user)
    assert "Ops KR" not in c.get("/check-in/").content.decode()
    c.force_login(world["people"]["member"].user)
    assert "Ops KR" in c.get("/check-in/").content.decode()
