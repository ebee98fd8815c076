"""Roles: only organisation admins manage people, units and settings, through any door."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from lockstep.org import services as org_services
from lockstep.org.models import Organisation, Person, Unit
from lockstep.trust.tokens import token_create


@pytest.fixture
def member(org, units) -> Person:
    user = get_user_model().objects.create_user("mo", "mo@example.com", "correct-horse-9")
    p = org_services.person_create(
        organisation=org,
        actor=None,
        name="Mo Member",
        email="mo@example.com",
        memberships=[(units["marketing"], "leader")],
    )
    p.user = user
    p.save()
    return p


def _api(person: Person) -> Client:
    _, text = token_create(person=person, name="t", scope="write")
    return Client(HTTP_AUTHORIZATION=f"Bearer {text}")


WRITES = [
    ("patch", "/api/v1/people/{me}", {"is_org_admin": True}),
    ("post", "/api/v1/people", {"name": "X", "email": "x@example.com", "memberships": []}),
    ("delete", "/api/v1/people/{admin}", None),
    ("post", "/api/v1/units", {"name": "Lab", "key": "lab", "parent_id": "{acme}"}),
    ("patch", "/api/v1/units/{marketing}", {"name": "Mine now"}),
    ("delete", "/api/v1/units/{marketing}", None),
    ("patch", "/api/v1/organisation", {"name": "Taken over"}),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_unit_leader_cannot_manage_the_organisation_through_the_api(
    member, person, org, units, method, path, body
):
    names = {"me": member.pk, "admin": person.pk, "acme": units["acme"].pk}
    names["marketing"] = units["marketing"].pk
    url = path.format(**names)
    if body is not None:
        body = {
            k: (int(v.format(**names)) if isinstance(v, str) and "{" in v else v)
            for k, v in body.items()
        }
    before = (
        list(Person.objects.order_by("pk").values()),
        list(Unit.objects.order_by("pk").values()),
        list(Organisation.objects.values()),
    )
    kwargs = {} if body is None else {"data": json.dumps(body), "content_type": "application/json"}
    r = getattr(_api(member), method)(url, **kwargs)
    assert r.status_code == 403, r.content
    assert r.json()["error"]["code"] == "forbidden"
    after = (
        list(Person.objects.order_by("pk").values()),
        list(Unit.objects.order_by("pk").values()),
        list(Organisation.objects.values()),
    )
    assert after == before


def test_an_admin_still_can(person, member):
    r = _api(person).patch(
        f"/api/v1/people/{member.pk}",
        json.dumps({"is_org_admin": True}),
        content_type="application/json",
    )
    assert r.status_code == 200
    member.refresh_from_db()
    assert member.is_org_admin


def test_the_e_mail_of_the_sign_in_account_follows_the_person(person, member):
    org_services.person_update(person=member, actor=person, email="mo@new.example")
    member.user.refresh_from_db()
    assert member.user.email == "mo@new.example"


def test_new_margins_recompute_the_stored_statuses(org, units, cycle, person):
    from lockstep.goals import services as goals

    objective = goals.objective_create(
        organisation=org, actor=person, cycle=cycle, title="Grow", owner_unit=units["marketing"]
    )
    kr = goals.key_result_create(
        objective=objective,
        actor=person,
        title="Visits",
        kind="increase",
        start=0,
        target=100,
        owner_unit=units["marketing"],
    )
    goals.checkin_record(key_result=kr, actor=person, value=40, confidence=6)
    kr.refresh_from_db()
    assert kr.status == "at_risk"  # 40 % against a pace of 53-60 %, 10 points of slack
    org_services.organisation_update(organisation=org, actor=person, on_track_margin=0.25)
    kr.refresh_from_db()
    objective.refresh_from_db()
    assert kr.status == "on_track"  # 25 points of slack now
    assert objective.status == "on_track"


@pytest.fixture
def marketing_kr(org, units, cycle, person):
    from lockstep.goals import services as goals

    objective = goals.objective_create(
        organisation=org, actor=person, cycle=cycle, title="Grow", owner_unit=units["marketing"]
    )
    return goals.key_result_create(
        objective=objective,
        actor=person,
        title="Visits",
        kind="increase",
        target=100,
        owner_unit=units["marketing"],
        co_owners=[units["product"]],
    )


def _outsider(units) -> Person:
    """A member of Support, which neither owns nor co-owns the Marketing KR."""
    user = get_user_model().objects.create_user("sue", "sue@example.com", "correct-horse-9")
    p = org_services.person_create(
        organisation=units["acme"].organisation,
        actor=None,
        name="Sue Support",
        email="sue@example.com",
        memberships=[(units["support"], "member")],
    )
    p.user = user
    p.save()
    return p


def test_a_member_of_another_unit_cannot_check_in_through_api_or_page(
    units, marketing_kr, unchanged
):
    sue = _outsider(units)
    api = _api(sue)  # minting the token is an audited write of its own
    web = Client()
    web.force_login(sue.user)
    with unchanged():
        r = api.post(
            f"/api/v1/key-results/{marketing_kr.pk}/checkins",
            json.dumps({"value": 50, "confidence": 7}),
            content_type="application/json",
        )
        assert r.status_code == 403, r.content
        assert r.json()["error"]["code"] == "forbidden"
        page = web.post(
            f"/key-results/{marketing_kr.pk}/checkin/", {"value": "50", "confidence": "7"}
        )
        assert page.status_code == 403
        assert "may check in" in page.content.decode()
        week = web.post(f"/check-in/{marketing_kr.pk}/", {"value": "50", "confidence": "7"})
        assert week.status_code == 403


def test_the_owner_units_and_co_owner_units_people_may_check_in(units, marketing_kr, member):
    # member leads Marketing (the owner unit); a Product member co-owns through Product.
    r = _api(member).post(
        f"/api/v1/key-results/{marketing_kr.pk}/checkins",
        json.dumps({"value": 30, "confidence": 6}),
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    user = get_user_model().objects.create_user("pat", "pat@example.com", "correct-horse-9")
    pat = org_services.person_create(
        organisation=units["acme"].organisation,
        actor=None,
        name="Pat Product",
        email="pat@example.com",
        memberships=[(units["product"], "member")],
    )
    pat.user = user
    pat.save()
    r = _api(pat).post(
        f"/api/v1/key-results/{marketing_kr.pk}/checkins",
        json.dumps({"value": 40, "confidence": 6}),
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    marketing_kr.refresh_from_db()
    assert marketing_kr.current_value == 40
