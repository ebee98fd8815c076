"""HTTP-level tests of the alignment pages: findings, dependencies, reviews, asks and offers."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from lockstep.activity.models import ActivityEvent
from lockstep.alignment import services
from lockstep.alignment.models import AskOffer, Dependency, Finding, Review, ReviewNote
from lockstep.goals import services as goals
from lockstep.goals.models import Objective
from lockstep.org import services as org_services

HTMX = {"HTTP_HX_REQUEST": "true"}
S = Dependency.State


def text(response) -> str:
    return response.content.decode()


def verbs(dep: Dependency) -> list[str]:
    return list(
        ActivityEvent.objects.filter(object_type="dependency", object_id=dep.pk)
        .order_by("id")
        .values_list("verb", flat=True)
    )


def act(dep: Dependency, action: str) -> str:
    return f"/dependencies/{dep.pk}/{action}/"


def signed_in(org, units, name: str, unit: str, role: str) -> tuple:
    """A person (not an org admin) with one membership, and a client signed in as them."""
    slug = name.lower().replace(" ", "-")
    user = get_user_model().objects.create_user(slug, f"{slug}@example.com", "pw-long-enough")
    p = org_services.person_create(
        organisation=org,
        actor=None,
        name=name,
        email=f"{slug}@example.com",
        memberships=[(units[unit], role)],
    )
    p.user = user
    p.save()
    c = Client()
    c.force_login(user)
    return p, c


@pytest.fixture
def member(org, units):
    """Pat works in Product but does not lead it."""
    return signed_in(org, units, "Pat Member", "product", "member")


@pytest.fixture
def marketer(org, units):
    """Mia leads Marketing, the unit that asks Product for things."""
    return signed_in(org, units, "Mia Marketing", "marketing", "leader")


@pytest.fixture
def plan(org, units, cycle):
    """Marketing's visits KR needs the feature from Product, whose build KR can deliver it."""
    launch = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Launch X",
        level="shared",
        contributors=[units["product"], units["marketing"]],
    )
    visits = goals.key_result_create(
        objective=launch,
        actor=None,
        title="Visits",
        kind="increase",
        target=5000,
        owner_unit=units["marketing"],
    )
    build = goals.key_result_create(
        objective=launch,
        actor=None,
        title="Feature built",
        kind="milestone",
        owner_unit=units["product"],
    )
    return {"objective": launch, "visits": visits, "build": build}


def ask(org, plan, units, cycle, *, title="Feature live", days_ago=0, provider="product"):
    return services.dependency_request(
        organisation=org,
        actor=None,
        requester_item=plan["visits"],
        provider_unit=units[provider],
        title=title,
        needed_by=cycle.end,
        requested_at=timezone.now() - dt.timedelta(days=days_ago),
    )


@pytest.fixture
def requested(org, plan, units, cycle) -> Dependency:
    return ask(org, plan, units, cycle)


# ---- sign-in --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/findings/", "/dependencies/", "/dependencies/1/", "/reviews/", "/asks-offers/"]
)
def test_pages_require_sign_in(url):
    r = Client().get(url)
    assert r.status_code == 302 and r.url.startswith("/login/?next=")


def test_steps_require_sign_in(requested):
    r = Client().post(act(requested, "accept"), {})
    assert r.status_code == 302 and r.url.startswith("/login/")
    r = Client().post("/findings/refresh/")
    assert r.status_code == 302 and r.url.startswith("/login/")
    requested.refresh_from_db()
    assert requested.state == S.REQUESTED


def test_every_page_renders_with_its_navigation(client_in, requested):
    for url, heading, section in [
        ("/findings/", "Findings", "Findings"),
        ("/dependencies/", "Dependencies", "Dependencies"),
        (f"/dependencies/{requested.pk}/", "Feature live", "Dependencies"),
        ("/reviews/", "Reviews", "Reviews"),
        ("/asks-offers/", "Asks &amp; offers", "Asks &amp; offers"),
    ]:
        r = client_in.get(url)
        assert r.status_code == 200, url
        html = text(r)
        assert f"<h1>{heading}</h1>" in html, url
        current = re.search(r'<a href="[^"]*" aria-current="page">([^<]*)', html)
        assert current and current.group(1) == section, url
        for name in ("Findings", "Dependencies", "Reviews", "Asks &amp; offers"):
            assert f">{name}" in html


def test_other_pages_fetch_the_error_badge_after_load(client_in, org, units, cycle):
    html = text(client_in.get("/units/"))
    assert 'hx-get="/findings/badge/"' in html
    goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Win",
        level="company",
        owner_unit=units["acme"],
    )
    services.findings_refresh_full(org)
    r = client_in.get("/findings/badge/")
    assert r.status_code == 200
    assert "nav-badge" in text(r) and ", 1 error<" in text(r)


