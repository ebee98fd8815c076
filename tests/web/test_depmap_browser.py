"""The dependency map in a real browser: see the chain at risk, open an edge, narrow to a unit.

Screenshots of the map and the findings page of the demo organisation, at desktop and phone
widths, land in test-artifacts/screenshots/ (depmap-*, findings-*) for a person to look at.
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from lockstep.demo.loader import DEMO_PASSWORD, DEMO_USERNAME, load_demo
from tests.web import test_dependency_map as map_pages
from tests.web.browser import DESKTOP, PHONE, browser_marks, shoot

# The HTTP tests' data, shared as fixtures.
web = map_pages.web
crowd = map_pages.crowd

pytestmark = browser_marks

BLOCKING = {"serious", "critical"}


def sign_in_as(page: Page, base: str, username: str, password: str) -> None:
    # Where sign-in lands is the home page's business; the tests go to the map themselves.
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def blocking(page: Page, where: str) -> list[str]:
    results = Axe().run(page).response
    return [
        f"{where}: {v['id']} ({v['impact']}): {v['nodes'][0]['target']} — {v['help']}"
        for v in results["violations"]
        if v["impact"] in BLOCKING
    ]


def test_see_the_chain_at_risk_open_an_edge_and_narrow_to_a_unit(
    live_server, browser, person, web, units
):
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in_as(page, base, "ada", "correct-horse-9")
    page.goto(f"{base}/dependencies/map/")
    expect(page.get_by_role("heading", level=1, name="Dependency map")).to_be_visible()

    # The chain Marketing → Product → Support (declined) is marked on its lines and units.
    feature = page.locator("a.edge", has_text="Feature live")
    expect(feature).to_have_class(re.compile(r"\bedge--risk\b"))
    expect(page.locator("a.edge.edge--risk", has_text="Help articles")).to_be_visible()
    expect(page.locator("a.node.node--risk")).to_have_count(4)
    expect(feature.locator("text.edge__risk")).to_have_text("▲ At-risk chain")
    expect(page.get_by_role("group", name="Key")).to_contain_text("On an at-risk chain")

    # A grouped edge lists its dependencies when it has the keyboard's focus.
    group = page.locator("a.edge--group")
    expect(group.locator(".edge__tip")).to_be_hidden()
    group.focus()
    expect(group.locator(".edge__tip")).to_be_visible()
    expect(group.locator(".edge__tip")).to_contain_text("Campaign plan")

    # Clicking an edge opens the dependency it stands for.
    feature.click()
    expect(page).to_have_url(f"{base}/dependencies/{web['feature'].pk}/")
    expect(page.get_by_role("heading", level=1, name="Feature live")).to_be_visible()

    # Clicking a unit narrows the map to what that unit needs and owes.
    page.go_back()
    page.locator("a.node", has_text="Support").click()
    expect(page).to_have_url(f"{base}/dependencies/map/?unit={units['support'].pk}")
    expect(page.locator("#depmap-summary")).to_contain_text("what Support needs and owes")
    expect(page.locator("a.node")).to_have_count(2)
    expect(page.locator("a.node[aria-current='true']")).to_contain_text("Support")
    expect(page.locator("a.edge", has_text="Press kit")).to_have_count(0)
    expect(page.get_by_label("Unit")).to_have_value(str(units["support"].pk))

    # The filter form swaps the map in place (htmx) and keeps the address in step.
    page.evaluate("window.depmapMarker = 'same page'")
    page.get_by_label("Unit").select_option(str(units["acme"].pk))
    page.get_by_label("State").select_option("late")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("a.edge", has_text="Press kit")).to_be_visible()
    expect(page.locator("a.edge", has_text="Feature live")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"state=late"))
    assert page.evaluate("window.depmapMarker") == "same page"

    # The table is the text alternative: a grouped edge's link leads to its pair's rows.
    page.goto(f"{base}/dependencies/map/")
    page.locator("a.edge--group").click()
    pair = page.locator(f"#pair-{units['acme'].pk}-{units['marketing'].pk}")
    expect(pair).to_contain_text("Launch video")
    expect(pair).to_be_in_viewport()
    context.close()


def test_the_map_reads_without_javascript(live_server, browser, person, web, units):
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    sign_in_as(page, base, "ada", "correct-horse-9")
    page.goto(f"{base}/dependencies/map/")
    page.get_by_label("State").select_option("declined")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"state=declined"))
    expect(page.locator("a.edge")).to_have_count(1)
    expect(page.locator("a.edge")).to_contain_text("Help articles")
    context.close()


def test_a_crowded_map_stays_readable(live_server, browser, person, crowd):
    crowd(40)
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in_as(page, base, "ada", "correct-horse-9")
    page.goto(f"{base}/dependencies/map/?state=all")
    labels = page.locator("a.edge text.edge__title")
    assert labels.count() >= 20
    # Every label's text fits inside its box (the boxes are sized before the font is known).
    too_wide = page.evaluate(
        """() => [...document.querySelectorAll('a.edge, a.node')].flatMap(a => {
            const box = a.querySelector('rect').getBBox();
            return [...a.querySelectorAll(':scope > text')]
              .filter(t => t.getBBox().x + t.getBBox().width > box.x + box.width + 0.5
                        || t.getBBox().x < box.x - 0.5)
              .map(t => t.textContent);
        })"""
    )
    assert too_wide == []
    shoot(page, "depmap-crowd-desktop")
    context.close()


@pytest.fixture
def demo(db):
    return load_demo()


def test_demo_map_and_findings_pass_axe_and_are_photographed(live_server, browser, demo):
    base = live_server.url
    problems: list[str] = []
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
        page = context.new_page()
        sign_in_as(page, base, DEMO_USERNAME, DEMO_PASSWORD)
        for name, url in (("depmap", "/dependencies/map/"), ("findings", "/findings/")):
            page.goto(f"{base}{url}")
            expect(page.locator("h1")).to_be_visible()
            problems += blocking(page, f"{url} ({scheme})")
            if scheme == "light":
                shoot(page, f"{name}-desktop")
            else:
                shoot(page, f"{name}-dark-desktop")
        # Keyboard focus on a unit or a line of the map is visible: its box changes outline.
        page.goto(f"{base}/dependencies/map/")
        for link in (page.locator("a.node").first, page.locator("a.edge").first):
            box = link.locator("rect").first
            before = box.evaluate("r => getComputedStyle(r).stroke")
            link.focus()
            page.keyboard.press("Tab")
            page.keyboard.press("Shift+Tab")
            expect(link).to_be_focused()
            after = box.evaluate(
                "r => [getComputedStyle(r).stroke, getComputedStyle(r).strokeWidth]"
            )
            assert after[0] != before and after[1] == "3px", (before, after)
        context.close()
    assert problems == []

    phone = browser.new_context(viewport=PHONE)
    page = phone.new_page()
    sign_in_as(page, base, DEMO_USERNAME, DEMO_PASSWORD)
    for name, url in (("depmap", "/dependencies/map/"), ("findings", "/findings/")):
        page.goto(f"{base}{url}")
        expect(page.locator("h1")).to_be_visible()
        shoot(page, f"{name}-phone")
    # On a phone the map scrolls sideways inside its card; the page itself does not.
    page.goto(f"{base}/dependencies/map/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.close()
