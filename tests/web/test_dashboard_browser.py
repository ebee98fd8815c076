"""The dashboard and its wall screen in a real Chromium: filters, axe-core, the wall's
self-refresh after a check-in made through the JSON API, and screenshots.

Screenshots (test-artifacts/screenshots/): dashboard-desktop, dashboard-phone and
wall-dark-desktop of the demo organisation; wall-desktop after the live refresh.
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from lockstep.demo.loader import DEMO_PASSWORD, DEMO_USERNAME, load_demo
from lockstep.goals.models import CheckIn
from lockstep.org.models import Unit
from tests.web.browser import DESKTOP, PHONE, browser_marks, shoot

pytestmark = browser_marks

BLOCKING = {"serious", "critical"}


def _sign_in(
    page: Page, base: str, username: str = "ada", password: str = "correct-horse-9"
) -> None:
    # Where sign-in lands is the home page's business; this only waits until it is done.
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def _axe_problems(page: Page, where: str) -> list[str]:
    results = Axe().run(page).response
    return [
        f"{where}: {v['id']} ({v['impact']}): {v['nodes'][0]['target']} — {v['help']}"
        for v in results["violations"]
        if v["impact"] in BLOCKING
    ]


@pytest.fixture
def demo(db):
    return load_demo()


def test_dashboard_on_the_demo_filters_passes_axe_and_is_photographed(live_server, browser, demo):
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    _sign_in(page, base, DEMO_USERNAME, DEMO_PASSWORD)
    page.goto(f"{base}/dashboard/")
    expect(page.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()
    expect(page.get_by_role("heading", name="Owned jointly by Marketing and Sales")).to_be_visible()
    expect(page.locator(".kpi-group--joint").first).to_contain_text("Customer acquisition cost")
    expect(page.locator(".kpi-group--joint").first).to_contain_text("Customer lifetime value")
    expect(page.locator(".dash-trend svg.chart")).to_be_visible()
    problems = _axe_problems(page, "dashboard light")
    shoot(page, "dashboard-desktop")

    # The filter form narrows to a unit's subtree; its rows are the units below it.
    commercial = Unit.objects.get(organisation=demo, key="commercial")
    page.get_by_label("Unit (with the units below it)").select_option(label="Commercial")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"{base}/dashboard/?cycle=&unit={commercial.pk}")
    expect(page.get_by_text("Commercial and the units below it")).to_be_visible()
    expect(page.locator("table.heat").get_by_role("rowheader", name="Marketing")).to_be_visible()
    problems += _axe_problems(page, "dashboard of a unit")
    page.goto(f"{base}/dashboard/wall/")
    expect(page.get_by_role("heading", level=1, name="Northwind Group")).to_be_visible()
    problems += _axe_problems(page, "wall light")
    page.goto(f"{base}/dashboard/?unit={commercial.pk}")

    # A heat-map cell opens its objective.
    page.locator("td.heat__cell a").first.click()
    expect(page).to_have_url(re.compile(r"/objectives/\d+/$"))

    dark = browser.new_context(
        viewport=DESKTOP, color_scheme="dark", storage_state=context.storage_state()
    )
    night = dark.new_page()
    night.goto(f"{base}/dashboard/")
    problems += _axe_problems(night, "dashboard dark")
    night.goto(f"{base}/dashboard/wall/")
    problems += _axe_problems(night, "wall dark")
    shoot(night, "wall-dark-desktop")
    dark.close()

    phone = browser.new_context(viewport=PHONE, storage_state=context.storage_state())
    small = phone.new_page()
    small.goto(f"{base}/dashboard/")
    expect(small.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()
    # Nothing but the tables' own scrollers is wider than the phone.
    assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(small, "dashboard-phone")
    phone.close()
    context.close()
    assert problems == []


def test_wall_refreshes_itself_after_a_check_in(live_server, browser, person, launch, units):
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    _sign_in(page, base)
    page.goto(f"{base}/dashboard/wall/?refresh=2")
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    cell = page.locator(f"#cell-{units['marketing'].pk}-{launch['shared'].pk}")
    expect(cell).to_contain_text("0%")
    expect(cell).to_contain_text("Not started")
    # A reload would drop this marker; the htmx poll swaps the panel and keeps it.
    page.evaluate("window.wallMarker = 'still here'")

    csrf = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    kr = launch["visits"]
    answer = context.request.post(
        f"{base}/api/v1/key-results/{kr.pk}/checkins",
        data={"value": 4000, "confidence": 7, "note": "newsletter went out"},
        headers={"X-CSRFToken": csrf},
    )
    assert answer.status == 201, answer.text()
    assert CheckIn.objects.filter(key_result=kr, source=CheckIn.Source.API).count() == 1

    expect(cell).to_contain_text("80%", timeout=10_000)
    expect(cell).to_contain_text("On track")
    assert page.evaluate("window.wallMarker") == "still here"
    shoot(page, "wall-desktop")
    context.close()


def test_pages_read_without_javascript(live_server, browser, person, launch):
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    _sign_in(page, base)
    for path in ("/dashboard/", "/dashboard/wall/"):
        page.goto(f"{base}{path}")
        expect(page.get_by_role("heading", name="Units by objectives")).to_be_visible()
        expect(page.get_by_text("Now 0% against a pace of")).to_be_visible()
    context.close()