# ---- findings -------------------------------------------------------------------------


@pytest.fixture
def found(org, units, cycle, plan, person):
    """An error (a company objective nothing covers), a warning on a dependency, and more."""
    goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Win",
        level="company",
        owner_unit=units["acme"],
    )
    dep = ask(org, plan, units, cycle, days_ago=10)
    services.findings_refresh_full(org)
    return dep


def test_findings_page_shows_severity_evidence_suggestion_units_and_links(client_in, found, plan):
    r = client_in.get("/findings/")
    html = text(r)
    assert r.status_code == 200
    # Most severe first; each severity written as a word (the shape is decoration).
    error_at = html.index("UNCOVERED_COMPANY_OBJECTIVE</code>")
    warning_at = html.index("DEPENDENCY_UNANSWERED</code>")
    assert error_at < warning_at
    assert '<span class="severity__shape" aria-hidden="true">✖</span>Error' in html
    assert '<span class="severity__shape" aria-hidden="true">▲</span>Warning' in html
    unanswered = Finding.objects.get(code="DEPENDENCY_UNANSWERED")
    card = html[html.index(f'id="finding-{unanswered.pk}"') :]
    card = card[: card.index("</li>\n    \n")] if "</li>\n    \n" in card else card[:4000]
    assert unanswered.title.replace("'", "&#x27;") in card
    for line in unanswered.explanation:
        assert line.replace("'", "&#x27;") in html
    assert unanswered.suggestion in html
    assert "Marketing, Product" in card
    # The dependency links to its page, the KR to its row on the objective page.
    assert f'href="/dependencies/{found.pk}/"' in card
    assert f'href="/objectives/{plan["objective"].pk}/#kr-{plan["visits"].pk}"' in card
    # Counts per severity at the top, and the error count in the navigation.
    errors = Finding.objects.filter(severity="error").count()
    assert re.search(rf'counts__n">{errors}</span>\s*<span class="severity severity--error"', html)
    assert f", {errors} error{'s' if errors != 1 else ''}<" in html


def test_objective_pages_have_the_kr_anchors_findings_link_to(client_in, plan):
    # The findings page links a KR as /objectives/<id>/#kr-<id>; the anchor must exist there.
    html = text(client_in.get(f"/objectives/{plan['objective'].pk}/"))
    assert f'id="kr-{plan["visits"].pk}"' in html


def test_findings_filter_by_severity_code_and_unit(client_in, found, units):
    html = text(client_in.get("/findings/?severity=warning"))
    assert "DEPENDENCY_UNANSWERED" in html and "UNCOVERED_COMPANY_OBJECTIVE</code>" not in html
    html = text(client_in.get("/findings/?code=UNCOVERED_COMPANY_OBJECTIVE"))
    assert (
        "UNCOVERED_COMPANY_OBJECTIVE</code>" in html and "DEPENDENCY_UNANSWERED</code>" not in html
    )
    html = text(client_in.get(f"/findings/?unit={units['support'].pk}"))
    assert "No finding matches" in html
    html = text(client_in.get(f"/findings/?unit={units['marketing'].pk}&severity=warning"))
    assert "DEPENDENCY_UNANSWERED</code>" in html
    # Unknown filter values are ignored rather than failing.
    assert client_in.get("/findings/?severity=bogus&code=NOPE&unit=x").status_code == 200


def test_recompute_now_refreshes_and_redirects_with_a_message(client_in, org, found):
    Finding.objects.all().delete()
    r = client_in.post("/findings/refresh/", {"severity": "warning"})
    assert r.status_code == 302 and r.url == "/findings/?severity=warning"
    assert Finding.objects.filter(code="DEPENDENCY_UNANSWERED").exists()
    html = text(client_in.get(r.url))
    assert "Findings recomputed:" in html
    assert client_in.get("/findings/refresh/").status_code == 405


def test_findings_page_without_findings_says_so(client_in, org):
    assert "No findings: nothing the engine checks is wrong" in text(client_in.get("/findings/"))


# ---- dependencies: the board -----------------------------------------------------------


def section(html: str, heading_id: str) -> str:
    """The HTML of one part of the board, from its heading to the next part."""
    start = html.index(f'id="{heading_id}"')
    end = html.find('<section class="section"', start)
    return html[start : end if end != -1 else None]


