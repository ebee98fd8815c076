"""Browser flows through a real Chromium: sign in, find the objective, check in (htmx and no-JS).

Screenshots of the unit tree and the objective page, at desktop and phone widths, land in
test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

from playwright.sync_api import expect

from lockstep.goals.models import CheckIn
from tests.web.browser import DESKTOP, PHONE, browser_marks, shoot, sign_in

pytestmark = browser_marks


def test_sign_in_and_check_in_with_htmx(live_server, browser, person, launch, teams):
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{base}/login/")
    shoot(page, "login-desktop")
    sign_in(page, base)
    page.goto(f"{base}/units/")
    expect(page.get_by_role("banner")).to_contain_text("Ada Lovelace")
    expect(page.get_by_role("banner")).to_contain_text("Acme")
    expect(page.get_by_text("Checkout squad")).to_be_visible()
    shoot(page, "units-desktop")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Objectives").click()
    page.get_by_role("link", name=launch["shared"].title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(launch["shared"].title)
    shoot(page, "objective-desktop")

    kr = launch["visits"]
    row = page.locator(f"#kr-{kr.pk} .kr__row")
    expect(row).to_contain_text("Not started")
    # A full page load would drop this marker; an htmx swap keeps it.
    page.evaluate("window.lockstepMarker = 'still here'")

    # A refused check-in comes back in place, the error tied to its field, which takes focus.
    page.locator(f"#kr{kr.pk}-value").fill("lots")
    page.locator(f"#kr{kr.pk}-confidence").fill("5")
    page.locator(f"#kr{kr.pk}-submit").click()
    value = page.locator(f"#kr{kr.pk}-value")
    expect(value).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#kr{kr.pk}-value-error")).to_have_text("must be a number")
    expect(value).to_be_focused()
    assert CheckIn.objects.filter(key_result=kr).count() == 0

    page.locator(f"#kr{kr.pk}-value").fill("4000")
    page.locator(f"#kr{kr.pk}-confidence").fill("8")
    page.locator(f"#kr{kr.pk}-confidence").press("Enter")
    expect(row).to_contain_text("80%")
    expect(row).to_contain_text("On track")
    expect(page.locator(f"#kr-{kr.pk}")).to_contain_text("Check-in saved")
    assert page.evaluate("window.lockstepMarker") == "still here"
    expect(page.locator("#objective-summary")).not_to_contain_text("Not started")
    assert CheckIn.objects.filter(key_result=kr, source=CheckIn.Source.WEB).count() == 1

    page.reload()
    expect(page.locator(f"#kr-{kr.pk} .kr__row")).to_contain_text("4,000")
    expect(page.locator(f"#kr-{kr.pk} .kr__row")).to_contain_text("confidence 8/10")
    shoot(page, "objective-after-checkin-desktop")

    phone = browser.new_context(viewport=PHONE, storage_state=context.storage_state())
    small = phone.new_page()
    small.goto(f"{base}/units/")
    shoot(small, "units-phone")
    small.goto(f"{base}/objectives/")
    shoot(small, "objectives-phone")
    small.goto(f"{base}/objectives/{launch['shared'].pk}/")
    shoot(small, "objective-phone")
    page.goto(f"{base}/objectives/")
    shoot(page, "objectives-desktop")
    phone.close()

    dark = browser.new_context(
        viewport=DESKTOP, color_scheme="dark", storage_state=context.storage_state()
    )
    night = dark.new_page()
    night.goto(f"{base}/objectives/{launch['shared'].pk}/")
    shoot(night, "objective-dark-desktop")
    dark.close()
    context.close()


def test_check_in_without_javascript(live_server, browser, person, launch):
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, base)
    page.goto(f"{base}/objectives/{launch['shared'].pk}/")

    kr = launch["tested"]
    page.get_by_role("checkbox", name="Build", exact=True).check()
    page.get_by_role("checkbox", name="Test", exact=True).check()
    page.locator(f"#kr{kr.pk}-confidence").fill("6")
    page.locator(f"#kr{kr.pk}-note").fill("Testing took a day longer")
    page.locator(f"#kr{kr.pk}-submit").click()

    expect(page).to_have_url(f"{base}/objectives/{launch['shared'].pk}/#kr-{kr.pk}")
    expect(page.get_by_role("status").first).to_contain_text("Check-in saved")
    row = page.locator(f"#kr-{kr.pk} .kr__row")
    expect(row).to_contain_text("2 of 3 steps done")
    expect(row).to_contain_text("67%")
    expect(page.locator(f"#kr-{kr.pk}")).to_contain_text("Testing took a day longer")
    assert list(CheckIn.objects.filter(key_result=kr).values_list("steps_done", flat=True)) == [
        [0, 1]
    ]
    context.close()
