"""Tenant isolation: every API operation and every page, called by another organisation.

Organisation A is the demo (every kind of object), its texts marked with MARK so a leak
of any of them is visible in any answer. Organisation B has its own admin and member.
Every operation of the OpenAPI document and every page route is called as B's admin
(with a write token, and with a session for pages) and as B's plain member, with A's ids
in the path, the query and the body. Nothing may answer with A's data, no call aimed at
A's rows may succeed, and afterwards every row of A is as it was. The figures (calls
made, 404s, leaks, changed rows) are written to test-artifacts/tenant-matrix.json.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from lockstep.alignment.models import AskOffer, Dependency, Review, ReviewNote
from lockstep.api import api
from lockstep.demo.loader import DEMO_USERNAME, load_demo
from lockstep.goals.models import KPI, Cycle, Initiative, KeyResult, Objective
from lockstep.org import services as org_services
from lockstep.org.models import Organisation, Person, Unit
from lockstep.trust.models import ApiToken
from lockstep.trust.tokens import token_create

MARK = "ZQXLEAK"
REPORT = Path(__file__).resolve().parents[2] / "test-artifacts" / "tenant-matrix.json"


def _mark_everything(org: Organisation) -> None:
    """Put MARK into every text a reader of A could see, so a leak shows in any answer."""
    for model, field in [
        (Unit, "name"),
        (Person, "name"),
        (Cycle, "name"),
        (Objective, "title"),
        (KeyResult, "title"),
        (Initiative, "title"),
        (KPI, "name"),
        (Dependency, "title"),
        (AskOffer, "text"),
    ]:
        for row in model.objects.filter(organisation=org):
            model.objects.filter(pk=row.pk).update(**{field: f"{MARK} {getattr(row, field)}"})
    Organisation.objects.filter(pk=org.pk).update(name=f"{MARK} Northwind")
    ReviewNote.objects.filter(review__organisation=org).update(text=MARK)


def _owner_path(model: Any) -> str | None:
    """How a row of `model` reaches its organisation: directly, or through a parent row
    (memberships, contributors, links, KPI points, review notes, many-to-many tables)."""
    names = {f.name for f in model._meta.get_fields()}
    if "organisation" in names:
        return "organisation"
    for field in model._meta.get_fields():
        if field.many_to_one and field.related_model is not None:
            parent = {f.name for f in field.related_model._meta.get_fields()}
            if "organisation" in parent:
                return f"{field.name}__organisation"
    return None


def _fingerprint(org: Organisation) -> dict[str, str]:
    """A hash of every row of every Lockstep table that belongs to A."""
    out = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label not in {"org", "goals", "alignment", "activity", "trust"}:
            continue
        if model is Organisation:
            qs = model.objects.filter(pk=org.pk)
        elif (path := _owner_path(model)) is not None:
            qs = model.objects.filter(**{path: org})
        else:
            continue
        rows = list(qs.order_by("pk").values())
        out[model._meta.label] = hashlib.sha256(
            json.dumps(rows, default=str, sort_keys=True).encode()
        ).hexdigest()
    return out


def _ids(org: Organisation) -> dict[str, int]:
    def first(model: Any) -> int:
        return model.objects.filter(organisation=org).order_by("pk").values_list("pk", flat=True)[0]

    admin = Person.objects.get(organisation=org, user__username=DEMO_USERNAME)
    token, _ = token_create(person=admin, name="A's own", scope="read")
    return {
        "unit": first(Unit),
        "person": admin.pk,
        "cycle": first(Cycle),
        "objective": first(Objective),
        "kr": first(KeyResult),
        "initiative": first(Initiative),
        "kpi": first(KPI),
        "dep": first(Dependency),
        "ask": first(AskOffer),
        "review": first(Review),
        "token": token.pk,
    }


def _id_for(name: str, ids: dict[str, int]) -> int | None:
    """Which of A's ids a parameter or body field named `name` should get."""
    n = name.removesuffix("_ids").removesuffix("_id").removesuffix("s")
    for key, kinds in [
        ("kr", ("kr", "key_result", "requester_kr", "provider_kr")),
        (
            "unit",
            (
                "unit",
                "owner_unit",
                "provider_unit",
                "requester_unit",
                "blocking_unit",
                "parent",
                "contributor",
                "co_owner",
                "from_unit",
                "to_unit",
            ),
        ),
        ("person", ("person", "assignee", "owner_person", "actor")),
        ("cycle", ("cycle",)),
        ("objective", ("objective",)),
        ("initiative", ("initiative", "requester_initiative", "provider_initiative")),
        ("kpi", ("kpi",)),
        ("dep", ("dep", "dependency")),
        ("ask", ("ask",)),
        ("review", ("review",)),
        ("token", ("token",)),
    ]:
        if n in kinds:
            return ids[key]
    return None


def _value(name: str, prop: dict[str, Any], ids: dict[str, int], defs: dict[str, Any]) -> Any:
    if "$ref" in prop:
        return _value(name, defs[prop["$ref"].rsplit("/", 1)[-1]], ids, defs)
    if "anyOf" in prop:
        return _value(name, next(o for o in prop["anyOf"] if o.get("type") != "null"), ids, defs)
    if "enum" in prop:
        return prop["enum"][0]
    kind = prop.get("type")
    if kind == "integer":
        return _id_for(name, ids) or 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    if kind == "array":
        item = _value(name, prop.get("items", {}), ids, defs)
        return [item] if item is not None else []
    if kind == "object":
        return _body(prop, ids, defs)
    if prop.get("format") == "date":
        return dt.date.today().isoformat()
    if prop.get("format") == "date-time":
        return dt.datetime.now(dt.UTC).isoformat()
    return "tenant-x"