def test_board_sorts_dependencies_into_their_parts(client_in, org, plan, units, cycle, marketer):
    waiting = ask(org, plan, units, cycle, title="Waiting one")
    owed = services.dependency_request(
        organisation=org,
        actor=None,
        requester_item=plan["build"],
        provider_unit=units["marketing"],
        title="Launch copy",
        needed_by=cycle.end,
    )
    owes = ask(org, plan, units, cycle, title="Accepted one")
    services.dependency_accept(dependency=owes, actor=None)
    closed = ask(org, plan, units, cycle, title="Declined one")
    services.dependency_decline(dependency=closed, actor=None, reason="No time")
    html = text(client_in.get("/dependencies/"))
    assert f'id="dep-waiting-{waiting.pk}"' in section(html, "h-waiting")
    assert f'id="dep-owed-{owed.pk}"' in section(html, "h-owed")
    assert f'id="dep-owes-{owes.pk}"' in section(html, "h-owes")
    history = section(html, "h-history")
    assert f'id="dep-history-{closed.pk}"' in history and "No time" in history
    # Each row names both sides, the date, and its state in words.
    row = section(html, "h-waiting")
    assert "Marketing" in row and "Product" in row and "Visits" in row
    assert cycle.end.strftime("%Y-%m-%d") in row
    assert "Requested</span>" in row
    # Mia of Marketing sees the same request from the other side.
    _, mia = marketer
    html = text(mia.get("/dependencies/"))
    assert f'id="dep-owed-{waiting.pk}"' in section(html, "h-owed")
    assert f'id="dep-waiting-{owed.pk}"' in section(html, "h-waiting")


def test_board_rows_show_findings_about_the_dependency(client_in, org, found):
    html = text(client_in.get("/dependencies/"))
    row = section(html, "h-waiting")
    unanswered = Finding.objects.get(code="DEPENDENCY_UNANSWERED")
    assert f"#finding-{unanswered.pk}" in row and "Warning" in row


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_accept_naming_the_delivering_kr(client_in, requested, plan, htmx):
    r = client_in.post(
        act(requested, "accept"),
        {"provider_kr": str(plan["build"].pk), "unit": ""},
        **(HTMX if htmx else {}),
    )
    requested.refresh_from_db()
    assert requested.state == S.ACCEPTED and requested.provider_kr == plan["build"]
    assert verbs(requested) == ["dependency.requested", "dependency.accepted"]
    if htmx:
        assert r.status_code == 200
        html = text(r)
        assert html.startswith('<div id="dependency-board"')
        assert "Accepted “Feature live” for Marketing" in html
        assert f'id="dep-owes-{requested.pk}"' in section(html, "h-owes")
    else:
        assert r.status_code == 302 and r.url == "/dependencies/"
        html = text(client_in.get(r.url))
        assert "Accepted “Feature live” for Marketing, delivered through “Feature built”." in html


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_decline_with_a_reason(client_in, requested, htmx):
    r = client_in.post(
        act(requested, "decline"), {"reason": "No capacity this sprint"}, **(HTMX if htmx else {})
    )
    assert r.status_code == (200 if htmx else 302)
    requested.refresh_from_db()
    assert requested.state == S.DECLINED and requested.reason == "No capacity this sprint"
    assert verbs(requested)[-1] == "dependency.declined"


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_decline_without_a_reason_is_refused_at_the_field(client_in, requested, htmx, unchanged):
    with unchanged():
        r = client_in.post(act(requested, "decline"), {"reason": "   "}, **(HTMX if htmx else {}))
    assert r.status_code == 422
    html = text(r)
    error_id = f"d{requested.pk}-waiting-decline-reason-error"
    assert f'<p class="field__error" id="{error_id}">say why the request is declined</p>' in html
    assert re.search(
        rf'id="d{requested.pk}-waiting-decline-reason"[^>]*aria-describedby="[^"]*{error_id}"'
        r'[^>]*aria-invalid="true"',
        html,
    )
    assert re.search(r'<details class="dep-more" open>\s*<summary>Decline', html)
    if htmx:
        assert html.startswith('<div id="dependency-board"')
    else:
        assert "<h1>Dependencies</h1>" in html
    requested.refresh_from_db()
    assert requested.state == S.REQUESTED


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_counter_then_the_requester_takes_the_new_date(client_in, requested, cycle, marketer, htmx):
    later = cycle.end - dt.timedelta(days=1)
    r = client_in.post(
        act(requested, "counter"),
        {"counter_date": later.isoformat(), "reason": "Testing takes a day"},
        **(HTMX if htmx else {}),
    )
    assert r.status_code == (200 if htmx else 302)
    requested.refresh_from_db()
    assert requested.state == S.COUNTERED and requested.counter_date == later
    assert verbs(requested)[-1] == "dependency.countered"
    if htmx:
        assert "Waiting for Marketing to take the new date" in section(text(r), "h-owes")

    _, mia = marketer
    html = text(mia.get("/dependencies/"))
    counters = section(html, "h-counters")
    assert f'id="dep-counters-{requested.pk}"' in counters and "Testing takes a day" in counters
    r = mia.post(act(requested, "counter-answer"), {"accept": "1"}, **(HTMX if htmx else {}))
    assert r.status_code == (200 if htmx else 302)
    requested.refresh_from_db()
    assert requested.state == S.ACCEPTED and requested.needed_by == later
    assert verbs(requested)[-1] == "dependency.counter_accepted"


