"""HTTP-level tests of the goal-spine pages: sign-in, unit tree, objectives, check-ins."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from lockstep.goals import selectors
from lockstep.goals import services as goals
from lockstep.goals.models import CheckIn, KeyResult
from lockstep.org import services as org_services
from lockstep.web.templatetags.lockstep_ui import status_label

HTMX = {"HTTP_HX_REQUEST": "true"}


def checkin_url(kr: KeyResult) -> str:
    return f"/key-results/{kr.pk}/checkin/"


def text(response) -> str:
    return response.content.decode()


class UnitDepths(HTMLParser):
    """Each unit name on the tree page with how many lists deep it sits."""

    def __init__(self) -> None:
        super().__init__()
        self.lists: list[bool] = []  # one entry per open <ul>: is it a level of the tree?
        self.in_name = False
        self.found: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        cls = (dict(attrs).get("class") or "").split()
        if tag == "ul":
            self.lists.append("tree" in cls or "tree__children" in cls)
        self.in_name = tag == "span" and cls == ["unit__name"]

    def handle_endtag(self, tag):
        if tag == "ul":
            self.lists.pop()
        self.in_name = False

    def handle_data(self, data):
        if self.in_name:
            self.found[data.strip()] = sum(self.lists)


# ---- sign-in and access ------------------------------------------------------------------


@pytest.mark.django_db
def test_login_page_renders_a_labelled_form():
    r = Client().get("/login/")
    assert r.status_code == 200
    html = text(r)
    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert "htmx-2.min.js" in html  # the copy shipped by django-htmx, served locally
    assert "lockstep/lockstep.css" in html
    assert "https://" not in html.split("<body")[0]  # nothing loaded from the internet


def test_login_signs_in_and_lands_on_my_week(person):
    c = Client()
    r = c.post("/login/", {"username": "ada", "password": "correct-horse-9"}, follow=True)
    assert r.redirect_chain[-1][0] == "/"
    assert "<h1>My week</h1>" in text(r)
    html = text(r)
    assert "Ada Lovelace" in html and "Acme" in html
    assert 'action="/logout/"' in html


def test_login_with_a_wrong_password_says_so(person):
    r = Client().post("/login/", {"username": "ada", "password": "wrong"})
    assert r.status_code == 200
    assert 'role="alert"' in text(r)
    assert "correct username and password" in text(r)


def test_sign_out_is_a_post_and_ends_the_session(client_in):
    assert client_in.get("/units/").status_code == 200
    r = client_in.post("/logout/")
    assert r.status_code == 302 and r.url == "/login/"
    assert client_in.get("/units/").status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/units/", "/objectives/", "/objectives/1/"])
def test_pages_require_sign_in(url):
    r = Client().get(url)
    assert r.status_code == 302
    assert r.url.startswith("/login/?next=")


@pytest.mark.django_db
def test_check_in_requires_sign_in():
    r = Client().post("/key-results/1/checkin/", {"value": "1", "confidence": "5"})
    assert r.status_code == 302 and r.url.startswith("/login/")
    assert CheckIn.objects.count() == 0


def test_home_is_my_week(client_in):
    r = client_in.get("/")
    assert r.status_code == 200 and "<h1>My week</h1>" in text(r)


def test_an_account_without_a_person_gets_a_clear_403(org):
    user = get_user_model().objects.create_user("ghost", "ghost@example.com", "pw-ghost-123")
    c = Client()
    c.force_login(user)
    for url in ("/units/", "/objectives/", "/objectives/1/"):
        r = c.get(url)
        assert r.status_code == 403
        assert "No access" in text(r)
        assert "belongs to no organisation" in text(r)


# ---- unit tree -------------------------------------------------------------------------


def test_unit_tree_nests_units_with_kind_capacity_leaders_and_counts(client_in, teams, launch):
    r = client_in.get("/units/")
    assert r.status_code == 200
    html = text(r)
    parser = UnitDepths()
    parser.feed(html)
    assert parser.found == {
        "Acme": 1,
        "Marketing": 2,
        "Product": 2,
        "Support": 2,
        "App team": 3,
        "Web team": 3,
        "Checkout squad": 4,
    }
    assert "120 hours/week" in html
    assert "Ada Lovelace" in html.split('unit__name">Product')[1].split("unit__name")[0]
    # Marketing owns "brand" and contributes to "feature-x"; Acme owns the company objective.
    assert 'aria-label="2 objectives of Marketing this cycle"' in html
    assert 'aria-label="1 objective of Acme this cycle"' in html
    assert 'aria-label="0 objectives of App team this cycle"' in html


def test_unit_tree_counts_only_the_running_cycles(client_in, org, units, cycle, person):
    old = goals.cycle_create(
        organisation=org,
        actor=None,
        name="Last quarter",
        kind="quarter",
        start=cycle.start - dt.timedelta(days=100),
        end=cycle.start - dt.timedelta(days=10),
    )
    goals.objective_create(
        organisation=org, actor=None, cycle=old, title="Old", owner_unit=units["support"]
    )
    html = text(client_in.get("/units/"))
    assert 'aria-label="0 objectives of Support this cycle"' in html


# ---- objective list --------------------------------------------------------------------


def test_objective_list_shows_rows_with_progress_and_status(client_in, launch):
    goals.checkin_record(key_result=launch["visits"], actor=None, value=2500, confidence=7)
    html = text(client_in.get("/objectives/"))
    for key in ("company", "shared", "brand"):
        assert f'href="/objectives/{launch[key].pk}/"' in html
    assert "Marketing, Product, Support" in html  # contributors of the shared objective
    numbers = selectors.objective_numbers(
        [launch["shared"].pk], organisation=launch["shared"].organisation
    )
    n = numbers[launch["shared"].pk]
    assert f"{round(n.progress * 100)}%" in html
    assert status_label(n.status) in html


def test_objective_list_filters_by_unit_and_cycle(client_in, org, units, cycle, launch):
    old = goals.cycle_create(
        organisation=org,
        actor=None,
        name="Last quarter",
        kind="quarter",
        start=cycle.start - dt.timedelta(days=100),
        end=cycle.start - dt.timedelta(days=10),
    )
    goals.objective_create(
        organisation=org, actor=None, cycle=old, title="Past goal", owner_unit=units["support"]
    )

    html = text(client_in.get("/objectives/"))
    assert "Past goal" not in html and "Refresh the brand" in html

    html = text(client_in.get(f"/objectives/?cycle={old.pk}"))
    assert "Past goal" in html and "Refresh the brand" not in html

    html = text(client_in.get("/objectives/?cycle=all"))
    assert "Past goal" in html and "Refresh the brand" in html

    html = text(client_in.get(f"/objectives/?unit={units['marketing'].pk}"))
    assert "Refresh the brand" in html and launch["shared"].title in html
    assert "Grow engagement" not in html

    html = text(client_in.get(f"/objectives/?cycle=all&unit={units['support'].pk}"))
    assert (
        "Past goal" in html and launch["shared"].title in html and "Refresh the brand" not in html
    )


# ---- objective page --------------------------------------------------------------------


def test_objective_page_shows_numbers_links_krs_and_forms(client_in, launch, units):
    shared = launch["shared"]
    r = client_in.get(f"/objectives/{shared.pk}/")
    assert r.status_code == 200
    html = text(r)
    assert shared.title in html and "Sprint" in html and "Shared objective" in html
    for kr in ("tested", "visits", "csat"):
        assert f'id="kr-{launch[kr].pk}"' in html
        assert f'action="/key-results/{launch[kr].pk}/checkin/"' in html
        assert f'<label for="kr{launch[kr].pk}-confidence">' in html
    assert "0 → <strong>0</strong> → 5,000 visits" in html
    assert "0 of 3 steps done" in html
    # A milestone with steps gets one labelled checkbox per step.
    tested = launch["tested"].pk
    for i, step in enumerate(["Build", "Test", "Ship"]):
        assert f'<label for="kr{tested}-step-{i}">{step}</label>' in html
    # It contributes to the company objective; the units appear with their shares.
    assert f'href="/objectives/{launch["company"].pk}/"' in html
    for unit in ("Product", "Marketing", "Support"):
        assert f'<span class="shares__unit">{unit}</span>' in html
    assert "created the objective" in html  # activity


def test_objective_page_lists_contributing_objectives(client_in, launch):
    html = text(client_in.get(f"/objectives/{launch['company'].pk}/"))
    assert f'href="/objectives/{launch["shared"].pk}/"' in html
    assert f'href="/objectives/{launch["brand"].pk}/"' in html
    assert "weight 0.5" in html


def test_a_milestone_without_steps_offers_a_done_checkbox(client_in, launch):
    guide = launch["guide"].pk
    html = text(client_in.get(f"/objectives/{launch['brand'].pk}/"))
    assert f'<input type="checkbox" name="done" value="1" id="kr{guide}-value"' in html
    assert f'<label for="kr{guide}-value">Done</label>' in html


def test_objective_page_shows_the_last_five_check_ins(client_in, launch):
    kr = launch["visits"]
    for i in range(7):
        goals.checkin_record(
            key_result=kr, actor=None, value=100 * (i + 1), confidence=5, note=f"note {i}"
        )
    html = text(client_in.get(f"/objectives/{launch['shared'].pk}/"))
    assert "note 6" in html and "note 2" in html
    assert "note 1" not in html.split(f'id="kr-{kr.pk}"')[1].split("</tbody>")[0]
    assert "The latest 5 of 7 check-ins." in html


# ---- check-in --------------------------------------------------------------------------


def test_check_in_without_javascript_saves_and_redirects(client_in, launch, person):
    kr = launch["visits"]
    r = client_in.post(checkin_url(kr), {"value": "2,500", "confidence": "7", "note": "Halfway"})
    assert r.status_code == 302
    assert r.url == f"/objectives/{launch['shared'].pk}/#kr-{kr.pk}"
    checkin = CheckIn.objects.get(key_result=kr)
    assert (checkin.value, checkin.confidence, checkin.note) == (2500, 7, "Halfway")
    assert checkin.source == CheckIn.Source.WEB and checkin.author == person
    html = text(client_in.get(r.url))
    assert "Check-in saved for “Product-page visits”: 50% done" in html
    assert "0 → <strong>2,500</strong> → 5,000 visits" in html
    assert "checked in on" in html


def test_check_in_with_htmx_returns_the_updated_row(client_in, launch):
    kr = launch["visits"]
    r = client_in.post(checkin_url(kr), {"value": "2500", "confidence": "7"}, **HTMX)
    assert r.status_code == 200
    html = text(r)
    assert html.startswith(f'<tbody id="kr-{kr.pk}"')
    assert "<html" not in html
    kr.refresh_from_db()
    n = selectors.kr_numbers(
        KeyResult.objects.select_related("objective__cycle").get(pk=kr.pk),
        organisation=kr.organisation,
    )
    assert "50%" in html and status_label(n.status) in html
    assert "Check-in saved" in html
    assert 'id="objective-summary"' in html and 'hx-swap-oob="true"' in html
    assert CheckIn.objects.filter(key_result=kr).count() == 1


def test_check_in_records_blockers_and_the_blocking_unit(client_in, launch, units):
    kr = launch["csat"]
    r = client_in.post(
        checkin_url(kr),
        {
            "value": "80",
            "confidence": "4",
            "blockers": "Waiting for the FAQ",
            "blocking_unit": str(units["product"].pk),
        },
    )
    assert r.status_code == 302
    c = CheckIn.objects.get(key_result=kr)
    assert c.blocking_unit == units["product"] and c.blockers == "Waiting for the FAQ"
    html = text(client_in.get(r.url))
    assert "Waiting for the FAQ (by Product)" in html


def test_milestone_steps_and_done_checkbox(client_in, launch):
    r = client_in.post(
        checkin_url(launch["tested"]), {"steps_done": ["0", "1"], "confidence": "6"}, **HTMX
    )
    assert r.status_code == 200
    assert "2 of 3 steps done" in text(r) and "67%" in text(r)
    assert CheckIn.objects.get(key_result=launch["tested"]).steps_done == [0, 1]
    # The next form starts from the steps already done.
    assert re.search(r'id="kr\d+-step-1" checked', text(r))

    r = client_in.post(checkin_url(launch["guide"]), {"done": "1", "confidence": "9"}, **HTMX)
    assert r.status_code == 200
    assert "100%" in text(r) and "Done" in text(r)


@pytest.mark.parametrize("confidence", ["0", "11", "", "seven"])
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_wrong_confidence_is_shown_at_the_field_and_nothing_is_written(
    client_in, launch, confidence, htmx
):
    kr = launch["visits"]
    r = client_in.post(
        checkin_url(kr), {"value": "2500", "confidence": confidence}, **(HTMX if htmx else {})
    )
    assert r.status_code == 422
    html = text(r)
    error_id = f"kr{kr.pk}-confidence-error"
    assert f'<p class="field__error" id="{error_id}">' in html
    assert re.search(
        rf'id="kr{kr.pk}-confidence"[^>]*aria-describedby="[^"]*{error_id}"[^>]*aria-invalid="true"',
        html,
    )
    assert "1 to 10" in html
    assert 'value="2500"' in html  # what was typed comes back
    if htmx:
        assert html.startswith(f'<tbody id="kr-{kr.pk}"')
    else:
        assert "The check-in was not saved" in html and 'role="alert"' in html
    assert CheckIn.objects.count() == 0
    kr.refresh_from_db()
    assert kr.current_value is None and kr.checkin_count == 0


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_step_outside_the_milestone_is_refused(client_in, launch, htmx):
    kr = launch["tested"]
    r = client_in.post(
        checkin_url(kr), {"steps_done": ["1", "5"], "confidence": "5"}, **(HTMX if htmx else {})
    )
    assert r.status_code == 422
    html = text(r)
    assert f'id="kr{kr.pk}-value-error"' in html
    assert "step numbers from 0 to 2" in html
    assert f'aria-describedby="kr{kr.pk}-value-error"' in html
    assert CheckIn.objects.count() == 0


def test_a_value_outside_a_milestone_without_steps_is_refused(client_in, launch):
    r = client_in.post(checkin_url(launch["guide"]), {"value": "3", "confidence": "5"})
    assert r.status_code == 422
    assert "whole number of steps from 0 to 1" in text(r)
    assert CheckIn.objects.count() == 0


def test_a_missing_value_is_refused(client_in, launch):
    r = client_in.post(checkin_url(launch["visits"]), {"value": " ", "confidence": "5"}, **HTMX)
    assert r.status_code == 422
    assert "enter a number" in text(r)
    assert CheckIn.objects.count() == 0


def test_a_closed_objective_refuses_check_ins_with_a_message(client_in, launch, person):
    goals.objective_update(objective=launch["brand"], actor=person, state="closed")
    r = client_in.post(checkin_url(launch["guide"]), {"done": "1", "confidence": "5"}, **HTMX)
    assert r.status_code == 422
    assert "the objective is closed" in text(r)
    assert CheckIn.objects.count() == 0


@pytest.fixture
def other_org():
    globex = org_services.organisation_create(slug="globex", name="Globex")
    unit = org_services.unit_create(
        organisation=globex, actor=None, name="Sales", kind="department"
    )
    today = dt.date.today()
    cycle = goals.cycle_create(
        organisation=globex,
        actor=None,
        name="Now",
        kind="month",
        start=today - dt.timedelta(days=3),
        end=today + dt.timedelta(days=20),
    )
    objective = goals.objective_create(
        organisation=globex, actor=None, cycle=cycle, title="Secret plan", owner_unit=unit
    )
    kr = goals.key_result_create(
        objective=objective,
        actor=None,
        title="Secret KR",
        kind="increase",
        target=10,
        owner_unit=unit,
    )
    return {"objective": objective, "kr": kr, "unit": unit}


def test_another_organisations_objective_is_not_found(client_in, other_org):
    r = client_in.get(f"/objectives/{other_org['objective'].pk}/")
    assert r.status_code == 404
    assert "Secret plan" not in text(r)
    r = client_in.post(checkin_url(other_org["kr"]), {"value": "5", "confidence": "5"})
    assert r.status_code == 404
    assert CheckIn.objects.count() == 0
    assert "Secret plan" not in text(client_in.get("/objectives/?cycle=all"))
    assert "Sales" not in text(client_in.get("/units/"))


def test_another_organisations_unit_cannot_be_named_as_blocker(client_in, launch, other_org):
    r = client_in.post(
        checkin_url(launch["visits"]),
        {
            "value": "10",
            "confidence": "5",
            "blocking_unit": str(other_org["unit"].pk),
        },
    )
    assert r.status_code == 422
    assert f'id="kr{launch["visits"].pk}-blocking_unit-error"' in text(r)
    assert CheckIn.objects.count() == 0


# ---- query counts: an N+1 fails here ----------------------------------------------------


@pytest.fixture
def busy_org(org, units, teams, cycle, person):
    """Enough units, objectives, KRs and check-ins that a per-row query would show."""
    parent = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Company goal",
        level="company",
        owner_unit=units["acme"],
    )
    people_units = [
        units["product"],
        units["marketing"],
        units["support"],
        teams["web"],
        teams["app"],
    ]
    for i, unit in enumerate(people_units):
        lead = org_services.person_create(
            organisation=org,
            actor=None,
            name=f"Lead {i}",
            email=f"lead{i}@example.com",
            memberships=[(unit, "leader")],
        )
        objective = goals.objective_create(
            organisation=org,
            actor=None,
            cycle=cycle,
            title=f"Goal {i}",
            level="shared",
            contributors=[unit, units["acme"]],
            parents=[(parent, 1.0)],
        )
        for j in range(4):
            kr = goals.key_result_create(
                objective=objective,
                actor=lead,
                title=f"KR {i}.{j}",
                kind="increase",
                target=100,
                owner_unit=unit,
                co_owners=[units["acme"]],
            )
            for k in range(3):
                goals.checkin_record(key_result=kr, actor=lead, value=10 * (k + 1), confidence=6)
        goals.objective_create(
            organisation=org,
            actor=None,
            cycle=cycle,
            title=f"Own goal {i}",
            owner_unit=unit,
            parents=[(objective, 1.0)],
        )
    return parent


# Measured baselines; they include the session, user, person and organisation look-ups of
# every signed-in page. objective_numbers walks contribution links one query per level, so
# the objective page's figure holds for the three levels of busy_org.
UNIT_TREE_QUERIES = 9
OBJECTIVE_LIST_QUERIES = 13
# The objective page adds three reads of its own: the check-ins behind the KR charts, the
# dependencies of its KRs and the findings about it (tests/web/test_objective_page.py).
OBJECTIVE_PAGE_QUERIES = 22
# 23 for the check-in and the re-rendered rows, plus 19 for the incremental findings
# refresh (risk scope, partial snapshot, stored findings), plus 2 for the stored roll-up
# (one read of the objective's chain of ancestors with the stored numbers feeding them, one
# UPDATE of those that moved; the KR's own numbers ride on the check-in's UPDATE). None of
# these grows with the rows shown, the depth of the links or the size of the organisation.
HTMX_CHECKIN_QUERIES = 44


def test_unit_tree_query_count(client_in, busy_org, django_assert_max_num_queries):
    with django_assert_max_num_queries(UNIT_TREE_QUERIES):
        r = client_in.get("/units/")
    assert r.status_code == 200 and "Lead 3" in text(r)


def test_objective_list_query_count(client_in, busy_org, django_assert_max_num_queries):
    with django_assert_max_num_queries(OBJECTIVE_LIST_QUERIES):
        r = client_in.get("/objectives/")
    assert len(re.findall(r'href="/objectives/\d+/"', text(r))) == 11


def test_objective_page_query_count(client_in, busy_org, django_assert_max_num_queries):
    goal = busy_org.child_links.first().child
    with django_assert_max_num_queries(OBJECTIVE_PAGE_QUERIES):
        r = client_in.get(f"/objectives/{goal.pk}/")
    assert r.status_code == 200 and text(r).count('class="kr__row"') == 4
    with django_assert_max_num_queries(OBJECTIVE_PAGE_QUERIES):
        r = client_in.get(f"/objectives/{busy_org.pk}/")
    assert r.status_code == 200


def test_htmx_check_in_query_count(client_in, busy_org, django_assert_max_num_queries):
    kr = KeyResult.objects.filter(objective__title="Goal 0").first()
    with django_assert_max_num_queries(HTMX_CHECKIN_QUERIES):
        r = client_in.post(checkin_url(kr), {"value": "50", "confidence": "6"}, **HTMX)
    assert r.status_code == 200


def test_a_past_cycle_shows_no_check_in_form(client_in, org, units, cycle):
    old = goals.cycle_create(
        organisation=org,
        actor=None,
        name="Last month",
        kind="month",
        start=cycle.start - dt.timedelta(days=40),
        end=cycle.start - dt.timedelta(days=10),
    )
    objective = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=old,
        title="Done and dusted",
        owner_unit=units["support"],
    )
    kr = goals.key_result_create(
        objective=objective, actor=None, title="Tickets", kind="decrease", start=50, target=10
    )
    html = text(client_in.get(f"/objectives/{objective.pk}/"))
    assert f'action="/key-results/{kr.pk}/checkin/"' not in html
    assert f"No check-ins now: the cycle ended on {old.end.day} {old.end:%b %Y}." in html
    r = client_in.post(checkin_url(kr), {"value": "30", "confidence": "5"})
    assert r.status_code == 422
    assert "The check-in time must lie inside the cycle" in text(r)
    assert CheckIn.objects.count() == 0


def test_unknown_address_gets_the_site_404_page(client_in):
    r = client_in.get("/no-such-page/")
    assert r.status_code == 404
    assert b"Page not found" in r.content


def test_an_htmx_call_after_the_session_ended_sends_the_whole_page_to_sign_in(db):
    from django.test import Client

    r = Client().get(
        "/dashboard/wall/panel/?refresh=30",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/dashboard/wall/?refresh=30",
    )
    assert r.status_code == 200 and r.content == b""
    assert r["HX-Redirect"] == "/login/?next=/dashboard/wall/%3Frefresh%3D30"
    # Without htmx it is the usual redirect.
    plain = Client().get("/dashboard/wall/")
    assert plain.status_code == 302 and plain["Location"].startswith("/login/?next=")
