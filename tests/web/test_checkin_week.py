"""HTTP-level tests of the weekly check-in: all my KRs on one screen, preview, save, errors."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from lockstep.goals import selectors as goal_selectors
from lockstep.goals import services as goals
from lockstep.goals.models import CheckIn, KeyResult, Objective
from lockstep.org import services as org_services

HTMX = {"HTTP_HX_REQUEST": "true"}


def text(response) -> str:
    return response.content.decode()


def row_html(html: str, kr: KeyResult) -> str:
    m = re.search(
        rf'<li class="cw-row[^"]*" id="cw-{kr.pk}".*?</li>\s*(?=<li class="cw-row|</ol>|$)',
        html,
        re.S,
    )
    assert m, f"no row for {kr.title}"
    return m.group(0)


@pytest.fixture
def mine(org, units, cycle):
    """Product's key results, one of each kind of input: a number, steps, done or not."""
    o = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="Ship it", owner_unit=units["product"]
    )
    visits = goals.key_result_create(
        objective=o,
        actor=None,
        title="Product-page visits",
        kind="increase",
        start=0,
        target=5000,
        measure="visits",
        owner_unit=units["product"],
    )
    steps = goals.key_result_create(
        objective=o,
        actor=None,
        title="Feature built",
        kind="milestone",
        steps=["Build", "Test", "Ship"],
        owner_unit=units["product"],
    )
    done = goals.key_result_create(
        objective=o,
        actor=None,
        title="Guide published",
        kind="milestone",
        owner_unit=units["product"],
    )
    other = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="Not ours", owner_unit=units["marketing"]
    )
    theirs = goals.key_result_create(
        objective=other,
        actor=None,
        title="Marketing reach",
        kind="increase",
        target=10,
        owner_unit=units["marketing"],
    )
    return {"visits": visits, "steps": steps, "done": done, "theirs": theirs, "objective": o}


# ---- the page --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_check_in_page_needs_sign_in():
    assert Client().get("/check-in/").url.startswith("/login/?next=/check-in/")
    r = Client().post("/check-in/1/", {"value": "1", "confidence": "5"})
    assert r.status_code == 302 and r.url.startswith("/login/")
    assert CheckIn.objects.count() == 0


def test_one_row_per_key_result_of_mine_with_labelled_fields(client_in, mine):
    r = client_in.get("/check-in/")
    assert r.status_code == 200
    html = text(r)
    assert "<h1>Weekly check-in</h1>" in html
    assert 'aria-current="page">Check in</a>' in html
    assert "Marketing reach" not in html
    for kr in (mine["visits"], mine["steps"], mine["done"]):
        row = row_html(html, kr)
        # Value (or steps), confidence, note: each labelled, in that order, one form per row.
        assert row.count("<form") == 1
        assert f'action="/check-in/{kr.pk}/"' in row and f'hx-post="/check-in/{kr.pk}/"' in row
        assert f'<label for="cw{kr.pk}-confidence">' in row
        assert f'<label for="cw{kr.pk}-note">' in row
        positions = [row.index(f'id="cw{kr.pk}-{f}') for f in ("value", "confidence", "note")]
        assert positions == sorted(positions)
        assert "data-row-start" in row
    visits = row_html(html, mine["visits"])
    assert f'<label for="cw{mine["visits"].pk}-value">New value (visits)</label>' in visits
    assert 'hx-trigger="input changed delay:150ms"' in visits
    assert f'hx-get="/check-in/{mine["visits"].pk}/preview/"' in visits
    steps = row_html(html, mine["steps"])
    assert "<legend>Steps done</legend>" in steps and steps.count('type="checkbox"') == 3
    assert 'name="done"' in row_html(html, mine["done"])


def test_the_last_confidence_and_ticked_steps_are_filled_in(client_in, mine, person):
    goals.checkin_record(key_result=mine["steps"], actor=person, steps_done=[0, 2], confidence=7)
    html = row_html(text(client_in.get("/check-in/")), mine["steps"])
    assert 'value="7"' in html
    ticked = re.findall(r'id="cw\d+-step-(\d)" checked', html)
    assert ticked == ["0", "2"]


def test_no_key_results_says_so(client_in, units):
    r = client_in.get("/check-in/")
    assert "No key results to check in on" in text(r)


# ---- the preview: computed, never written ------------------------------------------------------


def test_the_preview_shows_the_new_progress_and_status(client_in, mine, unchanged):
    kr = mine["visits"]
    with unchanged():
        r = client_in.get(
            f"/check-in/{kr.pk}/preview/", {"value": "4000", "confidence": ""}, **HTMX
        )
        low = client_in.get(f"/check-in/{kr.pk}/preview/", {"value": "500"}, **HTMX)
    assert r.status_code == 200
    assert "<strong>80%</strong>" in text(r) and "On track" in text(r)
    assert "<strong>10%</strong>" in text(low) and "Off track" in text(low)
    kr.refresh_from_db()
    assert kr.checkin_count == 0 and kr.current_value is None