def test_counter_needs_a_date(client_in, requested, unchanged):
    with unchanged():
        r = client_in.post(act(requested, "counter"), {"counter_date": "next week"}, **HTMX)
    assert r.status_code == 422
    assert f'id="d{requested.pk}-waiting-counter-date-error">enter a date as YYYY-MM-DD<' in text(r)


def test_rejecting_a_counter_asks_again(client_in, requested, cycle, marketer):
    services.dependency_counter(
        dependency=requested, actor=None, counter_date=cycle.end - dt.timedelta(days=2)
    )
    _, mia = marketer
    r = mia.post(act(requested, "counter-answer"), {"accept": "0"})
    assert r.status_code == 302
    requested.refresh_from_db()
    assert requested.state == S.REQUESTED and requested.needed_by == cycle.end


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_deliver_and_miss(client_in, org, plan, units, cycle, requested, htmx):
    services.dependency_accept(dependency=requested, actor=None)
    r = client_in.post(act(requested, "deliver"), {}, **(HTMX if htmx else {}))
    assert r.status_code == (200 if htmx else 302)
    requested.refresh_from_db()
    assert requested.state == S.DELIVERED and requested.closed_at is not None
    assert verbs(requested)[-1] == "dependency.delivered"

    other = ask(org, plan, units, cycle, title="Second thing")
    services.dependency_accept(dependency=other, actor=None)
    client_in.post(act(other, "miss"), {"reason": "Outage"}, **(HTMX if htmx else {}))
    other.refresh_from_db()
    assert other.state == S.MISSED and other.reason == "Outage"


def test_the_requester_withdraws(requested, marketer):
    _, mia = marketer
    html = text(mia.get("/dependencies/"))
    assert f'action="{act(requested, "cancel")}"' in section(html, "h-owed")
    r = mia.post(act(requested, "cancel"), {})
    assert r.status_code == 302
    requested.refresh_from_db()
    assert requested.state == S.CANCELLED


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_member_who_does_not_lead_the_provider_cannot_answer(member, requested, htmx, unchanged):
    _, pat = member
    html = text(pat.get("/dependencies/"))
    waiting = section(html, "h-waiting")
    assert f'id="dep-waiting-{requested.pk}"' in waiting
    assert "Waiting for a leader of Product to answer." in waiting
    assert f'action="{act(requested, "accept")}"' not in waiting
    with unchanged():
        r = pat.post(act(requested, "accept"), {}, **(HTMX if htmx else {}))
    # htmx only swaps 2xx and 422 answers (base.html), so a refusal comes to it as a 422.
    assert r.status_code == (422 if htmx else 403)
    html = text(r)
    assert 'role="alert"' in html
    assert "only leaders of Product may answer requests addressed to it" in html
    requested.refresh_from_db()
    assert requested.state == S.REQUESTED and requested.answered_by is None


def test_a_step_the_state_does_not_allow_is_a_conflict(client_in, requested, unchanged):
    with unchanged():
        r = client_in.post(act(requested, "deliver"), {})
    assert r.status_code == 409
    assert "the dependency is requested; this step needs it accepted" in text(r)


def test_an_unknown_step_is_not_found(client_in, requested):
    assert client_in.post(act(requested, "approve"), {}).status_code == 404
    assert client_in.get(act(requested, "accept")).status_code == 405


def test_another_organisations_dependency_is_not_found(client_in, requested, unchanged):
    globex = org_services.organisation_create(slug="globex", name="Globex")
    sales = org_services.unit_create(
        organisation=globex, actor=None, name="Sales", kind="department"
    )
    ops = org_services.unit_create(organisation=globex, actor=None, name="Ops", kind="department")
    today = dt.date.today()
    quarter = goals.cycle_create(
        organisation=globex,
        actor=None,
        name="Q",
        kind="quarter",
        start=today - dt.timedelta(days=5),
        end=today + dt.timedelta(days=60),
    )
    objective = goals.objective_create(
        organisation=globex, actor=None, cycle=quarter, title="Secret plan", owner_unit=sales
    )
    kr = goals.key_result_create(
        objective=objective,
        actor=None,
        title="Secret KR",
        kind="increase",
        target=9,
        owner_unit=sales,
    )
    theirs = services.dependency_request(
        organisation=globex,
        actor=None,
        requester_item=kr,
        provider_unit=ops,
        title="Secret favour",
        needed_by=today,
    )
    r = client_in.get(f"/dependencies/{theirs.pk}/")
    assert r.status_code == 404 and "Secret favour" not in text(r)
    with unchanged():
        for action in ("accept", "decline", "deliver", "cancel"):
            r = client_in.post(act(theirs, action), {"reason": "x"}, **HTMX)
            assert r.status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == S.REQUESTED
    assert "Secret favour" not in text(client_in.get("/dependencies/?unit=all"))


