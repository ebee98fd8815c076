"""Every API operation fuzzed from the OpenAPI document by Schemathesis, on the demo.

Schemathesis reads /api/v1/openapi.json from the app itself and, for each operation,
generates requests that follow the schema and requests that break it (wrong types,
missing fields, out-of-range values). They run in process through Django's WSGI
handler as the demo's admin, authenticated by a write API token, against the demo
organisation. Each answer must: not be a server error; have a status the document
declares for that operation; have the declared content type; match the declared
response schema (for errors, the one error envelope). The number of cases run per
operation is written to test-artifacts/schemathesis-cases.json.
"""

from __future__ import annotations

import atexit
import json
import os
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lockstep.demo.loader import DEMO_USERNAME, load_demo
from lockstep.org.models import Person
from lockstep.trust.tokens import token_create

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = int(os.environ.get("LOCKSTEP_FUZZ_EXAMPLES", "15"))
REPORT = Path(__file__).resolve().parents[2] / "test-artifacts" / "schemathesis-cases.json"
cases: Counter[str] = Counter()

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@atexit.register
def _report() -> None:
    if cases:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(
            json.dumps(
                {"operations": len(cases), "cases": sum(cases.values()), "per_operation": cases},
                indent=2,
                sort_keys=True,
            )
            + "\n"
        )


@pytest.fixture(autouse=True)
def _one_connection_per_test():
    """Keep the test's connection across the WSGI requests, as Django's test client does.

    The WSGI handler closes "old" connections when a request starts and ends; inside the
    test's transaction that would drop it (PostgreSQL then refuses a new connection in an
    atomic block).
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(db) -> str:
    load_demo()
    admin = Person.objects.get(user__username=DEMO_USERNAME)
    assert admin.is_org_admin
    _, text = token_create(person=admin, name="schemathesis", scope="write")
    return text


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_within_its_schema(case, token):
    cases[f"{case.operation.method.upper()} {case.operation.path}"] += 1
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    case.validate_response(response, checks=CHECKS)
