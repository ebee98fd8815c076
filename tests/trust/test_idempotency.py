"""Idempotency keys on POST check-ins: a retried request happens once.

The concurrent cases need real concurrent transactions, so they run on PostgreSQL (CI runs
the suite there too); SQLite's test database lives in memory, one per connection.
"""

from __future__ import annotations

import json
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from lockstep.goals import services as goals
from lockstep.goals.models import CheckIn, KeyResult, Objective
from lockstep.org import services as org_services
from lockstep.trust.models import IdempotencyKey


@pytest.fixture
def kr(org, units, cycle, person) -> KeyResult:
    objective = goals.objective_create(
        organisation=org,
        actor=person,
        cycle=cycle,
        title="Grow visits",
        key="visits",
        owner_unit=units["marketing"],
    )
    return goals.key_result_create(
        objective=objective,
        actor=person,
        title="Visits",
        key="visits",
        kind="increase",
        start=0,
        target=1000,
        owner_unit=units["marketing"],
    )


def post(client: Client, kr: KeyResult, body: dict, key: str | None = None):
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(
        f"/api/v1/key-results/{kr.pk}/checkins",
        json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def test_a_retry_with_the_same_key_replays_the_first_answer(client_in, kr):
    first = post(client_in, kr, {"value": 400, "confidence": 7}, key="retry-1")
    again = post(client_in, kr, {"value": 400, "confidence": 7}, key="retry-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert CheckIn.objects.filter(key_result=kr).count() == 1
    kr.refresh_from_db()
    assert kr.checkin_count == 1 and kr.current_value == 400


def test_without_a_key_every_post_is_a_new_check_in(client_in, kr):
    post(client_in, kr, {"value": 400, "confidence": 7})
    post(client_in, kr, {"value": 400, "confidence": 7})
    assert CheckIn.objects.filter(key_result=kr).count() == 2


def test_the_same_key_for_a_different_request_is_refused_and_changes_nothing(client_in, kr):
    post(client_in, kr, {"value": 400, "confidence": 7}, key="k")
    other = post(client_in, kr, {"value": 500, "confidence": 7}, key="k")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert "different request" in other.json()["error"]["message"]
    assert list(CheckIn.objects.filter(key_result=kr).values_list("value", flat=True)) == [400]


def test_a_refused_request_stores_no_key_so_the_corrected_retry_runs(client_in, kr):
    bad = post(client_in, kr, {"value": 400, "confidence": 11}, key="fix-me")
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "confidence"
    assert not IdempotencyKey.objects.exists()
    good = post(client_in, kr, {"value": 400, "confidence": 8}, key="fix-me")
    assert good.status_code == 201
    assert CheckIn.objects.filter(key_result=kr).count() == 1


def test_a_malformed_key_names_the_header(client_in, kr):
    r = post(client_in, kr, {"value": 1, "confidence": 5}, key="x" * 256)
    assert r.status_code == 422
    assert r.json()["error"]["fields"] == [
        {"field": "Idempotency-Key", "message": "must be 1 to 255 printable characters"}
    ]
    assert not CheckIn.objects.exists()


def test_keys_belong_to_their_person(client_in, org, units, kr):
    post(client_in, kr, {"value": 400, "confidence": 7}, key="shared-key")
    user = get_user_model().objects.create_user("bea", "bea@example.com", "correct-horse-9")
    bea_person = org_services.person_create(
        organisation=org,
        actor=None,
        name="Bea",
        email="bea@example.com",
        memberships=[(units["marketing"], "member")],
    )
    bea_person.user = user
    bea_person.save(update_fields=["user"])
    bea = Client()
    bea.force_login(user)
    r = post(bea, kr, {"value": 400, "confidence": 7}, key="shared-key")
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert CheckIn.objects.filter(key_result=kr).count() == 2


def test_the_key_is_in_the_openapi_document(client_in):
    doc = client_in.get("/api/v1/openapi.json").json()
    op = doc["paths"]["/api/v1/key-results/{kr_id}/checkins"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op["parameters"])


def _concurrently(n: int, fn) -> list:
    results: list = [None] * n
    start = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            start.wait()
            results[i] = fn(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent transactions: SQLite's test database is in memory, one per thread",
)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_copies_of_one_request_make_one_check_in(person, kr):
    def send(_: int):
        c = Client()
        c.force_login(person.user)
        r = post(c, kr, {"value": 300, "confidence": 6}, key="burst")
        return r.status_code, r.json()

    results = _concurrently(8, send)
    assert {status for status, _ in results} == {201}
    assert len({json.dumps(body, sort_keys=True) for _, body in results}) == 1
    assert CheckIn.objects.filter(key_result=kr).count() == 1
    assert IdempotencyKey.objects.count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_check_ins_none_lost_and_roll_ups_right(org, units, cycle, person):
    """50 check-ins at once on 10 KRs of one objective: all stored, numbers as if serial."""
    objective = goals.objective_create(
        organisation=org,
        actor=person,
        cycle=cycle,
        title="Ship it",
        key="ship",
        owner_unit=units["marketing"],
    )
    krs = [
        goals.key_result_create(
            objective=objective,
            actor=person,
            title=f"KR {i}",
            key=f"kr-{i}",
            kind="increase",
            start=0,
            target=100,
            owner_unit=units["marketing"],
        )
        for i in range(10)
    ]

    def send(i: int):
        c = Client()
        c.force_login(person.user)
        # Five check-ins per KR; the last one written wins as current value whatever order
        # they land in, because each carries its own time (one second apart).
        kr = krs[i % 10]
        at = f"{cycle.start.isoformat()}T12:00:{i // 10:02d}Z"
        r = post(c, kr, {"value": 10 * (i // 10 + 1), "confidence": 5, "at": at})
        return r.status_code

    statuses = _concurrently(50, send)
    assert statuses == [201] * 50
    assert CheckIn.objects.filter(key_result__in=krs).count() == 50
    for kr in KeyResult.objects.filter(pk__in=[k.pk for k in krs]):
        assert kr.checkin_count == 5
        assert kr.current_value == 50  # the latest of 10, 20, 30, 40, 50
        assert kr.progress == pytest.approx(0.5)
    objective = Objective.objects.get(pk=objective.pk)
    stored = objective.progress
    goals.numbers_refresh_full(org)
    objective.refresh_from_db()
    assert stored == pytest.approx(objective.progress) == pytest.approx(0.5)