# ---- dependencies: requesting, the detail page, the unit picker --------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_request_a_dependency(client_in, plan, units, cycle, htmx):
    r = client_in.post(
        "/dependencies/request/",
        {
            "requester_kr": str(plan["build"].pk),
            "provider_unit": str(units["support"].pk),
            "title": "Help articles",
            "needed_by": cycle.end.isoformat(),
            "effort": "6",
            "unit": "",
        },
        **(HTMX if htmx else {}),
    )
    assert r.status_code == (200 if htmx else 302)
    dep = Dependency.objects.get(title="Help articles")
    assert dep.requester_unit == units["product"] and dep.provider_unit == units["support"]
    assert dep.requester_kr == plan["build"] and dep.effort == 6 and dep.state == S.REQUESTED
    assert verbs(dep) == ["dependency.requested"]
    html = text(r) if htmx else text(client_in.get(r.url))
    assert "Asked Support for “Help articles”" in html
    assert f'id="dep-owed-{dep.pk}"' in section(html, "h-owed")


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_request_with_missing_fields_names_each_one(client_in, plan, htmx, unchanged):
    with unchanged():
        r = client_in.post(
            "/dependencies/request/",
            {"requester_kr": str(plan["build"].pk), "title": "  ", "needed_by": "soon"},
            **(HTMX if htmx else {}),
        )
    assert r.status_code == 422
    html = text(r)
    for name, message in [
        ("provider_unit", "choose one from the list"),
        ("title", "say what you need"),
        ("needed_by", "enter a date as YYYY-MM-DD"),
    ]:
        assert f'<p class="field__error" id="request-{name}-error">{message}</p>' in html
        assert re.search(
            rf'id="request-{name}"[^>]*aria-describedby="[^"]*request-{name}-error"', html
        )
    # What was chosen comes back.
    assert f'<option value="{plan["build"].pk}" selected>' in html


def test_a_request_outside_the_cycle_is_refused_at_the_date(client_in, plan, units, cycle):
    r = client_in.post(
        "/dependencies/request/",
        {
            "requester_kr": str(plan["build"].pk),
            "provider_unit": str(units["support"].pk),
            "title": "Too late",
            "needed_by": (cycle.end + dt.timedelta(days=30)).isoformat(),
        },
    )
    assert r.status_code == 422
    assert re.search(r'id="request-needed_by-error">must lie inside the cycle', text(r))
    assert not Dependency.objects.filter(title="Too late").exists()


def test_request_for_another_units_kr_is_not_allowed(member, plan, units, cycle, unchanged):
    _, pat = member
    with unchanged():
        r = pat.post(
            "/dependencies/request/",
            {
                "requester_kr": str(plan["visits"].pk),  # Marketing's
                "provider_unit": str(units["support"].pk),
                "title": "Not ours to ask",
                "needed_by": cycle.end.isoformat(),
            },
        )
    assert r.status_code == 403
    assert "Only people of Marketing may ask on its behalf" in text(r)


def test_detail_page_shows_the_dependency_its_findings_and_activity(client_in, found, plan):
    services.dependency_counter(
        dependency=found,
        actor=None,
        counter_date=found.needed_by - dt.timedelta(days=1),
        reason="QA",
    )
    r = client_in.get(f"/dependencies/{found.pk}/")
    html = text(r)
    assert r.status_code == 200
    assert "<h1>Feature live</h1>" in html and "New date offered</span>" in html
    assert f'href="/objectives/{plan["objective"].pk}/#kr-{plan["visits"].pk}"' in html
    assert "DEPENDENCY_UNANSWERED" in html or "has not settled" in html
    activity = html[html.index('id="activity-heading"') :]
    assert "offered another date: new date" in activity and "“QA”" in activity
    assert "asked for it" in activity


def test_a_step_from_the_detail_page_returns_there(client_in, requested):
    r = client_in.post(act(requested, "accept"), {"next": "detail"})
    assert r.status_code == 302 and r.url == f"/dependencies/{requested.pk}/"
    html = text(client_in.get(r.url))
    assert "Accepted “Feature live”" in html and "accepted it" in html


def test_a_refused_step_on_the_detail_page_stays_there(client_in, requested, unchanged):
    with unchanged():
        r = client_in.post(act(requested, "decline"), {"next": "detail", "reason": ""})
    assert r.status_code == 422
    html = text(r)
    assert "<h1>Feature live</h1>" in html
    assert f'id="d{requested.pk}-detail-decline-reason-error"' in html


