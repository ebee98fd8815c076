"""HTTP-level tests of My week, the home page: what I check in on, answer, owe and watch."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from lockstep.alignment import services as alignment
from lockstep.alignment.models import Dependency, Finding
from lockstep.goals import services as goals
from lockstep.goals.models import Objective
from lockstep.org import services as org_services
from lockstep.web import selectors

S = Dependency.State


def text(response) -> str:
    return response.content.decode()


def section(html: str, anchor: str) -> str:
    """The HTML of one <section id=...> of the page."""
    m = re.search(rf'<section[^>]*id="{anchor}"[^>]*>(.*?)</section>', html, re.S)
    assert m, f"no section {anchor}"
    return m.group(1)


def ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


@pytest.fixture
def plan(org, units, cycle, person):
    """An objective of Product's and one of Marketing's, each with a KR to hang things on."""
    product = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="Ship it", owner_unit=units["product"]
    )
    marketing = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="Tell it", owner_unit=units["marketing"]
    )
    return {
        "product": product,
        "marketing": marketing,
        "p_kr": goals.key_result_create(
            objective=product,
            actor=None,
            title="Release shipped",
            kind="increase",
            target=10,
            owner_unit=units["product"],
        ),
        "m_kr": goals.key_result_create(
            objective=marketing,
            actor=None,
            title="Campaign reach",
            kind="increase",
            target=10,
            owner_unit=units["marketing"],
        ),
    }


# ---- sign-in and the rule for "my" key results ------------------------------------------------


@pytest.mark.django_db
def test_my_week_needs_sign_in():
    r = Client().get("/")
    assert r.status_code == 302 and r.url.startswith("/login/?next=/")


def test_sign_in_lands_on_my_week(person):
    c = Client()
    r = c.post("/login/", {"username": "ada", "password": "correct-horse-9"})
    assert r.status_code == 302 and r.url == "/"
    r = c.get("/")
    assert r.status_code == 200
    assert "<h1>My week</h1>" in text(r)
    assert 'aria-current="page">My week</a>' in text(r)


def test_the_key_results_are_mine_by_a_stated_rule(client_in, org, units, teams, cycle, person):
    o = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="Mixed bag", level="company"
    )

    def kr(title: str, **kw):
        return goals.key_result_create(
            objective=o, actor=None, title=title, kind="increase", target=10, **kw
        )

    kr("Owned by my unit", owner_unit=units["product"])
    kr("Owned by me in another unit", owner_unit=units["marketing"], owner_person=person)
    kr("Co-owned by my unit", owner_unit=units["support"], co_owners=[units["product"]])
    kr("Owned by a team below my unit", owner_unit=teams["web"])
    kr("Owned by another unit", owner_unit=units["marketing"])
    archived = kr("Archived KR of my unit", owner_unit=units["product"])
    goals.key_result_archive(key_result=archived, actor=None)
    old = goals.cycle_create(
        organisation=org,
        actor=None,
        name="Last month",
        key="last-month",
        kind="month",
        start=cycle.start - dt.timedelta(days=40),
        end=cycle.start - dt.timedelta(days=10),
    )
    past = goals.objective_create(
        organisation=org, actor=None, cycle=old, title="Done and gone", level="company"
    )
    goals.key_result_create(
        objective=past,
        actor=None,
        title="KR of an ended cycle",
        kind="increase",
        target=1,
        owner_unit=units["product"],
    )
    closed = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="Shut", level="company"
    )
    goals.key_result_create(
        objective=closed,
        actor=None,
        title="KR of a closed objective",
        kind="increase",
        target=1,
        owner_unit=units["product"],
    )
    goals.objective_update(objective=closed, actor=None, state=Objective.State.CLOSED)

    html = section(text(client_in.get("/")), "checkins")
    for shown in ("Owned by my unit", "Owned by me in another unit", "Co-owned by my unit"):
        assert shown in html
    for hidden in (
        "Owned by a team below my unit",
        "Owned by another unit",
        "Archived KR of my unit",
        "KR of an ended cycle",
        "KR of a closed objective",
    ):
        assert hidden not in html
    # The rule is said on the page, not only applied.
    assert "owned or co-owned by a unit you belong to" in html


def test_overdue_check_ins_come_first(client_in, org, units, cycle):
    o = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="Cadence", owner_unit=units["product"]
    )

    def kr(title: str, cadence: int, checked_in_days_ago: float | None):
        k = goals.key_result_create(
            objective=o,
            actor=None,
            title=title,
            kind="increase",
            target=10,
            owner_unit=units["product"],
            cadence_days=cadence,
        )
        if checked_in_days_ago is not None:
            goals.checkin_record(
                key_result=k, actor=None, value=1, confidence=5, at=ago(checked_in_days_ago)
            )
        return k

    kr("Fresh KR", 7, 0.1)  # due in ~7 days
    kr("Never checked KR", 7, None)  # the cycle began 8 days ago: a day overdue
    kr("Long overdue KR", 3, 6.5)  # due 3.5 days ago
    kr("Soon due KR", 7, 5.5)  # due in 1.5 days

    html = section(text(client_in.get("/")), "checkins")
    order = [
        html.index(t) for t in ("Long overdue KR", "Never checked KR", "Soon due KR", "Fresh KR")
    ]
    assert order == sorted(order)
    assert "Overdue by 3 days" in html
    assert "Overdue by 1 day" in html
    assert "Due in 2 days" in html  # 1.5 days, rounded up
    assert html.count('class="week-row--late"') == 2
    assert "every 3 days" in html


def test_a_done_key_result_needs_no_check_in_and_goes_last(client_in, org, units, cycle):
    o = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="Finish", owner_unit=units["product"]
    )
    done = goals.key_result_create(
        objective=o,
        actor=None,
        title="Finished KR",
        kind="increase",
        target=10,
        owner_unit=units["product"],
    )
    goals.checkin_record(key_result=done, actor=None, value=10, confidence=9, at=ago(20 / 24 * 8))
    goals.key_result_create(
        objective=o,
        actor=None,
        title="Open KR",
        kind="increase",
        target=10,
        owner_unit=units["product"],
    )
    html = section(text(client_in.get("/")), "checkins")
    assert html.index("Open KR") < html.index("Finished KR")
    assert "Done: no check-in needed" in html


# ---- dependencies -----------------------------------------------------------------------------


@pytest.fixture
def deps(org, units, cycle, plan, person):
    """Dependencies in each part of My week, and some that belong in none."""
    today = timezone.localdate()

    def ask(title: str, item, provider: str, needed_by: dt.date, days_ago: float = 2):
        return alignment.dependency_request(
            organisation=org,
            actor=None,
            requester_item=item,
            provider_unit=units[provider],
            title=title,
            needed_by=needed_by,
            requested_at=ago(days_ago),
        )

    asked = ask("Asked of Product", plan["m_kr"], "product", cycle.end, days_ago=4)
    countered = ask("Product's request re-dated", plan["p_kr"], "marketing", cycle.end)
    alignment.dependency_counter(
        dependency=countered, actor=None, counter_date=cycle.end - dt.timedelta(days=1)
    )
    owe = ask("Product delivers late", plan["m_kr"], "product", today - dt.timedelta(days=2))
    alignment.dependency_accept(dependency=owe, actor=None, provider_item=plan["p_kr"])
    owed = ask("Marketing delivers to Product", plan["p_kr"], "marketing", cycle.end)
    alignment.dependency_accept(dependency=owed, actor=None)
    declined = ask("Declined one", plan["m_kr"], "product", cycle.end)
    alignment.dependency_decline(dependency=declined, actor=None, reason="No room")
    delivered = ask("Delivered one", plan["p_kr"], "marketing", cycle.end)
    alignment.dependency_accept(dependency=delivered, actor=None)
    alignment.dependency_deliver(dependency=delivered, actor=None)
    unrelated = goals.key_result_create(
        objective=plan["marketing"],
        actor=None,
        title="Support KR",
        kind="increase",
        target=3,
        owner_unit=units["support"],
    )
    ask("Between two other units", unrelated, "marketing", cycle.end)
    return {"asked": asked, "countered": countered, "owe": owe, "owed": owed}


def test_dependencies_split_into_answer_owe_and_owed(client_in, deps):
    html = text(client_in.get("/"))
    answer, owe, owed = section(html, "answer"), section(html, "owe"), section(html, "owed")

    assert "Asked of Product" in answer and "waiting 4 days" in answer
    assert "Product&#x27;s request re-dated" in answer  # the new date waits on Product
    assert "offered" in answer
    assert f'href="/dependencies/{deps["asked"].pk}/"' in answer

    assert "Product delivers late" in owe and "Product delivers late" not in owed
    assert "Late by 2 days" in owe
    assert "Marketing delivers to Product" in owed and "Late by" not in owed
    # Each state in words beside its shape, not colour alone.
    assert "Accepted" in owe and "Requested" in answer

    # Closed ones and other units' are not listed (a finding may still name them).
    for gone in ("Declined one", "Delivered one", "Between two other units"):
        assert gone not in answer + owe + owed
    assert "Between two other units" not in html


def test_dependency_risks_come_from_stored_findings(client_in, org, deps):
    alignment.findings_refresh_full(org)
    too_late = Finding.objects.filter(code="DEPENDENCY_TOO_LATE", subject_id=deps["owe"].pk)
    assert too_late.exists()
    owe = section(text(client_in.get("/")), "owe")
    assert too_late.get().title.replace("'", "&#x27;") in owe
    assert "week-dep--risk" in owe


# ---- findings, reviews, dates ahead -------------------------------------------------------------


def test_findings_about_my_units_most_severe_first(client_in, org, units, cycle, plan, deps):
    alignment.findings_refresh_full(org)
    mine = Finding.objects.filter(units=units["product"]).distinct()
    others = Finding.objects.exclude(pk__in=mine.values("pk"))
    assert mine.exists() and others.exists()
    html = section(text(client_in.get("/")), "findings")
    shown = [f for f in mine if f.title.replace("'", "&#x27;") in html]
    assert shown
    for f in others:
        assert f.title.replace("'", "&#x27;") not in html
    severities = re.findall(r'week-finding--(\w+)"', html)
    rank = {"error": 0, "warning": 1, "info": 2}
    assert [rank[s] for s in severities] == sorted(rank[s] for s in severities)
    assert f'href="/findings/?unit={units["product"].pk}"' in html


def test_reviews_waiting_for_my_units(client_in, org, units, cycle, person):
    draft = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Draft plan",
        owner_unit=units["marketing"],
        state=Objective.State.DRAFT,
    )
    answered = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Answered plan",
        owner_unit=units["marketing"],
        state=Objective.State.DRAFT,
    )
    elsewhere = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Support's own plan",
        owner_unit=units["marketing"],
        state=Objective.State.DRAFT,
    )
    [review] = alignment.review_request(objective=draft, actor=None, units=[units["product"]])
    [done] = alignment.review_request(objective=answered, actor=None, units=[units["product"]])
    alignment.review_respond(review=done, actor=person, kind="endorsement", text="Fine")
    alignment.review_request(objective=elsewhere, actor=None, units=[units["support"]])

    html = section(text(client_in.get("/")), "reviews")
    assert "Draft plan" in html and f'href="/reviews/#review-{review.pk}"' in html
    assert "Answered plan" not in html and "Support&#x27;s own plan" not in html


def test_dates_in_the_next_two_weeks(client_in, org, units, cycle, plan, deps, person):
    today = timezone.localdate()
    goals.initiative_create(
        organisation=org,
        actor=None,
        title="Write the docs",
        owner_unit=units["product"],
        due=today + dt.timedelta(days=3),
    )
    goals.initiative_create(
        organisation=org,
        actor=None,
        title="Far-off work",
        owner_unit=units["product"],
        due=today + dt.timedelta(days=20),
    )
    goals.initiative_create(
        organisation=org,
        actor=None,
        title="Assigned to me elsewhere",
        owner_unit=units["support"],
        assignee=person,
        due=today + dt.timedelta(days=1),
    )
    goals.initiative_create(
        organisation=org,
        actor=None,
        title="Someone else's work",
        owner_unit=units["support"],
        due=today + dt.timedelta(days=2),
    )
    goals.initiative_create(
        organisation=org,
        actor=None,
        title="Finished work",
        owner_unit=units["product"],
        due=today + dt.timedelta(days=2),
        state="done",
    )
    html = section(text(client_in.get("/")), "ahead")
    assert "Write the docs" in html and "Assigned to me elsewhere" in html
    for hidden in ("Far-off work", "Someone else&#x27;s work", "Finished work"):
        assert hidden not in html
    assert "Cycle ends" in html and cycle.name in html
    assert "Key result due" in html and "Release shipped" in html  # due with its cycle
    assert "Dependency needed" in html and "Asked of Product" in html
    # The late one's date is behind us: it is flagged where it is owed, not listed ahead.
    assert "Product delivers late" not in html
    days = re.findall(r'<time class="week-date__day" datetime="([\d-]+)"', html)
    assert days == sorted(days)


def test_every_section_has_an_empty_state(org, units):
    user = get_user_model().objects.create_user("newbie", "n@example.com", "pw-newbie-123")
    p = org_services.person_create(
        organisation=org, actor=None, name="New Person", email="n@example.com"
    )
    p.user = user
    p.save()
    c = Client()
    c.force_login(user)
    html = text(c.get("/"))
    assert "You belong to no unit yet." in html
    for anchor, empty in [
        ("checkins", "No key results to check in on"),
        ("answer", "Nothing waits for your answer."),
        ("owe", "Your units owe no one anything open."),
        ("owed", "No open request of your units waits on another unit."),
        ("findings", "No findings about your units."),
        ("reviews", "No review waits for your units."),
    ]:
        assert empty in section(html, anchor), anchor
    # Cycle ends concern everyone; with no cycle at all the list is empty too.
    assert "No due dates, needed-by dates or cycle ends" in section(html, "ahead")


def test_another_organisations_rows_never_show(client_in, units, cycle, plan):
    other = org_services.organisation_create(slug="globex", name="Globex")
    theirs = org_services.unit_create(organisation=other, actor=None, name="Product", key="product")
    mkt = org_services.unit_create(organisation=other, actor=None, name="Sales", key="sales")
    c2 = goals.cycle_create(
        organisation=other,
        actor=None,
        name="Their sprint",
        key="s",
        kind="week",
        start=cycle.start,
        end=cycle.end,
    )
    o = goals.objective_create(
        organisation=other, actor=None, cycle=c2, title="Their goal", level="company"
    )
    k = goals.key_result_create(
        objective=o,
        actor=None,
        title="Their secret KR",
        kind="increase",
        target=5,
        owner_unit=theirs,
    )
    alignment.dependency_request(
        organisation=other,
        actor=None,
        requester_item=k,
        provider_unit=mkt,
        title="Their secret request",
        needed_by=cycle.end,
    )
    html = text(client_in.get("/"))
    assert "Their secret KR" not in html
    assert "Their secret request" not in html
    assert "Their sprint" not in html


# ---- bounded queries ---------------------------------------------------------------------------


@pytest.fixture
def crowd(org, units, cycle, person):
    """n of everything My week shows, spread over the person's unit and its peers."""

    def build(n: int) -> None:
        today = timezone.localdate()
        o = goals.objective_create(
            organisation=org,
            actor=None,
            cycle=cycle,
            title=f"Crowd {n}",
            owner_unit=units["product"],
        )
        m = goals.objective_create(
            organisation=org,
            actor=None,
            cycle=cycle,
            title=f"Peer {n}",
            owner_unit=units["marketing"],
        )
        for i in range(n):
            mine = goals.key_result_create(
                objective=o,
                actor=None,
                title=f"Mine {i}",
                kind="increase",
                target=10,
                owner_unit=units["product"],
                co_owners=[units["support"]],
            )
            goals.checkin_record(key_result=mine, actor=None, value=i % 10, confidence=5)
            peer = goals.key_result_create(
                objective=m,
                actor=None,
                title=f"Peer KR {i}",
                kind="increase",
                target=10,
                owner_unit=units["marketing"],
            )
            asked = alignment.dependency_request(
                organisation=org,
                actor=None,
                requester_item=peer,
                provider_unit=units["product"],
                title=f"Ask {i}",
                needed_by=cycle.end,
            )
            if i % 2:
                alignment.dependency_accept(dependency=asked, actor=None, provider_item=mine)
            need = alignment.dependency_request(
                organisation=org,
                actor=None,
                requester_item=mine,
                provider_unit=units["marketing"],
                title=f"Need {i}",
                needed_by=today - dt.timedelta(days=1),
            )
            if i % 2:
                alignment.dependency_accept(dependency=need, actor=None)
            goals.initiative_create(
                organisation=org,
                actor=None,
                title=f"Task {i}",
                owner_unit=units["product"],
                due=today + dt.timedelta(days=i % 14),
            )
            draft = goals.objective_create(
                organisation=org,
                actor=None,
                cycle=cycle,
                title=f"Draft {i}",
                owner_unit=units["marketing"],
                state=Objective.State.DRAFT,
            )
            alignment.review_request(objective=draft, actor=None, units=[units["product"]])
        alignment.findings_refresh_full(org)

    return build


# Session, user, person, organisation, memberships; then one read per part of the page.
MY_WEEK_QUERIES = 13


@pytest.mark.parametrize("n", [3, 30])
def test_my_week_query_count_is_bounded(client_in, crowd, n, django_assert_max_num_queries):
    crowd(n)
    assert Finding.objects.filter(units__key="product").count() >= n
    with django_assert_max_num_queries(MY_WEEK_QUERIES):
        r = client_in.get("/")
    assert r.status_code == 200
    html = text(r)
    assert section(html, "checkins").count("<tr") == n + 1  # and the header row
    assert section(html, "answer").count('class="week-item week-dep') == (n + 1) // 2
    assert section(html, "reviews").count('class="week-item"') == n


def test_the_selector_serves_the_page(person, plan, deps):
    """The page shows what selectors.my_week reads; a check that both agree on the rule."""
    week = selectors.my_week(person)
    assert [r.kr.title for r in week.checkins] == ["Release shipped"]
    assert [line.dep.title for line in week.dependencies.to_answer] == [
        "Asked of Product",
        "Product's request re-dated",
    ]
    assert week.late_dependencies == 1
