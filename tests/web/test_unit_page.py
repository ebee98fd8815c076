"""HTTP-level tests of the unit page: what a unit is, who is in it, and what it owes and is owed."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from lockstep.alignment import services as alignment
from lockstep.alignment.models import Finding
from lockstep.goals import services as goals
from lockstep.org import services as org_services


def text(response) -> str:
    return response.content.decode()


def section(html: str, heading_id: str) -> str:
    """The part of the page from a section's heading to the next section's."""
    start = html.index(f'id="{heading_id}"')
    end = html.find("<h2", start + 1)
    return html[start : end if end != -1 else len(html)]


def finding(org, units, *, key: str, severity: str = "warning", title: str) -> Finding:
    now = timezone.now()
    f = Finding.objects.create(
        organisation=org,
        key=key,
        code="LOW_CONFIDENCE",
        severity=severity,
        subject_type="unit",
        subject_id=units[0].pk,
        title=title,
        first_seen_at=now,
        last_seen_at=now,
    )
    f.units.set(units)
    return f


@pytest.fixture
def marketing_page(org, units, teams, launch, person):
    """Marketing with people, a dependency each way, a finding and a KPI."""
    mk = units["marketing"]
    org_services.person_create(
        organisation=org,
        actor=None,
        name="Grace Hopper",
        email="grace@example.com",
        memberships=[(mk, "leader")],
    )
    org_services.person_create(
        organisation=org,
        actor=None,
        name="Alan Turing",
        email="alan@example.com",
        memberships=[(mk, "member")],
    )
    today = dt.date.today()
    asked = alignment.dependency_request(
        organisation=org,
        actor=None,
        requester_item=launch["visits"],
        provider_unit=units["product"],
        title="Landing page copy deck",
        needed_by=today + dt.timedelta(days=3),
    )
    owed = alignment.dependency_request(
        organisation=org,
        actor=None,
        requester_item=launch["tested"],
        provider_unit=mk,
        title="Launch video",
        needed_by=today - dt.timedelta(days=1),
    )
    alignment.dependency_accept(dependency=owed, actor=person)  # Ada is an org admin
    kpi = goals.kpi_create(
        organisation=org,
        actor=None,
        name="Acquisition cost",
        measure="EUR",
        healthy_max=40,
        owner_units=[mk],
    )
    goals.kpi_point_record(kpi=kpi, actor=None, value=55)
    f = finding(org, [mk], key="t-1", severity="error", title="Marketing is stretched thin")
    return {"asked": asked, "owed": owed, "kpi": kpi, "finding": f}


def test_unit_tree_links_each_unit_to_its_page(client_in, teams):
    html = text(client_in.get("/units/"))
    assert f'href="/units/{teams["checkout"].pk}/"' in html
    assert f'href="/units/{teams["web"].pk}/"' in html


def test_unit_page_shows_what_the_unit_is(client_in, units, teams, person):
    web = teams["web"]
    org_services.person_create(
        organisation=web.organisation,
        actor=None,
        name="Linus",
        email="linus@example.com",
        memberships=[(web, "member")],
    )
    r = client_in.get(f"/units/{web.pk}/")
    assert r.status_code == 200
    html = text(r)
    assert "<h1>Web team</h1>" in html
    crumbs = html.split('aria-label="Breadcrumb"')[1].split("</nav>")[0]
    # Root first, each ancestor a link, the unit itself the current page.
    assert crumbs.index("Acme") < crumbs.index("Product") < crumbs.index("Web team")
    assert f'href="/units/{units["product"].pk}/"' in crumbs
    assert '<span aria-current="page">Web team</span>' in crumbs
    assert "Team" in html and "120 hours" in html
    children = section(html, "children-heading")
    assert f'href="/units/{teams["checkout"].pk}/"' in children
    people = section(html, "people-heading")
    assert "Linus" in people and "Member" in people
    assert "Ada Lovelace" not in people  # Ada leads Product, not the Web team


def test_unit_page_lists_objectives_owned_and_shared_with_status(client_in, units, launch):
    goals.checkin_record(key_result=launch["visits"], actor=None, value=2500, confidence=7)
    html = text(client_in.get(f"/units/{units['marketing'].pk}/"))
    objectives = section(html, "objectives-heading")
    assert launch["brand"].title in objectives  # owned
    assert launch["shared"].title in objectives  # contributed to
    assert launch["company"].title not in objectives  # Acme's, not Marketing's
    assert "Owner" in objectives and "Contributor" in objectives
    assert 'class="status status--' in objectives and 'class="bar__fill' in objectives
    krs = section(html, "krs-heading")
    assert launch["visits"].title in krs and launch["guide"].title in krs
    assert launch["tested"].title not in krs  # Product's
    assert "2,500 visits of 5,000 visits" in krs
    assert f'href="/objectives/{launch["shared"].pk}/#kr-{launch["visits"].pk}"' in krs


def test_unit_page_lists_co_owned_key_results(client_in, org, units, launch, person):
    kr = goals.key_result_create(
        objective=launch["shared"],
        actor=person,
        title="Joint press kit",
        kind="milestone",
        owner_unit=units["product"],
        co_owners=[units["support"]],
    )
    krs = section(text(client_in.get(f"/units/{units['support'].pk}/")), "krs-heading")
    assert kr.title in krs and "Co-owner with Product" in krs


def test_unit_page_shows_dependencies_findings_and_kpis(client_in, units, marketing_page):
    html = text(client_in.get(f"/units/{units['marketing'].pk}/"))
    asked = section(html, "asked-heading")
    assert "Landing page copy deck" in asked and "from Product" in asked
    assert "Requested" in asked
    owes = section(html, "owes-heading")
    assert "Launch video" in owes and "for Product" in owes
    assert "Accepted" in owes and "Late" in owes
    assert f'href="/dependencies/{marketing_page["owed"].pk}/"' in owes
    # Ada is an org admin, so the board filters to Marketing for her.
    assert f'href="/dependencies/?unit={units["marketing"].pk}"' in html
    found = section(html, "findings-heading")
    assert "Marketing is stretched thin" in found and "Error" in found
    assert f'href="/findings/?unit={units["marketing"].pk}#finding-' in found
    kpis = section(html, "kpis-heading")
    assert "Acquisition cost" in kpis and "55 EUR" in kpis and "Outside range" in kpis


def test_unit_page_for_a_non_member_without_admin_offers_no_board_link(
    client_in, person, units, marketing_page
):
    person.is_org_admin = False
    person.save()
    html = text(client_in.get(f"/units/{units['marketing'].pk}/"))
    assert "/dependencies/?unit=" not in html
    assert "Edit unit" not in html
    assert "Launch video" in html  # reading is for everyone in the organisation


def test_unit_page_says_so_when_there_is_nothing(client_in, teams):
    html = text(client_in.get(f"/units/{teams['checkout'].pk}/"))
    assert "Nobody belongs to this unit yet." in html
    assert "No objectives this cycle." in html or "No cycle is running today." in html
    assert "It has asked no other unit for anything." in html
    assert "No findings about this unit." in html
    assert "It owns no KPI." in html


def test_admins_get_an_edit_link(client_in, units):
    html = text(client_in.get(f"/units/{units['support'].pk}/"))
    assert f'href="/manage/units/{units["support"].pk}/"' in html


def test_another_organisations_unit_is_not_found(client_in, units):
    globex = org_services.organisation_create(slug="globex", name="Globex")
    secret = org_services.unit_create(organisation=globex, actor=None, name="Secret lab")
    r = client_in.get(f"/units/{secret.pk}/")
    assert r.status_code == 404
    assert "Secret lab" not in text(r)
    assert client_in.get("/units/999999/").status_code == 404


def test_unit_page_requires_sign_in(units):
    from django.test import Client

    r = Client().get(f"/units/{units['product'].pk}/")
    assert r.status_code == 302 and "/login/" in r.url


# ---- query count: an N+1 fails here -----------------------------------------------------

# Measured: the four look-ups of every signed-in page, then the unit, cycles, objectives
# and their stored numbers (three), key results, the dependency counts of both sides (late
# ones included) and the open ones of each side, findings and their count, members,
# sub-units, KPIs and their points, and one query per ancestor (Marketing has one).
# Nothing grows with the rows.
UNIT_PAGE_QUERIES = 20


@pytest.fixture
def busy_unit(org, units, teams, cycle, person):
    """Marketing with 30 objectives, 30 KRs (some co-owned), 30 dependencies and findings."""
    mk = units["marketing"]
    for i in range(10):
        org_services.person_create(
            organisation=org,
            actor=None,
            name=f"Marketer {i}",
            email=f"m{i}@example.com",
            memberships=[(mk, "leader" if i == 0 else "member")],
        )
    product_kr = None
    for i in range(30):
        shared = i % 3 == 0
        objective = goals.objective_create(
            organisation=org,
            actor=None,
            cycle=cycle,
            title=f"Goal {i}",
            level="shared" if shared else "unit",
            owner_unit=None if shared else mk,
            contributors=[mk, units["product"]] if shared else [],
        )
        kr = goals.key_result_create(
            objective=objective,
            actor=None,
            title=f"KR {i}",
            kind="increase",
            target=100,
            owner_unit=units["product"] if i % 5 == 0 else mk,
            co_owners=[mk] if i % 5 == 0 else [],
        )
        if i % 5 == 0:
            product_kr = kr
        goals.checkin_record(key_result=kr, actor=None, value=i, confidence=6)
        goals.kpi_create(organisation=org, actor=None, name=f"KPI {i}", owner_units=[mk])
    assert product_kr is not None
    today = dt.date.today()
    mk_krs = list(mk.owned_key_results.all()[:15])
    for i, kr in enumerate(mk_krs):
        alignment.dependency_request(
            organisation=org,
            actor=None,
            requester_item=kr,
            provider_unit=teams["web" if i % 2 else "app"],
            title=f"Need {i}",
            needed_by=today + dt.timedelta(days=i % 5),
        )
        alignment.dependency_request(
            organisation=org,
            actor=None,
            requester_item=product_kr,
            provider_unit=mk,
            title=f"Owed {i}",
            needed_by=today + dt.timedelta(days=i % 5),
        )
    for i in range(30):
        finding(org, [mk, units["product"]], key=f"busy-{i}", title=f"Finding {i}")
    return mk


def test_unit_page_query_count(client_in, busy_unit, django_assert_max_num_queries):
    with django_assert_max_num_queries(UNIT_PAGE_QUERIES):
        r = client_in.get(f"/units/{busy_unit.pk}/")
    html = text(r)
    assert r.status_code == 200
    assert html.count('href="/objectives/') >= 60  # 30 objectives and 30 key results
    assert "Marketer 9" in html and "Need 14" in html and "Owed 14" in html
    # The engine adds its own findings about so busy a unit; ours are 30 of them.
    shown = re.search(r"All (\d+) findings about Marketing", html)
    assert shown is not None and int(shown.group(1)) >= 30