def test_admins_pick_any_unit_others_only_their_own(client_in, member, org, plan, units, cycle):
    to_support = ask(org, plan, units, cycle, title="Docs review", provider="support")
    html = text(client_in.get(f"/dependencies/?unit={units['support'].pk}"))
    assert f'id="dep-waiting-{to_support.pk}"' in section(html, "h-waiting")
    html = text(client_in.get("/dependencies/?unit=all"))
    assert f'id="dep-waiting-{to_support.pk}"' in section(html, "h-waiting")
    _, pat = member
    html = text(pat.get(f"/dependencies/?unit={units['support'].pk}"))
    assert "Docs review" not in html  # falls back to Pat's own unit
    assert 'id="filter-unit"' not in html  # one unit: nothing to pick


# ---- query counts ---------------------------------------------------------------------


@pytest.fixture
def busy(org, units, cycle, person):
    """Several objectives, KRs and dependencies in every state, and the findings they cause."""

    def build(n: int) -> None:
        for i in range(n):
            o = goals.objective_create(
                organisation=org,
                actor=None,
                cycle=cycle,
                title=f"Goal {i}",
                owner_unit=units["marketing"],
            )
            krs = [
                goals.key_result_create(
                    objective=o,
                    actor=None,
                    title=f"KR {i}.{j}",
                    kind="increase",
                    target=10,
                    owner_unit=units["marketing"] if j else units["product"],
                )
                for j in range(3)
            ]
            for j, state in enumerate(["requested", "accepted", "countered", "declined"]):
                dep = services.dependency_request(
                    organisation=org,
                    actor=None,
                    requester_item=krs[1],
                    provider_unit=units["product"],
                    title=f"Need {i}.{j}",
                    needed_by=cycle.end,
                    requested_at=timezone.now() - dt.timedelta(days=9),
                )
                if state == "accepted":
                    services.dependency_accept(dependency=dep, actor=None, provider_item=krs[0])
                elif state == "countered":
                    services.dependency_counter(
                        dependency=dep, actor=None, counter_date=cycle.end - dt.timedelta(days=1)
                    )
                elif state == "declined":
                    services.dependency_decline(dependency=dep, actor=None, reason="No")
            goals.objective_create(
                organisation=org, actor=None, cycle=cycle, title=f"Top {i}", level="company"
            )
            plan_b = goals.objective_create(
                organisation=org,
                actor=None,
                cycle=cycle,
                title=f"Draft {i}",
                owner_unit=units["marketing"],
                state=Objective.State.DRAFT,
            )
            goals.key_result_create(
                objective=plan_b, actor=None, title=f"Draft KR {i}", kind="milestone"
            )
            [rev] = services.review_request(objective=plan_b, actor=None, units=[units["product"]])
            services.review_respond(review=rev, actor=person, kind="comment", text=f"Note {i}")
            for kind, a, b in [("ask", "product", "marketing"), ("offer", "support", "product")]:
                services.ask_offer_create(
                    organisation=org,
                    actor=None,
                    cycle=cycle,
                    kind=kind,
                    from_unit=units[a],
                    to_unit=units[b],
                    text=f"{kind} {i}",
                )
        services.findings_refresh_full(org)

    return build


# Measured baselines; they include the session, user, person and organisation look-ups of
# every signed-in page. Each page is measured with two sizes of organisation: the same
# ceiling holds for both, so no query runs per row. The findings page looks up the items
# findings name with one query per kind (key results, objectives, dependencies, and
# initiatives and KPIs, which busy() has none of: two more at most).
FINDINGS_QUERIES = 11
DEPENDENCIES_QUERIES = 11
DEPENDENCY_DETAIL_QUERIES = 11
REVIEWS_QUERIES = 13
ASKS_OFFERS_QUERIES = 10


@pytest.mark.parametrize("rows", [2, 5])
def test_findings_page_query_count(client_in, busy, rows, django_assert_max_num_queries):
    busy(rows)
    assert Finding.objects.count() >= 3 * rows
    with django_assert_max_num_queries(FINDINGS_QUERIES):
        r = client_in.get("/findings/")
    assert r.status_code == 200
    assert text(r).count('class="finding card') == Finding.objects.count()


@pytest.mark.parametrize("rows", [2, 5])
def test_dependencies_page_query_count(client_in, busy, rows, django_assert_max_num_queries):
    busy(rows)
    with django_assert_max_num_queries(DEPENDENCIES_QUERIES):
        r = client_in.get("/dependencies/")
    assert r.status_code == 200
    # Per goal: one waiting, two owed (accepted, countered), one closed.
    assert text(r).count('class="dep card"') == 4 * rows
    dep = Dependency.objects.filter(state=S.ACCEPTED).first()
    with django_assert_max_num_queries(DEPENDENCY_DETAIL_QUERIES):
        r = client_in.get(f"/dependencies/{dep.pk}/")
    assert r.status_code == 200


