"""The issue's end-to-end flow in Chromium: check in on two KRs, see it on the objective and dashboard.

Sign in, check in on two key results on the weekly check-in page with the keyboard, then
open the objective page and the shared dashboard: both must show the new progress, the
same numbers the database now stores. (Answering a dependency request clears its finding:
tests/web/test_alignment_browser.py; the wall refreshing after an API check-in:
tests/web/test_dashboard_browser.py.)
"""

from __future__ import annotations

from playwright.sync_api import expect

from lockstep.goals import services as goals
from lockstep.goals.models import CheckIn, KeyResult, Objective
from tests.web.browser import DESKTOP, browser_marks, shoot, sign_in

pytestmark = browser_marks


def pct(x: float) -> str:
    return f"{round(x * 100)}%"


def test_check_in_twice_then_objective_and_dashboard_show_it(
    live_server, browser, person, units, launch, teams
):
    shared = launch["shared"]
    beta = goals.key_result_create(
        objective=shared,
        actor=None,
        title="Beta sign-ups",
        kind="increase",
        start=0,
        target=200,
        owner_unit=units["product"],
    )
    bugs = goals.key_result_create(
        objective=shared,
        actor=None,
        title="Launch bugs fixed",
        kind="increase",
        start=0,
        target=50,
        owner_unit=units["product"],
    )
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base)

    page.goto(f"{base}/dashboard/")
    cell = page.locator(f"#cell-{units['product'].pk}-{shared.pk}")
    expect(cell).to_contain_text("0%")

    page.goto(f"{base}/check-in/")
    for kr, value in ((beta, "160"), (bugs, "25")):
        page.locator(f"#cw{kr.pk}-value").fill(value)
        page.locator(f"#cw{kr.pk}-confidence").fill("8")
        page.locator(f"#cw{kr.pk}-note").fill("Friday numbers")
        page.locator(f"#cw{kr.pk}-note").press("Enter")
        expect(page.locator(f"#cw-{kr.pk}")).to_contain_text("Saved:")
    assert CheckIn.objects.filter(key_result__in=[beta, bugs]).count() == 2
    beta.refresh_from_db()
    bugs.refresh_from_db()
    assert (beta.progress, bugs.progress) == (0.8, 0.5)
    objective = Objective.objects.get(pk=shared.pk)
    assert objective.progress and objective.progress > 0

    page.goto(f"{base}/objectives/{shared.pk}/")
    expect(page.locator(f"#kr-{beta.pk}")).to_contain_text("80%")
    expect(page.locator(f"#kr-{bugs.pk}")).to_contain_text("50%")
    expect(page.locator("#objective-summary")).to_contain_text(pct(objective.progress))
    shoot(page, "flow-objective-desktop")

    page.goto(f"{base}/dashboard/")
    # Product's cell: the mean of the three KRs it owns there (the milestone is still at 0).
    owned = KeyResult.objects.filter(objective=shared, owner_unit=units["product"])
    expected = sum(k.progress or 0 for k in owned) / owned.count()
    expect(cell).to_contain_text(pct(expected))
    expect(page.locator(f"th:has-text('{shared.title[:20]}')")).to_contain_text(
        pct(objective.progress)
    )
    shoot(page, "flow-dashboard-desktop")
    context.close()
