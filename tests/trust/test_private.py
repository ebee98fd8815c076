"""Private objectives: seen only by their units' people and admins, through any door.

On the demo, Marketing's objective is made private and its texts (the objective, its key
results, their check-in notes) carry MARK. A leader of Lab, who has no part in it, then
calls every read operation of the API and every page (lists, maps, dashboards, search,
and the pages of the objective's parents, its KRs' dependencies and its units) with the
private ids in paths and queries: MARK must appear nowhere. A member of Marketing and an
admin see it; direct fetches by the outsider get 404, as for another organisation's row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.test import Client

from lockstep.alignment.models import Dependency
from lockstep.demo.loader import DEMO_USERNAME, load_demo
from lockstep.demo.tour import main_pages
from lockstep.goals import services as goals
from lockstep.goals.models import CheckIn, KeyResult, Objective
from lockstep.org.models import Person, Unit
from tests.trust.test_tenant_matrix import _operations, _pages, _routes

MARK = "ZQXPRIVATE"
REPORT = Path(__file__).resolve().parents[2] / "test-artifacts" / "private-objectives.json"


def _login(person: Person, username: str) -> Client:
    user = get_user_model().objects.create_user(username, person.email, "x-horse-10")
    person.user = user
    person.save(update_fields=["user"])
    c = Client()
    c.force_login(user)
    return c


def _make_private(objective: Objective) -> None:
    goals.objective_update(objective=objective, actor=None, private=True)
    Objective.objects.filter(pk=objective.pk).update(title=f"{MARK} {objective.title}")
    krs = KeyResult.objects.filter(objective=objective)
    for kr in krs:
        KeyResult.objects.filter(pk=kr.pk).update(title=f"{MARK} {kr.title}")
    CheckIn.objects.filter(key_result__in=krs).update(note=MARK)


@pytest.fixture
def private(db) -> dict[str, Any]:
    org = load_demo()
    objective = Objective.objects.filter(organisation=org, owner_unit__key="marketing").first()
    assert objective is not None
    # A shared objective that feeds a company one and whose KRs wait on other units, so
    # the parent's page, the dependency pages and the dependency findings are tried too.
    shared = (
        Objective.objects.filter(organisation=org, level="shared", parent_links__isnull=False)
        .exclude(contributors__key="lab")
        .annotate(deps=Count("key_results__needs"))
        .order_by("-deps", "pk")
        .first()
    )
    assert shared is not None and shared.deps > 0
    word = objective.title.split()[0]
    _make_private(objective)
    _make_private(shared)
    kr = KeyResult.objects.filter(objective=objective).order_by("pk").first()
    assert kr is not None
    lab = Person.objects.get(organisation=org, memberships__unit__key="lab")
    mia = Person.objects.get(organisation=org, memberships__unit__key="marketing")
    return {
        "org": org,
        "objective": objective,
        "shared": shared,
        "word": word,
        "kr": kr,
        "outsider": _login(lab, "noah"),
        "insider": _login(mia, "mia"),
        "admin": get_user_model().objects.get(username=DEMO_USERNAME),
    }


def _ids(p: dict[str, Any]) -> dict[str, int]:
    org = p["org"]
    dep = Dependency.objects.filter(organisation=org, requester_kr__objective=p["shared"]).first()
    first = Unit.objects.get(organisation=org, key="marketing")
    return {
        "unit": first.pk,
        "person": Person.objects.get(organisation=org, user__username="mia").pk,
        "cycle": p["objective"].cycle_id,
        "objective": p["objective"].pk,
        "kr": p["kr"].pk,
        "initiative": 1,
        "kpi": 1,
        "dep": dep.pk if dep else 1,
        "ask": 1,
        "review": 1,
        "token": 1,
    }


def test_the_insider_and_the_admin_see_it(private):
    url = f"/objectives/{private['objective'].pk}/"
    assert MARK in private["insider"].get(url).content.decode()
    admin = Client()
    admin.force_login(private["admin"])
    assert MARK in admin.get(url).content.decode()
    assert MARK in admin.get("/api/v1/objectives?limit=200").content.decode()


def test_the_outsider_gets_404_on_the_objective_and_its_krs(private, unchanged):
    c = private["outsider"]
    o, kr = private["objective"].pk, private["kr"].pk
    for url in (
        f"/objectives/{o}/",
        f"/api/v1/objectives/{o}",
        f"/api/v1/key-results/{kr}",
        f"/api/v1/key-results/{kr}/checkins",
    ):
        assert c.get(url).status_code == 404, url
    with unchanged():
        r = c.post(
            f"/api/v1/key-results/{kr}/checkins",
            json.dumps({"value": 1, "confidence": 5}),
            content_type="application/json",
        )
    assert r.status_code == 404


def test_no_read_of_the_outsider_shows_it(private):
    c = private["outsider"]
    ids = _ids(private)
    leaks = []
    reads = 0
    for method, url, _body, _aimed in _operations(ids):
        if method == "GET":
            reads += 1
            r = c.get(url)
            if MARK in r.content.decode(errors="replace"):
                leaks.append(f"GET {url} -> {r.status_code}")
    pages = [path for _label, path in main_pages()]
    pages += [
        "/" + route
        for route in _routes(__import__("django.urls").urls.get_resolver().url_patterns)
        if not route.startswith(("api/", "admin/", "logout")) and "<" not in route
    ]
    pages += _pages(ids)
    parent = private["shared"].parent_links.first()
    assert parent is not None
    pages.append(f"/objectives/{parent.parent_id}/")
    for dep in Dependency.objects.filter(requester_kr__objective=private["shared"]):
        pages.append(f"/dependencies/{dep.pk}/")
    pages += [
        f"/map/?q={private['word']}",
        "/map/?q=a",
        "/objectives/?q=a",
        "/dashboard/?unit=" + str(ids["unit"]),
    ]
    status = {}
    for url in sorted(set(pages)):
        r = c.get(url)
        status[url] = r.status_code
        if MARK in r.content.decode(errors="replace"):
            leaks.append(f"page {url} -> {r.status_code}")
    # The control: the outsider really reads those pages, so no marker means no leak.
    assert reads > 20
    # Refused: only the private objectives' own pages (404) and the admin pages (403).
    hidden = {f"/objectives/{o.pk}/" for o in (private["objective"], private["shared"])}
    refused = {path for _label, path in main_pages() if status[path] != 200}
    assert {p for p in refused if not p.startswith("/manage/")} <= hidden, refused
    assert all(status[p] == 403 for p in refused if p.startswith("/manage/"))
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        json.dumps({"api_reads": reads, "pages": len(set(pages)), "leaks": leaks}, indent=2) + "\n"
    )
    assert leaks == [], "\n".join(leaks)


def test_a_dependency_names_the_private_kr_only_to_those_who_may_see_it(private):
    dep = Dependency.objects.filter(requester_kr__objective=private["shared"]).first()
    assert dep is not None
    outside = private["outsider"].get(f"/dependencies/{dep.pk}/").content.decode()
    assert "a private key result" in outside
    admin = Client()
    admin.force_login(private["admin"])
    inside = admin.get(f"/dependencies/{dep.pk}/").content.decode()
    assert MARK in inside and "a private key result" not in inside


def test_making_an_objective_private_is_audited_and_needs_a_unit(private):
    from lockstep.activity.models import ActivityEvent
    from lockstep.errors import ValidationFailed

    event = ActivityEvent.objects.filter(verb="objective.updated").order_by("-pk").first()
    assert event is not None
    assert event.before["private"] is False and event.after["private"] is True
    orphan = goals.objective_create(
        organisation=private["org"],
        actor=None,
        cycle=private["objective"].cycle,
        title="Solo",
        level="company",
    )
    with pytest.raises(ValidationFailed, match="private"):
        goals.objective_update(objective=orphan, actor=None, private=True)


def test_a_plan_carries_the_private_flag_both_ways(db):
    from lockstep.plans.export import plan_dump, plan_from_db
    from lockstep.plans.validate import plan_load

    org = load_demo()
    objective = Objective.objects.filter(organisation=org, owner_unit__key="marketing").first()
    assert objective is not None
    goals.objective_update(objective=objective, actor=None, private=True)
    text = plan_dump(plan_from_db(org))
    assert text.count("private: true") == 1 and "private: false" not in text
    (spec,) = [o for o in plan_load(text).objectives if o.key == objective.key]
    assert spec.private is True


def test_its_people_see_that_it_is_private(private):
    page = private["insider"].get(f"/objectives/{private['objective'].pk}/").content.decode()
    assert ">Private</span>" in page
    listing = private["insider"].get("/objectives/?cycle=all").content.decode()
    assert ">Private</span>" in listing