@pytest.mark.parametrize("rows", [2, 5])
def test_reviews_and_asks_pages_query_count(client_in, busy, rows, django_assert_max_num_queries):
    busy(rows)
    with django_assert_max_num_queries(REVIEWS_QUERIES):
        r = client_in.get("/reviews/")
    assert text(r).count('class="card review"') == rows
    with django_assert_max_num_queries(ASKS_OFFERS_QUERIES):
        r = client_in.get("/asks-offers/")
    assert text(r).count('class="ask ask--') == 2 * rows
    assert text(r).count("Turn into a dependency request") == rows


# ---- reviews --------------------------------------------------------------------------


@pytest.fixture
def draft(org, units, cycle, plan):
    """Product's draft objective, which depends on Marketing through a dependency."""
    o = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Ship the beta",
        owner_unit=units["product"],
        state=Objective.State.DRAFT,
    )
    kr = goals.key_result_create(
        objective=o,
        actor=None,
        title="Beta users",
        kind="increase",
        target=200,
        owner_unit=units["product"],
    )
    services.dependency_request(
        organisation=org,
        actor=None,
        requester_item=kr,
        provider_unit=units["marketing"],
        title="Beta sign-up page",
        needed_by=cycle.end,
    )
    return o


def test_send_a_draft_to_the_default_reviewers(client_in, draft, units):
    html = text(client_in.get("/reviews/"))
    assert f'<option value="{draft.pk}">Ship the beta' in html
    r = client_in.post("/reviews/request/", {"objective": str(draft.pk)})
    assert r.status_code == 302
    assert list(Review.objects.values_list("unit__key", flat=True)) == ["marketing"]
    assert "Sent “Ship the beta” for review to Marketing." in text(client_in.get(r.url))


def test_send_a_draft_to_chosen_units(client_in, draft, units):
    r = client_in.post(
        "/reviews/request/",
        {
            "objective": str(draft.pk),
            "units": [str(units["support"].pk), str(units["marketing"].pk)],
        },
    )
    assert r.status_code == 302
    assert sorted(Review.objects.values_list("unit__key", flat=True)) == ["marketing", "support"]


def test_sending_without_an_objective_or_to_the_owner_is_refused(
    client_in, draft, units, unchanged
):
    with unchanged():
        r = client_in.post("/reviews/request/", {"objective": ""})
        assert r.status_code == 422
        assert 'id="send-objective-error">choose one from the list<' in text(r)
        r = client_in.post(
            "/reviews/request/", {"objective": str(draft.pk), "units": [str(units["product"].pk)]}
        )
        assert r.status_code == 422
        assert 'id="send-units-error">the owner unit does not review its own objective<' in text(r)


def test_someone_outside_the_unit_cannot_send_its_draft(draft, marketer, unchanged):
    _, mia = marketer
    with unchanged():
        r = mia.post("/reviews/request/", {"objective": str(draft.pk)})
    assert r.status_code == 403
    assert "Only people of its units may send an objective for review" in text(r)


@pytest.fixture
def review(draft, person):
    return services.review_request(objective=draft, actor=person)[0]


def test_inbox_shows_the_objective_owner_krs_and_endorse_only_to_leaders(
    review, marketer, org, units
):
    _, mia = marketer
    html = text(mia.get("/reviews/"))
    card = html[html.index(f'id="review-{review.pk}"') :]
    assert "Ship the beta" in card and "owned by Product" in card and "Beta users" in card
    assert "Waiting</span>" in card
    assert 'value="endorsement"' in card
    assert f'href="/objectives/{review.objective_id}/"' in card
    _, max_client = signed_in(org, units, "Max Member", "marketing", "member")
    html = text(max_client.get("/reviews/"))
    card = html[html.index(f'id="review-{review.pk}"') :]
    assert 'value="comment"' in card and 'value="endorsement"' not in card


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_comment_propose_and_endorse(review, marketer, htmx):
    _, mia = marketer
    extra = HTMX if htmx else {}
    r = mia.post(
        f"/reviews/{review.pk}/respond/", {"kind": "proposal", "text": "Aim for 300"}, **extra
    )
    assert r.status_code == (200 if htmx else 302)
    if htmx:
        assert text(r).startswith(f'<li class="card review" id="review-{review.pk}"')
        assert "Proposed change sent" in text(r) and "Aim for 300" in text(r)
    review.refresh_from_db()
    assert review.state == Review.State.CHANGES_PROPOSED
    mia.post(f"/reviews/{review.pk}/respond/", {"kind": "endorsement", "text": ""}, **extra)
    review.refresh_from_db()
    assert review.state == Review.State.ENDORSED
    assert list(ReviewNote.objects.values_list("kind", flat=True)) == ["proposal", "endorsement"]
    assert ActivityEvent.objects.filter(verb="review.endorsement").count() == 1


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_an_empty_comment_is_refused_at_the_field(review, marketer, htmx, unchanged):
    _, mia = marketer
    with unchanged():
        r = mia.post(
            f"/reviews/{review.pk}/respond/",
            {"kind": "comment", "text": ""},
            **(HTMX if htmx else {}),
        )
    assert r.status_code == 422
    assert re.search(
        rf'id="review-{review.pk}-text"[^>]*aria-describedby="[^"]*review-{review.pk}-text-error"',
        text(r),
    )
    assert "say what you think or propose" in text(r)


