"""Size limits: an oversized request body is refused before it is parsed, and nothing changes."""

from __future__ import annotations

import json

from django.test import override_settings

from lockstep.goals.models import CheckIn, KeyResult
from tests.trust.test_idempotency import kr  # noqa: F401  (the fixture)


def test_an_oversized_api_body_gets_413_in_the_envelope(client_in, kr: KeyResult):  # noqa: F811
    note = "x" * (1024 * 1024 + 1)
    r = client_in.post(
        f"/api/v1/key-results/{kr.pk}/checkins",
        json.dumps({"value": 3, "confidence": 5, "note": note}),
        content_type="application/json",
    )
    assert r.status_code == 413
    assert r.json() == {
        "error": {"code": "too_large", "message": "the request body is over 1024 KB", "fields": []}
    }
    assert not CheckIn.objects.exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=4 * 1024)
def test_the_limit_follows_the_setting(client_in, kr: KeyResult):  # noqa: F811
    body = {"value": 3, "confidence": 5, "note": "y" * 3000}
    url = f"/api/v1/key-results/{kr.pk}/checkins"
    assert client_in.post(url, json.dumps(body), content_type="application/json").status_code == 201
    body["note"] = "y" * 4500
    r = client_in.post(url, json.dumps(body), content_type="application/json")
    assert r.status_code == 413 and r.json()["error"]["message"] == "the request body is over 4 KB"
    assert CheckIn.objects.count() == 1


def test_null_is_refused_where_it_means_nothing_and_names_the_field(client_in, org):
    r = client_in.patch(
        "/api/v1/organisation", json.dumps({"timezone": None}), content_type="application/json"
    )
    assert r.status_code == 422
    assert r.json()["error"]["fields"] == [
        {"field": "timezone", "message": "may not be null: leave the field out to keep it as it is"}
    ]
    org.refresh_from_db()
    assert org.timezone == "UTC"


def test_null_clears_where_the_schema_allows_it(client_in, kr: KeyResult):  # noqa: F811
    r = client_in.patch(
        f"/api/v1/key-results/{kr.pk}", json.dumps({"due": None}), content_type="application/json"
    )
    assert r.status_code == 200, r.json()


def test_numbers_beyond_64_bits_are_refused_by_name(client_in):
    huge = 2**64
    r = client_in.get(f"/api/v1/objectives/{huge}")
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "objective_id"
    r = client_in.get("/api/v1/findings", {"offset": huge})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "offset"
