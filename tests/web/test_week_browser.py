"""My week and the weekly check-in in a real Chromium: keyboard only, phone width, no JavaScript.

Screenshots land in test-artifacts/screenshots/ as week-* and checkin-*.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import Page, expect

from lockstep.alignment import services as alignment
from lockstep.goals import services as goals
from lockstep.goals.models import CheckIn, KeyResult
from tests.web.browser import DESKTOP, PHONE, browser_marks, shoot, sign_in

pytestmark = browser_marks

# (title, kind, start, target, typed value, the status it gives on the fixture's cycle)
FIVE = [
    ("1 Sign-ups", "increase", 0, 1000, "800", "On track"),
    ("2 Churn", "decrease", 10, 5, "9", "Off track"),
    ("3 Uptime", "at_least", 0, 99.9, "99.95", "Done"),
    # Above its ceiling at the start: a KR already within it would be done, and listed last.
    ("4 Response time", "at_most", 250, 200, "180", "Done"),
    ("5 Releases", "increase", 0, 10, "4", "At risk"),
]


@pytest.fixture
def five(org, units, cycle, person) -> list[KeyResult]:
    o = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Run the product well",
        owner_unit=units["product"],
    )
    return [
        goals.key_result_create(
            objective=o,
            actor=None,
            title=title,
            kind=kind,
            start=start,
            target=target,
            owner_unit=units["product"],
        )
        for title, kind, start, target, _, _ in FIVE
    ]


@pytest.fixture
def busy_week(org, units, cycle, person, five):
    """Something in every part of My week for the screenshots."""
    today = timezone.localdate()
    theirs = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="Tell it", owner_unit=units["marketing"]
    )
    reach = goals.key_result_create(
        objective=theirs,
        actor=None,
        title="Campaign reach",
        kind="increase",
        target=10,
        owner_unit=units["marketing"],
    )
    asked = alignment.dependency_request(
        organisation=org,
        actor=None,
        requester_item=reach,
        provider_unit=units["product"],
        title="Pricing page copy",
        needed_by=cycle.end,
        requested_at=timezone.now() - dt.timedelta(days=3),
    )
    late = alignment.dependency_request(
        organisation=org,
        actor=None,
        requester_item=reach,
        provider_unit=units["product"],
        title="Demo video",
        needed_by=today - dt.timedelta(days=1),
    )
    alignment.dependency_accept(dependency=late, actor=None, provider_item=five[0])
    alignment.dependency_request(
        organisation=org,
        actor=None,
        requester_item=five[4],
        provider_unit=units["marketing"],
        title="Launch e-mail",
        needed_by=cycle.end,
    )
    goals.initiative_create(
        organisation=org,
        actor=None,
        title="Write the release notes",
        owner_unit=units["product"],
        due=today + dt.timedelta(days=2),
    )
    alignment.findings_refresh_full(org)
    return asked


def test_my_week_at_desktop_and_phone(live_server, browser, busy_week):
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base)  # lands on My week
    expect(page.get_by_role("heading", level=2, name="Requests to answer")).to_be_visible()
    expect(page.locator("#answer")).to_contain_text("Pricing page copy")
    expect(page.locator("#owe")).to_contain_text("Late by 1 day")
    expect(page.locator("#ahead")).to_contain_text("Write the release notes")
    shoot(page, "week-desktop")

    page.locator("#answer").get_by_role("link", name="Pricing page copy").click()
    expect(page).to_have_url(f"{base}/dependencies/{busy_week.pk}/")

    phone = browser.new_context(viewport=PHONE, storage_state=context.storage_state())
    small = phone.new_page()
    small.goto(f"{base}/")
    expect(small.get_by_role("heading", level=1, name="My week")).to_be_visible()
    assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(small, "week-phone")
    phone.close()

    dark = browser.new_context(
        viewport=DESKTOP, color_scheme="dark", storage_state=context.storage_state()
    )
    night = dark.new_page()
    night.goto(f"{base}/")
    shoot(night, "week-dark-desktop")
    dark.close()
    context.close()


def test_five_check_ins_with_the_keyboard_only(live_server, browser, person, five):
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base)
    page.goto(f"{base}/check-in/")
    expect(page.get_by_role("heading", level=1, name="Weekly check-in")).to_be_visible()
    shoot(page, "checkin-desktop")
    page.evaluate("window.lockstepMarker = 'no reload'")

    first = page.locator(f"#cw{five[0].pk}-value")
    first.focus()
    started = time.perf_counter()
    for kr, (_, _, _, _, value, status) in zip(five, FIVE, strict=True):
        expect(page.locator(f"#cw{kr.pk}-value")).to_be_focused()
        page.keyboard.type(value)
        # The new progress and status show while typing, before anything is saved.
        expect(page.locator(f"#cw{kr.pk}-preview")).to_contain_text(status)
        page.keyboard.press("Tab")
        expect(page.locator(f"#cw{kr.pk}-confidence")).to_be_focused()
        page.keyboard.type("7")
        page.keyboard.press("Tab")
        expect(page.locator(f"#cw{kr.pk}-note")).to_be_focused()
        page.keyboard.type("Weekly update")
        page.keyboard.press("Enter")
        expect(page.locator(f"#cw-{kr.pk}")).to_contain_text("Saved:")
    elapsed = time.perf_counter() - started
    print(f"\nfive keyboard check-ins took {elapsed:.1f} s")
    assert elapsed < 60

    assert page.evaluate("window.lockstepMarker") == "no reload"
    assert CheckIn.objects.filter(key_result__in=five, source=CheckIn.Source.WEB).count() == 5
    for kr, (_, _, _, _, _, status) in zip(five, FIVE, strict=True):
        expect(page.locator(f"#cw-{kr.pk} .cw-now")).to_contain_text(status)
        assert CheckIn.objects.get(key_result=kr).note == "Weekly update"
    expect(page.locator("#cw-live")).to_contain_text("Check-in saved for 5 Releases")
    shoot(page, "checkin-after-desktop")
    context.close()


def test_a_refused_row_keeps_the_keyboard_on_the_field(live_server, browser, person, five):
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base)
    page.goto(f"{base}/check-in/")
    kr = five[0]
    page.locator(f"#cw{kr.pk}-value").focus()
    page.keyboard.type("lots")
    expect(page.locator(f"#cw{kr.pk}-preview")).to_contain_text("Must be a number")
    page.keyboard.press("Tab")
    page.keyboard.type("5")
    page.keyboard.press("Enter")
    value = page.locator(f"#cw{kr.pk}-value")
    expect(value).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#cw{kr.pk}-value-error")).to_have_text("must be a number")
    expect(value).to_be_focused()
    assert CheckIn.objects.count() == 0
    # Corrected, it saves, and the keyboard moves on to the next key result.
    value.fill("")
    page.keyboard.type("500")
    page.keyboard.press("Enter")
    expect(page.locator(f"#cw-{kr.pk}")).to_contain_text("Saved:")
    expect(page.locator(f"#cw{five[1].pk}-value")).to_be_focused()
    assert CheckIn.objects.count() == 1
    context.close()


def test_milestone_steps_with_the_keyboard(live_server, browser, person, five, units):
    steps = goals.key_result_create(
        objective=five[0].objective,
        actor=None,
        title="0 Feature built",  # listed first
        kind="milestone",
        steps=["Build", "Test", "Ship"],
        owner_unit=units["product"],
    )
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base)
    page.goto(f"{base}/check-in/")
    page.locator(f"#cw{steps.pk}-step-0").focus()
    page.keyboard.press("Space")
    expect(page.locator(f"#cw{steps.pk}-preview")).to_contain_text("33%")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    expect(page.locator(f"#cw{steps.pk}-preview")).to_contain_text("67%")
    page.keyboard.press("Tab")  # past "Ship", to the confidence
    page.keyboard.press("Tab")
    page.keyboard.type("6")
    page.keyboard.press("Shift+Tab")  # back to a step: Enter there saves too
    page.keyboard.press("Enter")
    expect(page.locator(f"#cw-{steps.pk}")).to_contain_text("Saved: 67% done")
    expect(page.locator(f"#cw{five[0].pk}-value")).to_be_focused()
    assert CheckIn.objects.get(key_result=steps).steps_done == [0, 1]
    context.close()


def test_check_in_on_a_phone_stacks_the_row(live_server, browser, person, five):
    base = live_server.url
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    sign_in(page, base)
    page.goto(f"{base}/check-in/")
    kr = five[0]
    value = page.locator(f"#cw{kr.pk}-value").bounding_box()
    note = page.locator(f"#cw{kr.pk}-note").bounding_box()
    title = page.locator(f"#cw{kr.pk}-title").bounding_box()
    assert value and note and title
    assert title["y"] < value["y"] < note["y"]  # stacked, not side by side
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, "checkin-phone")
    page.locator(f"#cw{kr.pk}-value").fill("300")
    page.locator(f"#cw{kr.pk}-confidence").fill("6")
    page.locator(f"#cw{kr.pk}-save").click()
    expect(page.locator(f"#cw-{kr.pk}")).to_contain_text("Saved:")
    context.close()


def test_check_in_without_javascript(live_server, browser, person, five):
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, base)
    page.goto(f"{base}/check-in/")
    kr = five[4]
    page.locator(f"#cw{kr.pk}-value").fill("4")
    page.locator(f"#cw{kr.pk}-confidence").fill("6")
    page.locator(f"#cw{kr.pk}-note").fill("Plain form")
    page.locator(f"#cw{kr.pk}-save").click()
    expect(page).to_have_url(f"{base}/check-in/#cw-{kr.pk}")
    expect(page.get_by_role("status").first).to_contain_text("Check-in saved for “5 Releases”")
    expect(page.locator(f"#cw-{kr.pk} .cw-now")).to_contain_text("At risk")
    assert CheckIn.objects.get(key_result=kr).note == "Plain form"
    context.close()


def _serious(page: Page, where: str) -> list[str]:
    return [
        f"{where}: {v['id']} ({v['impact']}) on {v['nodes'][0]['target']} — {v['help']}"
        for v in Axe().run(page).response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def test_both_pages_pass_axe_in_light_and_dark(live_server, browser, busy_week, five):
    """With every state a row can be in: previewing, refused, saved."""
    base = live_server.url
    problems: list[str] = []
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
        page = context.new_page()
        sign_in(page, base)
        page.wait_for_load_state("networkidle")
        problems += _serious(page, f"My week ({scheme})")
        page.goto(f"{base}/check-in/")
        page.locator(f"#cw{five[0].pk}-value").fill("lots")
        page.locator(f"#cw{five[0].pk}-confidence").fill("5")
        page.locator(f"#cw{five[0].pk}-value").press("Enter")
        expect(page.locator(f"#cw{five[0].pk}-value-error")).to_be_visible()
        # The refused row takes the focus back to its field once htmx settles; typing into
        # the next row before that lets the Enter land in the refused row instead.
        expect(page.locator(f"#cw{five[0].pk}-value")).to_be_focused()
        page.locator(f"#cw{five[1].pk}-value").fill("7")
        page.locator(f"#cw{five[1].pk}-confidence").fill("6")
        # Saved with the row's button here (the keyboard tests above save with Enter).
        page.locator(f"#cw-{five[1].pk} button[type=submit]").click()
        expect(page.locator(f"#cw-{five[1].pk}")).to_contain_text("Saved:")
        # Saved within the preview's delay: the late preview does not cover "Saved".
        page.wait_for_timeout(400)
        expect(page.locator(f"#cw-{five[1].pk}")).to_contain_text("Saved:")
        page.locator(f"#cw{five[2].pk}-value").fill("50")
        expect(page.locator(f"#cw{five[2].pk}-preview")).to_contain_text("If saved")
        problems += _serious(page, f"Weekly check-in ({scheme})")
        if scheme == "dark":
            shoot(page, "checkin-dark-desktop")
        context.close()
    assert not problems, "\n".join(problems)