def test_a_member_cannot_endorse(review, org, units, unchanged):
    _, max_client = signed_in(org, units, "Max Member", "marketing", "member")
    with unchanged():
        r = max_client.post(f"/reviews/{review.pk}/respond/", {"kind": "endorsement"}, **HTMX)
    assert r.status_code == 422
    assert "Only leaders of Marketing may endorse for it" in text(r)


def test_the_owner_sees_the_reviewers_notes(client_in, review, marketer):
    services.review_respond(review=review, actor=marketer[0], kind="comment", text="Looks right")
    html = text(client_in.get("/reviews/"))
    drafts = html[html.index('id="h-drafts"') :]
    assert "Ship the beta" in drafts and "Marketing" in drafts and "Looks right" in drafts
    assert "Commented</span>" in drafts


# ---- asks and offers --------------------------------------------------------------------


def test_note_an_ask_and_see_it_grouped_by_the_pair(client_in, units, cycle):
    r = client_in.post(
        "/asks-offers/add/",
        {
            "kind": "ask",
            "cycle": str(cycle.pk),
            "from_unit": str(units["product"].pk),
            "to_unit": str(units["support"].pk),
            "text": "Early feedback on the beta",
        },
    )
    assert r.status_code == 302
    item = AskOffer.objects.get()
    assert item.kind == "ask" and item.author is not None
    services.ask_offer_create(
        organisation=item.organisation,
        actor=None,
        cycle=cycle,
        kind="offer",
        from_unit=units["support"],
        to_unit=units["product"],
        text="Two people for a week",
    )
    html = text(client_in.get("/asks-offers/"))
    assert html.count('class="card pair"') == 1
    assert "Product ↔ Support" in html
    assert "Early feedback on the beta" in html and "Two people for a week" in html


def test_an_ask_without_text_is_refused_at_the_field(client_in, units, cycle, unchanged):
    with unchanged():
        r = client_in.post(
            "/asks-offers/add/",
            {
                "kind": "ask",
                "cycle": str(cycle.pk),
                "from_unit": str(units["product"].pk),
                "to_unit": str(units["product"].pk),
                "text": " ",
            },
        )
    assert r.status_code == 422
    assert 'id="add-text-error">say what you ask for or offer<' in text(r)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_turn_an_ask_into_a_dependency_request(client_in, org, units, cycle, plan, htmx):
    item = services.ask_offer_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        kind="ask",
        from_unit=units["product"],
        to_unit=units["support"],
        text="FAQ for the feature",
    )
    html = text(client_in.get("/asks-offers/"))
    assert f'action="/asks-offers/{item.pk}/request/"' in html
    r = client_in.post(
        f"/asks-offers/{item.pk}/request/",
        {"requester_kr": str(plan["build"].pk), "needed_by": cycle.end.isoformat()},
        **(HTMX if htmx else {}),
    )
    assert r.status_code == (200 if htmx else 302)
    item.refresh_from_db()
    dep = item.dependency
    assert (
        dep is not None
        and dep.provider_unit == units["support"]
        and dep.requester_kr == plan["build"]
    )
    html = text(r) if htmx else text(client_in.get(r.url))
    assert f'href="/dependencies/{dep.pk}/"' in html
    assert f'action="/asks-offers/{item.pk}/request/"' not in html


def test_turning_an_ask_needs_a_date(client_in, org, units, cycle, plan, unchanged):
    item = services.ask_offer_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        kind="ask",
        from_unit=units["product"],
        to_unit=units["support"],
        text="FAQ",
    )
    with unchanged():
        r = client_in.post(
            f"/asks-offers/{item.pk}/request/", {"requester_kr": str(plan["build"].pk)}, **HTMX
        )
    assert r.status_code == 422
    assert f'id="ask-{item.pk}-needed_by-error">enter a date<' in text(r)