def _body(schema: dict[str, Any], ids: dict[str, int], defs: dict[str, Any]) -> dict[str, Any]:
    return {k: _value(k, p, ids, defs) for k, p in schema.get("properties", {}).items()}


def _operations(ids: dict[str, int]) -> list[tuple[str, str, dict[str, Any] | None, bool]]:
    """(method, url, JSON body, aimed at A) for every operation of the OpenAPI document."""
    doc = api.get_openapi_schema()
    defs = doc["components"]["schemas"]
    calls = []
    for path, ops in doc["paths"].items():
        params = re.findall(r"{(\w+)}", path)
        url = path
        for p in params:
            url = url.replace(f"{{{p}}}", str(_id_for(p, ids)))
        for method, op in ops.items():
            query = {
                q["name"]: _value(q["name"], q.get("schema", {}), ids, defs)
                for q in op.get("parameters", [])
                if q["in"] == "query" and _id_for(q["name"], ids) is not None
            }
            url_q = url + "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else url
            body = None
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if content:
                body = _body(defs[content["schema"]["$ref"].rsplit("/", 1)[-1]], ids, defs)
            calls.append((method.upper(), url_q, body, bool(params)))
    return calls


def _routes(patterns: list[Any], prefix: str = "") -> list[str]:
    out = []
    for p in patterns:
        if isinstance(p, URLResolver):
            out += _routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            out.append(prefix + str(p.pattern))
    return out


def _pages(ids: dict[str, int]) -> list[str]:
    """Every page route that takes an id, filled with A's ids."""
    urls = []
    for route in _routes(get_resolver().url_patterns):
        if route.startswith(("api/", "admin/")) or "<int:" not in route:
            continue
        url = "/" + route
        for name in re.findall(r"<int:(\w+)>", route):
            url = url.replace(f"<int:{name}>", str(_id_for(name, ids)))
        url = re.sub(r"<slug:\w+>", "accept", url)
        urls.append(url)
    return urls


@pytest.fixture
def tenants(db):
    a = load_demo()
    ids = _ids(a)
    _mark_everything(a)
    b = org_services.organisation_create(slug="beta", name="Beta Ltd")
    team = org_services.unit_create(organisation=b, actor=None, name="Beta team", key="team")
    people = {}
    for role, admin in (("admin", True), ("member", False)):
        user = get_user_model().objects.create_user(f"b-{role}", f"{role}@b.example", "x-horse-10")
        p = org_services.person_create(
            organisation=b,
            actor=None,
            name=f"B {role}",
            email=f"{role}@b.example",
            is_org_admin=admin,
            memberships=[(team, "leader" if admin else "member")],
        )
        p.user = user
        p.save()
        people[role] = p
    return a, ids, people


def test_no_operation_or_page_reaches_another_organisation(tenants):
    a, ids, people = tenants
    # The marks are visible to A's own people, so a missing mark below means no leak.
    own = Client()
    own.force_login(get_user_model().objects.get(username=DEMO_USERNAME))
    assert MARK.encode() in own.get("/api/v1/objectives").content
    assert MARK.encode() in own.get(f"/objectives/{ids['objective']}/").content
    before = _fingerprint(a)
    calls = _operations(ids)
    pages = _pages(ids)
    report: dict[str, Any] = {"operations": len(calls), "pages": len(pages), "as": {}}
    leaks: list[str] = []
    succeeded: list[str] = []
    for role, person in people.items():
        _, text = token_create(person=person, name="matrix", scope="write")
        api_client = Client(HTTP_AUTHORIZATION=f"Bearer {text}")
        page_client = Client()
        page_client.force_login(person.user)
        statuses: dict[int, int] = {}
        for method, url, body, aimed in calls:
            kwargs: dict[str, Any] = {}
            if body is not None:
                kwargs = {"data": json.dumps(body), "content_type": "application/json"}
            r = getattr(api_client, method.lower())(url, **kwargs)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if MARK.encode() in r.content:
                leaks.append(f"{role} {method} {url} -> {r.status_code}")
            if aimed and 200 <= r.status_code < 300:
                succeeded.append(f"{role} {method} {url} -> {r.status_code}")
        for url in pages:
            for method in ("get", "post"):
                r = getattr(page_client, method)(url)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if MARK.encode() in r.content:
                    leaks.append(f"{role} page {method.upper()} {url} -> {r.status_code}")
                if r.status_code < 400 and not (method == "post" and r.status_code == 405):
                    succeeded.append(f"{role} page {method.upper()} {url} -> {r.status_code}")
        report["as"][role] = statuses
    after = _fingerprint(a)
    changed = sorted(label for label in before if before[label] != after[label])
    report.update(leaks=leaks, succeeded=succeeded, changed_tables=changed)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    assert len(calls) >= 60 and len(pages) >= 10
    assert leaks == []
    assert succeeded == []
    assert changed == []
    assert ApiToken.objects.filter(organisation=a).count() == 1  # A's own, untouched
