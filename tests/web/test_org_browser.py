"""Browser flow through a real Chromium: an admin adds a person and finds them on the unit page.

Screenshots of the unit page and the people list, at desktop and phone widths, land in
test-artifacts/screenshots/.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from lockstep.org import services as org_services
from lockstep.org.models import Person
from tests.web.browser import DESKTOP, PHONE, browser_marks, shoot

pytestmark = browser_marks

PASSWORD = "tidy-ledger-2041"


def sign_in_as(page: Page, base: str, username: str, password: str) -> None:
    """Sign in through the form; where it lands is the home page's business, not ours."""
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_admin_adds_a_person_who_shows_on_the_unit_page(live_server, browser, org, units, launch):
    user = get_user_model().objects.create_user("margaret", "margaret@example.com", PASSWORD)
    admin = org_services.person_create(
        organisation=org,
        actor=None,
        name="Margaret Hamilton",
        email="margaret@example.com",
        is_org_admin=True,
        memberships=[(units["acme"], "leader")],
    )
    admin.user = user
    admin.save()
    base = live_server.url
    marketing = units["marketing"]

    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in_as(page, base, "margaret", PASSWORD)
    page.goto(f"{base}/manage/people/")
    expect(page.get_by_role("heading", level=1, name="People")).to_be_visible()
    page.get_by_role("link", name="Add a person").click()

    page.get_by_label("Name", exact=True).fill("Grace Hopper")
    page.get_by_label("E-mail").fill("grace@example.com")
    page.get_by_label("Unit 1", exact=True).select_option(label="\u00a0\u00a0Marketing")
    page.get_by_label("Role in unit 1").select_option("leader")
    page.get_by_label("Username").fill("grace")
    # A password Django's validators refuse comes back at its field; nothing is saved.
    page.get_by_label("Initial password").fill("short")
    page.get_by_role("button", name="Add person").click()
    expect(page.locator("#f-password-error")).to_contain_text("too short")
    expect(page.get_by_label("Initial password")).to_be_focused()
    expect(page.get_by_label("Unit 1", exact=True)).to_have_value(str(marketing.pk))
    assert not Person.objects.filter(email="grace@example.com").exists()
    shoot(page, "person-form-desktop")

    page.get_by_label("Initial password").fill("cobol-compiler-1959")
    page.get_by_role("button", name="Add person").click()
    expect(page.get_by_role("status").first).to_contain_text("Added Grace Hopper.")
    expect(page.locator("#people-results")).to_contain_text("Marketing")

    # The search narrows the list in place (htmx), and the address keeps the query.
    page.goto(f"{base}/manage/people/")
    page.evaluate("window.lockstepMarker = 'still here'")
    page.get_by_label("Name, e-mail or username").fill("hopper")
    expect(page.locator("#people-results tbody tr")).to_have_count(1)
    expect(page.locator("#people-results")).to_contain_text("Grace Hopper")
    assert page.evaluate("window.lockstepMarker") == "still here"
    page.get_by_label("Name, e-mail or username").fill("")
    expect(page.locator("#people-results tbody tr")).to_have_count(3)
    shoot(page, "people-desktop")

    page.locator("#people-results").get_by_role("link", name="Marketing").first.click()
    expect(page.get_by_role("heading", level=1, name="Marketing")).to_be_visible()
    people = page.locator("section", has=page.locator("#people-heading"))
    expect(people).to_contain_text("Grace Hopper")
    expect(people).to_contain_text("Leader")
    expect(page.locator("section", has=page.locator("#objectives-heading"))).to_contain_text(
        launch["brand"].title
    )
    shoot(page, "unit-desktop")

    phone = browser.new_context(viewport=PHONE, storage_state=context.storage_state())
    small = phone.new_page()
    small.goto(f"{base}/units/{marketing.pk}/")
    expect(small.get_by_role("heading", level=1, name="Marketing")).to_be_visible()
    shoot(small, "unit-phone")
    small.goto(f"{base}/manage/people/")
    shoot(small, "people-phone")
    phone.close()

    # The new person can sign in with the account the admin gave them.
    fresh = browser.new_context(viewport=DESKTOP)
    theirs = fresh.new_page()
    sign_in_as(theirs, base, "grace", "cobol-compiler-1959")
    expect(theirs.get_by_role("banner")).to_contain_text("Grace Hopper")
    fresh.close()
    context.close()


def test_unit_and_admin_pages_pass_axe_in_light_and_dark(
    live_server, browser, person, units, teams, launch
):
    from axe_playwright_python.sync_playwright import Axe

    base = live_server.url
    product = units["product"]
    pages = [
        f"/units/{product.pk}/",
        f"/units/{teams['checkout'].pk}/",
        "/manage/people/",
        "/manage/people/add/",
        f"/manage/people/{person.pk}/",
        "/manage/units/",
        f"/manage/units/{product.pk}/",
        "/manage/organisation/",
    ]
    axe = Axe()
    problems: list[str] = []
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
        page = context.new_page()
        sign_in_as(page, base, "ada", "correct-horse-9")
        for path in pages:
            response = page.goto(base + path)
            assert response is not None and response.status == 200, path
            page.wait_for_load_state("networkidle")
            problems += blocking(axe.run(page).response, f"{path} ({scheme})")
        # A refused form, with its error summary and invalid fields, passes too.
        page.goto(f"{base}/manage/people/add/")
        page.get_by_role("button", name="Add person").click()
        expect(page.locator("#f-name-error")).to_be_visible()
        problems += blocking(axe.run(page).response, f"refused person form ({scheme})")
        if scheme == "dark":
            shoot(page, "person-form-dark")
            page.goto(f"{base}/units/{product.pk}/")
            shoot(page, "unit-dark")
        context.close()
    assert not problems, "\n".join(problems)


def blocking(results: dict, where: str) -> list[str]:
    return [
        f"{where}: {v['id']} ({v['impact']}) on {v['nodes'][0]['target']} — {v['help']}"
        for v in results["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
