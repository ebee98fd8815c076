"""Browser flow through the alignment map to an objective's history chart.

Screenshots of the map and the objective page, at desktop and phone widths, land in
test-artifacts/screenshots/ (map-*, objective-*) for a person to look at; axe-core checks
both pages in light and dark with no serious or critical violation.
"""

from __future__ import annotations

import datetime as dt

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from lockstep.goals import services as goals
from tests.web.browser import DESKTOP, PHONE, browser_marks, shoot

pytestmark = browser_marks


def sign_in(page: Page, base: str) -> None:
    # Where sign-in lands is changing (the home page becomes "My week"); wait for the
    # signed-in header instead of a URL.
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("correct-horse-9")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{page.url} is {overflow}px wider than the window"


def axe_problems(page: Page, where: str) -> list[str]:
    results = Axe().run(page).response
    return [
        f"{where}: {v['id']} ({v['impact']}) {v['nodes'][0]['target']} — {v['help']}"
        for v in results["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


@pytest.fixture
def history(launch, cycle):
    """A few check-ins on the visits KR, so its chart has a line and a forecast."""
    start = dt.datetime.combine(cycle.start, dt.time(9), tzinfo=dt.UTC)
    for day, value in ((1, 400), (3, 1100), (6, 2100)):
        goals.checkin_record(
            key_result=launch["visits"],
            actor=None,
            value=value,
            confidence=6,
            at=start + dt.timedelta(days=day),
        )
    return launch


def test_map_collapse_filter_search_and_through_to_the_chart(
    live_server, browser, person, teams, history
):
    launch = history
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base)
    page.goto(f"{base}/map/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Alignment map")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Map", exact=True)
    ).to_have_attribute("aria-current", "page")
    shoot(page, "map-desktop")

    # Collapse the company objective's part, then open it again: its children hide and show.
    company = page.locator(f"#map-o{launch['company'].pk}")
    shared_link = page.get_by_role("link", name=launch["shared"].title, exact=True)
    expect(shared_link).to_be_visible()
    toggle = company.locator("> details > summary")
    toggle.click()
    expect(company.locator("> details")).not_to_have_attribute("open", "")
    expect(shared_link).to_be_hidden()
    toggle.focus()
    page.keyboard.press("Enter")  # the keyboard works as well as the mouse
    expect(shared_link).to_be_visible()

    # Filter by a unit: Marketing's objectives and the path up from them.
    page.get_by_label("Unit").select_option(value=str(launch["brand"].owner_unit_id))
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"{base}/map/?cycle=&unit={launch['brand'].owner_unit_id}&q=")
    expect(page.get_by_role("link", name="Refresh the brand", exact=True)).to_be_visible()
    expect(company).to_contain_text("shown for context")

    # Search from a fresh map: the match is marked and the way to it opened.
    page.goto(f"{base}/map/")
    page.get_by_label("Search titles and keys").fill("visits")
    page.get_by_label("Search titles and keys").press("Enter")
    expect(page.get_by_role("heading", name="1 match for “visits”")).to_be_visible()
    kr_line = page.locator(f"#map-o{launch['shared'].pk}-kr{launch['visits'].pk}")
    expect(kr_line).to_be_visible()
    expect(kr_line.locator("mark")).to_have_text("visits")
    shoot(page, "map-search-desktop")
    problems = axe_problems(page, "map (light)")

    # Through to the objective page, where the KR's chart shows its history.
    page.get_by_role("link", name=launch["shared"].title, exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(launch["shared"].title)
    chart = page.locator(f"#kr-{launch['visits'].pk} svg.chart")
    expect(chart).to_be_visible()
    expect(chart.locator("circle.chart__dot--actual")).to_have_count(3)
    expect(chart.locator("polyline.chart__line--pace")).to_have_count(1)
    expect(chart.locator("polyline.chart__line--forecast")).to_have_count(1)
    page.locator(f"#kr-{launch['visits'].pk}").get_by_text("The numbers").click()
    expect(page.locator(f"#kr-{launch['visits'].pk} .kr-chart__list")).to_contain_text(
        "2,100 visits"
    )
    expect(page.get_by_role("heading", name="Dependencies")).to_be_visible()
    expect(page.get_by_role("heading", name="Findings")).to_be_visible()
    shoot(page, "objective-desktop")
    problems += axe_problems(page, "objective (light)")

    dark = browser.new_context(
        viewport=DESKTOP, color_scheme="dark", storage_state=context.storage_state()
    )
    night = dark.new_page()
    night.goto(f"{base}/map/?q=visits")
    shoot(night, "map-dark-desktop")
    problems += axe_problems(night, "map (dark)")
    night.goto(f"{base}/objectives/{launch['shared'].pk}/")
    shoot(night, "objective-chart-dark-desktop")
    problems += axe_problems(night, "objective (dark)")
    dark.close()
    assert not problems, "\n".join(problems)

    phone = browser.new_context(viewport=PHONE, storage_state=context.storage_state())
    small = phone.new_page()
    small.goto(f"{base}/map/")
    no_sideways_scroll(small)
    shoot(small, "map-phone")
    small.goto(f"{base}/objectives/{launch['shared'].pk}/")
    expect(small.locator(f"#kr-{launch['visits'].pk} svg.chart")).to_be_visible()
    no_sideways_scroll(small)
    shoot(small, "objective-phone")
    phone.close()
    context.close()


def test_the_map_reads_without_javascript(live_server, browser, person, launch):
    base = live_server.url
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, base)
    page.goto(f"{base}/map/?q=visits")
    expect(page.get_by_role("heading", level=1)).to_have_text("Alignment map")
    # Native disclosure: the way to the match is open, and a closed part opens on click.
    expect(page.locator(f"#map-o{launch['shared'].pk}-kr{launch['visits'].pk}")).to_be_visible()
    brand = page.locator(f"#map-o{launch['brand'].pk}")
    guide = page.get_by_role("link", name="Brand guide published")
    expect(guide).to_be_hidden()
    brand.locator("> details > summary").click()
    expect(guide).to_be_visible()
    no_sideways_scroll(page)
    context.close()
