"""Every main page of the demo in a real browser: axe-core, no JavaScript, screenshots.

The demo organisation is loaded once; then each page of `lockstep.demo.tour` is opened in
Chromium in light and dark colour schemes and checked with axe-core (the copy that
axe-playwright-python ships): no serious or critical violation is allowed. The same pages
must read without JavaScript (a heading and no error), and each is photographed at
desktop and phone width into test-artifacts/screenshots/tour-*.png.
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from lockstep.demo.loader import DEMO_PASSWORD, DEMO_USERNAME, load_demo
from lockstep.demo.tour import main_pages
from tests.web.browser import DESKTOP, PHONE, browser_marks, shoot

pytestmark = browser_marks

BLOCKING = {"serious", "critical"}


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(DEMO_USERNAME)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def _blocking(results: dict, where: str) -> list[str]:
    return [
        f"{where}: {v['id']} ({v['impact']}) on {len(v['nodes'])} element(s): "
        f"{v['nodes'][0]['target']} — {v['help']}"
        for v in results["violations"]
        if v["impact"] in BLOCKING
    ]


@pytest.fixture
def demo(db):
    return load_demo()


def test_main_pages_pass_axe_in_light_and_dark(live_server, browser, demo):
    base = live_server.url
    pages = main_pages()
    axe = Axe()
    problems: list[str] = []
    checked = 0
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
        page = context.new_page()
        _sign_in(page, base)
        for label, path in pages:
            response = page.goto(base + path)
            assert response is not None and response.status == 200, f"{label}: {path}"
            page.wait_for_load_state("networkidle")
            problems += _blocking(axe.run(page).response, f"{label} ({scheme})")
            checked += 1
            if scheme == "light":
                shoot(page, f"tour-{_slug(label)}-desktop")
            else:
                shoot(page, f"tour-{_slug(label)}-dark")
        context.close()
    assert checked == 2 * len(pages)
    assert not problems, "\n".join(problems)


def test_main_pages_read_without_javascript_and_on_a_phone(live_server, browser, demo):
    base = live_server.url
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    _sign_in(page, base)
    for label, path in main_pages():
        response = page.goto(base + path)
        assert response is not None and response.status == 200, f"{label}: {path}"
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        # Nothing wider than the phone: the page never scrolls sideways.
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{label} is {overflow}px wider than a phone"
        shoot(page, f"tour-{_slug(label)}-phone")
    context.close()
