"""Personal API tokens: shown once, stored hashed, scoped read or write, revocable, last use."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from django.test import Client
from django.utils import timezone

from lockstep.activity.models import ActivityEvent
from lockstep.org.models import Person
from lockstep.trust.models import ApiToken
from lockstep.trust.tokens import token_create


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def anon() -> Client:
    return Client(enforce_csrf_checks=True)


def test_a_token_is_shown_once_and_stored_only_as_a_hash(client_in, person):
    r = client_in.post(
        "/api/v1/tokens", json.dumps({"name": "CI script"}), content_type="application/json"
    )
    assert r.status_code == 201
    body = r.json()
    text = body["token"]
    assert text.startswith("lst_") and len(text) > 40
    assert body["scope"] == "read" and body["hint"].startswith(text[:16])
    row = ApiToken.objects.get(pk=body["id"])
    assert row.digest == hashlib.sha256(text.encode()).hexdigest()
    assert text not in json.dumps(list(ApiToken.objects.values()), default=str)
    listed = client_in.get("/api/v1/tokens").json()
    assert [t["id"] for t in listed] == [row.pk] and "token" not in listed[0]
    assert ActivityEvent.objects.filter(verb="api_token.created", object_id=row.pk).exists()


def test_a_read_token_reads_and_may_not_write(anon, person, units):
    _, text = token_create(person=person, name="dashboard", scope="read")
    r = anon.get("/api/v1/units", headers=bearer(text))
    assert r.status_code == 200 and r.json()["count"] == len(units)
    w = anon.post(
        "/api/v1/units",
        json.dumps({"name": "Lab", "key": "lab", "parent_id": units["acme"].pk}),
        content_type="application/json",
        headers=bearer(text),
    )
    assert w.status_code == 403
    assert w.json()["error"] == {
        "code": "forbidden",
        "message": "this API token may only read; create a write token to change",
        "fields": [],
    }
    assert not person.organisation.units.filter(key="lab").exists()


def test_a_write_token_writes_without_csrf_as_its_person(anon, person, units):
    _, text = token_create(person=person, name="sync", scope="write")
    r = anon.post(
        "/api/v1/units",
        json.dumps({"name": "Lab", "key": "lab", "parent_id": units["acme"].pk}),
        content_type="application/json",
        headers=bearer(text),
    )
    assert r.status_code == 201, r.json()
    event = ActivityEvent.objects.get(verb="unit.created", object_id=r.json()["id"])
    assert event.actor == person


@pytest.mark.parametrize(
    "header",
    ["Bearer lst_nope_nope", "Bearer garbage", "Bearer {text}x", "Bearer {revoked}"],
)
def test_unknown_wrong_or_revoked_tokens_get_401(anon, person, header):
    _, text = token_create(person=person, name="a", scope="write")
    old, revoked = token_create(person=person, name="b", scope="write")
    old.revoked_at = timezone.now()
    old.save()
    r = anon.get(
        "/api/v1/units", headers={"Authorization": header.format(text=text, revoked=revoked)}
    )
    assert r.status_code == 401
    assert r.json()["error"] == {
        "code": "unauthenticated",
        "message": "invalid or revoked API token",
        "fields": [],
    }


def test_revoking_stops_the_token_at_once(client_in, anon, person):
    token, text = token_create(person=person, name="old", scope="read")
    assert anon.get("/api/v1/units", headers=bearer(text)).status_code == 200
    r = client_in.delete(f"/api/v1/tokens/{token.pk}")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert anon.get("/api/v1/units", headers=bearer(text)).status_code == 401
    assert ActivityEvent.objects.filter(verb="api_token.revoked", object_id=token.pk).exists()


def test_an_archived_person_s_tokens_stop_working(anon, person):
    _, text = token_create(person=person, name="x", scope="read")
    Person.objects.filter(pk=person.pk).update(archived_at=timezone.now())
    assert anon.get("/api/v1/units", headers=bearer(text)).status_code == 401


def test_last_use_is_recorded_at_most_once_a_minute(anon, person):
    token, text = token_create(person=person, name="x", scope="read")
    assert token.last_used_at is None
    anon.get("/api/v1/units", headers=bearer(text))
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    anon.get("/api/v1/units", headers=bearer(text))
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    anon.get("/api/v1/units", headers=bearer(text))
    token.refresh_from_db()
    assert token.last_used_at > first - dt.timedelta(minutes=2)


def test_a_token_cannot_create_tokens_or_touch_another_person_s(anon, client_in, person, org):
    _, text = token_create(person=person, name="w", scope="write")
    r = anon.post(
        "/api/v1/tokens",
        json.dumps({"name": "more"}),
        content_type="application/json",
        headers=bearer(text),
    )
    assert r.status_code == 403 and ApiToken.objects.count() == 1
    other = Person.objects.create(organisation=org, name="Bo", email="bo@example.com")
    from django.contrib.auth import get_user_model

    other.user = get_user_model().objects.create_user("bo", "bo@example.com", "x-horse-10")
    other.save()
    theirs, _ = token_create(person=other, name="theirs", scope="read")
    assert client_in.delete(f"/api/v1/tokens/{theirs.pk}").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_bad_token_input_names_the_field(client_in):
    r = client_in.post(
        "/api/v1/tokens",
        json.dumps({"name": "x", "scope": "admin"}),
        content_type="application/json",
    )
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "scope"
    assert not ApiToken.objects.exists()


def test_the_bearer_scheme_is_in_the_openapi_document(client_in):
    doc = client_in.get("/api/v1/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())


def test_a_secret_holding_underscores_still_authenticates(anon, person, monkeypatch):
    monkeypatch.setattr("lockstep.trust.tokens.secrets.token_urlsafe", lambda n: "a_b-c_d" * 6)
    _, text = token_create(person=person, name="x", scope="read")
    assert text.count("_") > 2
    assert anon.get("/api/v1/units", headers=bearer(text)).status_code == 200