def test_the_preview_agrees_with_what_the_save_stores(client_in, mine):
    kr = mine["visits"]
    preview = text(client_in.get(f"/check-in/{kr.pk}/preview/", {"value": "2,600"}, **HTMX))
    client_in.post(f"/check-in/{kr.pk}/", {"value": "2,600", "confidence": "6"}, **HTMX)
    kr.refresh_from_db()
    numbers = goal_selectors.kr_numbers(
        goal_selectors.key_results_query(kr.organisation).get(pk=kr.pk),
        organisation=kr.organisation,
    )
    assert f"<strong>{round(kr.progress * 100)}%</strong>" in preview
    assert numbers.status.value == kr.status
    assert {"on_track": "On track", "at_risk": "At risk", "off_track": "Off track"}[
        kr.status
    ] in preview


def test_the_preview_of_steps_and_done(client_in, mine, unchanged):
    with unchanged():
        steps = client_in.get(f"/check-in/{mine['steps'].pk}/preview/", {"steps_done": ["0", "1"]})
        done = client_in.get(f"/check-in/{mine['done'].pk}/preview/", {"done": "1"})
        nothing = client_in.get(f"/check-in/{mine['done'].pk}/preview/")
    assert "<strong>67%</strong>" in text(steps)
    assert "<strong>100%</strong>" in text(done) and "Done" in text(done)
    assert "<strong>0%</strong>" in text(nothing)


def test_a_value_that_cannot_be_read_is_named_in_the_preview(client_in, mine, unchanged):
    kr = mine["visits"]
    with unchanged():
        bad = client_in.get(f"/check-in/{kr.pk}/preview/", {"value": "lots"}, **HTMX)
        empty = client_in.get(f"/check-in/{kr.pk}/preview/", {"value": "  "}, **HTMX)
    assert bad.status_code == 422 and "Must be a number" in text(bad)
    assert empty.status_code == 200 and "%" not in text(empty)


def test_the_preview_of_another_organisations_key_result_is_404(client_in, cycle):
    other = org_services.organisation_create(slug="globex", name="Globex")
    c = goals.cycle_create(
        organisation=other,
        actor=None,
        name="S",
        key="s",
        kind="week",
        start=cycle.start,
        end=cycle.end,
    )
    o = goals.objective_create(organisation=other, actor=None, cycle=c, title="T", level="company")
    kr = goals.key_result_create(objective=o, actor=None, title="Secret", kind="increase", target=9)
    r = client_in.get(f"/check-in/{kr.pk}/preview/", {"value": "3"})
    assert r.status_code == 404 and "Secret" not in text(r)
    r = client_in.post(f"/check-in/{kr.pk}/", {"value": "3", "confidence": "5"}, **HTMX)
    assert r.status_code == 404 and "Secret" not in text(r)
    assert CheckIn.objects.count() == 0


# ---- saving -------------------------------------------------------------------------------------


def test_saving_a_row_with_htmx_swaps_it_in_place(client_in, mine, person):
    kr = mine["visits"]
    r = client_in.post(
        f"/check-in/{kr.pk}/", {"value": "4000", "confidence": "8", "note": "Launch week"}, **HTMX
    )
    assert r.status_code == 200
    html = text(r)
    assert html.lstrip().startswith(
        f'<li class="cw-row card cw-row--saved" id="cw-{kr.pk}" data-saved'
    )
    assert "Saved: 80% done, on track." in html
    row = html[: html.index("</li>")]
    assert "On track" in row and 'value=""' in row  # the new status; the value field emptied
    assert (
        'hx-swap-oob="innerHTML:#cw-live"' in html
        and "Check-in saved for Product-page visits" in html
    )
    [c] = CheckIn.objects.filter(key_result=kr)
    assert (c.value, c.confidence, c.note, c.author, c.source) == (
        4000,
        8,
        "Launch week",
        person,
        CheckIn.Source.WEB,
    )


def test_saving_steps_and_done_milestones(client_in, mine):
    client_in.post(
        f"/check-in/{mine['steps'].pk}/", {"steps_done": ["0", "1"], "confidence": "6"}, **HTMX
    )
    client_in.post(f"/check-in/{mine['done'].pk}/", {"done": "1", "confidence": "9"}, **HTMX)
    assert CheckIn.objects.get(key_result=mine["steps"]).steps_done == [0, 1]
    assert CheckIn.objects.get(key_result=mine["done"]).value == 1.0


def test_saving_without_javascript_posts_and_redirects_back(client_in, mine):
    kr = mine["visits"]
    r = client_in.post(f"/check-in/{kr.pk}/", {"value": "1000", "confidence": "4"})
    assert r.status_code == 302 and r.url == f"/check-in/#cw-{kr.pk}"
    page = text(client_in.get(r.url))
    assert "Check-in saved for “Product-page visits”: 20% done" in page
    assert CheckIn.objects.filter(key_result=kr).count() == 1


def test_saving_a_key_result_not_listed_still_goes_through_the_service(client_in, mine):
    """Any KR of the organisation can be checked in, as on its objective page."""
    kr = mine["theirs"]
    r = client_in.post(f"/check-in/{kr.pk}/", {"value": "5", "confidence": "5"}, **HTMX)
    assert r.status_code == 200 and CheckIn.objects.filter(key_result=kr).count() == 1


