"""Browser flows through the alignment pages: answer a waiting request, see its finding go.

Screenshots of the findings, dependencies, reviews and asks-and-offers pages, at desktop
and phone widths, land in test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from lockstep.alignment import services
from lockstep.alignment.models import Dependency, Finding
from lockstep.goals import services as goals
from lockstep.goals.models import Objective
from tests.web.browser import DESKTOP, PHONE, browser_marks, shoot, sign_in

pytestmark = browser_marks


@pytest.fixture
def alignment(org, units, cycle, person):
    """Marketing waits ten days on Product for the feature; around it, a review and asks."""
    launch = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Launch Feature X",
        level="shared",
        contributors=[units["product"], units["marketing"], units["support"]],
    )
    visits = goals.key_result_create(
        objective=launch,
        actor=None,
        title="Product-page visits",
        kind="increase",
        target=5000,
        measure="visits",
        owner_unit=units["marketing"],
    )
    build = goals.key_result_create(
        objective=launch,
        actor=None,
        title="Feature X developed and tested",
        kind="milestone",
        owner_unit=units["product"],
    )
    goals.key_result_create(
        objective=launch,
        actor=None,
        title="Satisfaction on Feature X queries",
        kind="at_least",
        target=95,
        measure="%",
        owner_unit=units["support"],
    )
    waiting = services.dependency_request(
        organisation=org,
        actor=None,
        requester_item=visits,
        provider_unit=units["product"],
        title="Feature X live on the product page",
        needed_by=cycle.end - dt.timedelta(days=1),
        effort=8,
        requested_at=timezone.now() - dt.timedelta(days=10),
    )
    help_pages = services.dependency_request(
        organisation=org,
        actor=person,
        requester_item=build,
        provider_unit=units["support"],
        title="Help-centre articles for Feature X",
        needed_by=cycle.end,
    )
    services.dependency_counter(
        dependency=help_pages,
        actor=None,
        counter_date=cycle.end - dt.timedelta(days=2),
        reason="Writers are free earlier",
    )
    declined = services.dependency_request(
        organisation=org,
        actor=person,
        requester_item=build,
        provider_unit=units["marketing"],
        title="Launch video",
        needed_by=cycle.end,
    )
    services.dependency_decline(dependency=declined, actor=None, reason="No budget this sprint")
    goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Grow engagement",
        level="company",
        owner_unit=units["acme"],
    )
    brand = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Refresh the brand",
        owner_unit=units["marketing"],
        state=Objective.State.DRAFT,
    )
    goals.key_result_create(
        objective=brand,
        actor=None,
        title="Brand guide published",
        kind="milestone",
        owner_unit=units["marketing"],
    )
    [review] = services.review_request(objective=brand, actor=None, units=[units["product"]])
    services.review_respond(review=review, actor=person, kind="comment", text="Keep the logo")
    for kind, a, b, text in [
        ("ask", "marketing", "product", "A demo build two days before launch"),
        ("offer", "product", "marketing", "An engineer at the launch webinar"),
        ("ask", "product", "support", "Triage of beta feedback"),
    ]:
        services.ask_offer_create(
            organisation=org,
            actor=None,
            cycle=cycle,
            kind=kind,
            from_unit=units[a],
            to_unit=units[b],
            text=text,
        )
    services.findings_refresh_full(org)
    return {"waiting": waiting, "build": build}


def test_answer_a_waiting_request_and_its_finding_goes(live_server, browser, person, alignment):
    base = live_server.url
    dep = alignment["waiting"]
    assert Finding.objects.filter(
        code="DEPENDENCY_UNANSWERED", subject_type="dependency", subject_id=dep.pk
    ).exists()
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base)
    nav = page.get_by_role("navigation", name="Main")
    # Pages outside the alignment domain fetch the error count after loading.
    errors = Finding.objects.filter(severity="error").count()
    assert errors >= 1
    expect(nav.locator(".nav-badge")).to_contain_text(f"{errors} error")

    nav.get_by_role("link", name="Findings").click()
    expect(page.get_by_role("heading", level=1, name="Findings")).to_be_visible()
    unanswered = page.locator(".finding", has=page.locator(".finding__code", has_text="UNANSWERED"))
    expect(unanswered).to_have_count(1)
    expect(unanswered).to_contain_text("Product has not answered Marketing")
    expect(unanswered.get_by_role("link", name=dep.title)).to_be_visible()
    shoot(page, "findings-scenario-desktop")

    nav.get_by_role("link", name="Dependencies").click()
    expect(page.get_by_role("heading", level=1, name="Dependencies")).to_be_visible()
    row = page.locator(f"#dep-waiting-{dep.pk}")
    expect(row).to_contain_text("Requested")
    expect(row).to_contain_text("has not answered")
    shoot(page, "dependencies-desktop")
    # A full page load would drop this marker; an htmx swap keeps it.
    page.evaluate("window.lockstepMarker = 'still here'")
    row.get_by_label("Delivered through (optional)").select_option(
        label="Feature X developed and tested · Launch Feature X"
    )
    row.get_by_role("button", name="Accept").click()

    board = page.locator("#dependency-board")
    expect(board.get_by_role("status")).to_contain_text("Accepted “Feature X live")
    expect(board.get_by_role("status")).to_be_focused()
    owes = page.locator(f"#dep-owes-{dep.pk}")
    expect(owes).to_contain_text("Accepted")
    expect(owes).to_contain_text("through key result Feature X developed and tested")
    expect(page.locator(f"#dep-waiting-{dep.pk}")).to_have_count(0)
    assert page.evaluate("window.lockstepMarker") == "still here"
    dep.refresh_from_db()
    assert dep.state == Dependency.State.ACCEPTED and dep.provider_kr_id == alignment["build"].pk

    nav.get_by_role("link", name="Findings").click()
    expect(page.get_by_role("heading", level=1, name="Findings")).to_be_visible()
    expect(
        page.locator(".finding", has=page.locator(".finding__code", has_text="UNANSWERED"))
    ).to_have_count(0)

    page.goto(f"{base}/dependencies/{dep.pk}/")
    expect(page.locator("#activity-heading + .activity")).to_contain_text("accepted it")
    shoot(page, "dependency-detail-desktop")

    for name, url in [
        ("reviews", "/reviews/"),
        ("asks-offers", "/asks-offers/"),
    ]:
        page.goto(f"{base}{url}")
        shoot(page, f"{name}-desktop")

    phone = browser.new_context(viewport=PHONE, storage_state=context.storage_state())
    small = phone.new_page()
    for name, url in [
        ("findings-scenario", "/findings/"),
        ("dependencies", "/dependencies/"),
        ("reviews", "/reviews/"),
        ("asks-offers", "/asks-offers/"),
    ]:
        small.goto(f"{base}{url}")
        shoot(small, f"{name}-phone")
    phone.close()

    dark = browser.new_context(
        viewport=DESKTOP, color_scheme="dark", storage_state=context.storage_state()
    )
    night = dark.new_page()
    night.goto(f"{base}/dependencies/")
    shoot(night, "dependencies-dark-desktop")
    dark.close()
    context.close()


def test_decline_without_javascript(live_server, browser, person, alignment):
    base = live_server.url
    dep = alignment["waiting"]
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, base)
    page.goto(f"{base}/dependencies/")
    row = page.locator(f"#dep-waiting-{dep.pk}")
    row.get_by_text("Decline…").click()
    row.get_by_label("Why you decline").fill("The launch moved to next quarter")
    row.get_by_role("button", name="Decline", exact=True).click()

    expect(page).to_have_url(f"{base}/dependencies/")
    expect(page.locator(".messages")).to_contain_text("Declined “Feature X live")
    expect(page.locator(f"#dep-history-{dep.pk}")).to_contain_text(
        "The launch moved to next quarter"
    )
    dep.refresh_from_db()
    assert dep.state == Dependency.State.DECLINED
    context.close()