def test_get_on_the_save_address_is_refused(client_in, mine):
    assert client_in.get(f"/check-in/{mine['visits'].pk}/").status_code == 405


# ---- refusals: the field is named, nothing changes ---------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"value": "lots", "confidence": "5"}, "value", "must be a number"),
        ({"value": "", "confidence": "5"}, "value", "enter a number"),
        ({"value": "10", "confidence": ""}, "confidence", "choose a whole number from 1 to 10"),
        ({"value": "10", "confidence": "11"}, "confidence", "must be a whole number from 1 to 10"),
    ],
)
def test_a_refused_row_names_the_field_and_changes_nothing(
    client_in, mine, unchanged, data, field, message
):
    kr = mine["visits"]
    with unchanged():
        r = client_in.post(f"/check-in/{kr.pk}/", {**data, "note": "kept"}, **HTMX)
    assert r.status_code == 422
    html = text(r)
    assert re.search(rf'id="cw{kr.pk}-{field}"[^>]*aria-invalid="true"[^>]*autofocus', html, re.S)
    assert f'<p class="field__error" id="cw{kr.pk}-{field}-error">{message}</p>' in html
    assert 'value="kept"' in html  # what was typed stays
    assert "was not saved" in html and "data-saved" not in html


def test_a_refused_row_without_javascript_shows_the_page_with_a_summary(client_in, mine, unchanged):
    kr = mine["visits"]
    with unchanged():
        r = client_in.post(f"/check-in/{kr.pk}/", {"value": "lots", "confidence": "5"})
    assert r.status_code == 422
    html = text(r)
    assert "<h1>Weekly check-in</h1>" in html
    assert f'<a href="#cw{kr.pk}-value">Product-page visits — Value: must be a number</a>' in html
    # The other rows are still there, fresh.
    assert row_html(html, mine["steps"]).count("aria-invalid") == 0


def test_a_closed_objective_refuses_the_check_in(client_in, mine, unchanged):
    kr = mine["visits"]
    goals.objective_update(objective=mine["objective"], actor=None, state=Objective.State.CLOSED)
    with unchanged():
        r = client_in.post(f"/check-in/{kr.pk}/", {"value": "10", "confidence": "5"}, **HTMX)
    assert r.status_code == 422 and "The objective is closed" in text(r)


def test_a_bad_step_number_is_named(client_in, mine, unchanged):
    kr = mine["steps"]
    with unchanged():
        r = client_in.post(f"/check-in/{kr.pk}/", {"steps_done": ["7"], "confidence": "5"}, **HTMX)
    assert r.status_code == 422
    assert f'id="cw{kr.pk}-value-error">must be distinct step numbers from 0 to 2' in text(r)


# ---- bounded queries ---------------------------------------------------------------------------

# Session, user, person, organisation, memberships, the KRs, the milestones' last steps.
CHECKIN_PAGE_QUERIES = 7


@pytest.mark.parametrize("n", [3, 30])
def test_check_in_page_query_count_is_bounded(
    client_in, org, units, cycle, person, n, django_assert_max_num_queries
):
    o = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="Many", owner_unit=units["product"]
    )
    for i in range(n):
        kind = ("increase", "milestone", "at_least")[i % 3]
        kr = goals.key_result_create(
            objective=o,
            actor=None,
            title=f"KR {i}",
            kind=kind,
            target=10 if kind != "milestone" else 3,
            steps=["a", "b", "c"] if kind == "milestone" else [],
            owner_unit=units["product"],
            co_owners=[units["support"]],
        )
        if kind == "milestone":
            goals.checkin_record(key_result=kr, actor=None, steps_done=[0], confidence=5)
        else:
            goals.checkin_record(key_result=kr, actor=None, value=i, confidence=5)
    with django_assert_max_num_queries(CHECKIN_PAGE_QUERIES):
        r = client_in.get("/check-in/")
    assert text(r).count('class="cw-form"') == n


def test_the_save_answer_is_bounded_too(client_in, mine, django_assert_max_num_queries):
    # The check-in service's own writes and refreshes, plus a fixed few for the row.
    with django_assert_max_num_queries(60):
        r = client_in.post(
            f"/check-in/{mine['visits'].pk}/", {"value": "10", "confidence": "5"}, **HTMX
        )
    assert r.status_code == 200


def test_the_page_is_the_same_list_as_my_week(client_in, mine):
    goals.checkin_record(key_result=mine["done"], actor=None, value=0, confidence=5)
    week = text(client_in.get("/"))
    checkins = week[week.index('id="checkins"') : week.index('id="answer"')]
    page = text(client_in.get("/check-in/"))
    listed = re.findall(r'id="cw-(\d+)"', page)
    # The same key results in the same order (overdue first), read by one selector.
    assert listed == re.findall(r'href="/objectives/\d+/#kr-(\d+)"', checkins)
    assert len(listed) == 3
