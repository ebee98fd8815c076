"""HTTP-level tests of the objective page's history charts, dependencies and findings."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from lockstep.alignment import services as alignment
from lockstep.alignment.models import Finding
from lockstep.goals import selectors
from lockstep.goals import services as goals
from lockstep.goals.models import KeyResult
from lockstep.org import services as org_services

HTMX = {"HTTP_HX_REQUEST": "true"}


def text(response) -> str:
    return response.content.decode()


def page(client, objective) -> str:
    r = client.get(f"/objectives/{objective.pk}/")
    assert r.status_code == 200
    return text(r)


def kr_block(html: str, kr: KeyResult) -> str:
    start = html.index(f'<tbody id="kr-{kr.pk}"')
    return html[start : html.index("</tbody>", start)]


def section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    return html[start : html.find("</section>", start)]


def at_day(cycle, day: float) -> dt.datetime:
    """A moment `day` days after the cycle's first midnight (in the test's UTC zone)."""
    start = dt.datetime.combine(cycle.start, dt.time(), tzinfo=dt.UTC)
    return start + dt.timedelta(days=day)


# ---- history charts -------------------------------------------------------------------


def test_each_kr_has_a_history_chart_with_check_ins_pace_and_forecast(client_in, launch, cycle):
    visits = launch["visits"]
    for day, value in ((1, 300), (3, 700), (5, 1000)):
        goals.checkin_record(
            key_result=visits, actor=None, value=value, confidence=6, at=at_day(cycle, day)
        )
    block = kr_block(page(client_in, launch["shared"]), visits)
    chart = block[block.index("<svg") : block.index("</svg>")]
    assert 'role="img"' in chart and "<title" in chart
    assert "History of Product-page visits" in chart and "3 check-ins, the last at 20%" in chart
    for kind in ("actual", "pace", "forecast"):
        assert f"chart__line--{kind}" in chart
    assert chart.count('class="chart__dot chart__dot--actual"') == 3
    # The same numbers as text: each check-in with its value and progress, pace, forecast.
    numbers = selectors.kr_numbers(
        KeyResult.objects.select_related("objective__cycle").get(pk=visits.pk),
        organisation=visits.organisation,
    )
    for value, pct in (("300 visits", "6%"), ("700 visits", "14%"), ("1,000 visits", "20%")):
        assert f"<strong>{value}</strong>, {pct}</li>" in block
    forecast = f"{round(numbers.forecast_progress * 100)}%"
    assert f"Forecast at the due date: {forecast}" in block
    assert f"Forecast {forecast} by" in block  # beside the progress bar
    assert numbers.forecast_progress < 1 and "Likely miss" in block  # committed, short of 100%


def test_a_kr_without_check_ins_shows_the_pace_line_alone(client_in, launch):
    block = kr_block(page(client_in, launch["shared"]), launch["csat"])
    chart = block[block.index("<svg") : block.index("</svg>")]
    assert "No check-ins yet." in chart
    assert "chart__line--pace" in chart
    assert "chart__line--actual" not in chart and "chart__line--forecast" not in chart
    assert "Check-ins" not in chart  # no empty line in the legend
    assert "No forecast before the first check-in" in block


def test_the_chart_points_follow_the_core_formulas(launch, cycle):
    # The pace line runs from 0 at the cycle start to 1 at the end of the due day; the
    # forecast ends on the KRNumbers forecast (core.forecast) of the same KR.
    visits = launch["visits"]
    for day, value in ((2, 1000), (6, 2600)):
        goals.checkin_record(
            key_result=visits, actor=None, value=value, confidence=6, at=at_day(cycle, day)
        )
    kr = KeyResult.objects.select_related("objective__cycle").get(pk=visits.pk)
    h = selectors.kr_histories([kr], organisation=kr.organisation)[kr.pk]
    due_days = (cycle.end - cycle.start).days + 1
    assert h.pace == [(0.0, 0.0), (pytest.approx(due_days), 1.0)]
    assert [(round(t, 6), v, p) for _, t, v, p in h.checkins] == [(2, 1000, 0.2), (6, 2600, 0.52)]
    n = selectors.kr_numbers(kr, organisation=kr.organisation)
    assert h.forecast is not None
    assert h.forecast[0][0] == pytest.approx(6)
    assert h.forecast[-1] == (pytest.approx(due_days), pytest.approx(n.forecast_progress))


def test_an_htmx_check_in_redraws_the_chart(client_in, launch):
    kr = launch["visits"]
    r = client_in.post(
        f"/key-results/{kr.pk}/checkin/", {"value": "2500", "confidence": "7"}, **HTMX
    )
    assert r.status_code == 200
    html = text(r)
    assert html.startswith(f'<tbody id="kr-{kr.pk}"')
    assert "1 check-ins, the last at 50%" in html
    assert html.count('class="chart__dot chart__dot--actual"') == 1  # one check-in: one dot


# ---- dependencies ---------------------------------------------------------------------


@pytest.fixture
def deps(org, units, cycle, launch, person):
    """Marketing's visits KR waits on Product; Support asks Product's KR of this objective."""
    needs = alignment.dependency_request(
        organisation=org,
        actor=None,
        requester_item=launch["visits"],
        provider_unit=units["product"],
        title="Feature X live on the product page",
        needed_by=cycle.end - dt.timedelta(days=1),
    )
    other = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="Help centre", owner_unit=units["support"]
    )
    articles = goals.key_result_create(
        objective=other,
        actor=None,
        title="Articles written",
        kind="increase",
        target=10,
        owner_unit=units["support"],
    )
    gives = alignment.dependency_request(
        organisation=org,
        actor=None,
        requester_item=articles,
        provider_unit=units["product"],
        title="Screenshots of Feature X",
        needed_by=cycle.start + dt.timedelta(days=2),  # already past: overdue
    )
    alignment.dependency_accept(dependency=gives, actor=None, provider_item=launch["tested"])
    withdrawn = alignment.dependency_request(
        organisation=org,
        actor=None,
        requester_item=launch["visits"],
        provider_unit=units["support"],
        title="A request taken back",
        needed_by=cycle.end,
    )
    alignment.dependency_cancel(dependency=withdrawn, actor=None)
    return {"needs": needs, "gives": gives, "withdrawn": withdrawn, "other": other}


def test_dependencies_in_and_out(client_in, launch, deps):
    html = page(client_in, launch["shared"])
    needs = section(html, "needs-heading")
    gives = section(html, "gives-heading")
    assert f'href="/dependencies/{deps["needs"].pk}/"' in needs
    assert "Feature X live on the product page" in needs and "Requested" in needs
    assert "From <strong>Product</strong>" in needs
    assert f'href="#kr-{launch["visits"].pk}"' in needs
    assert f'href="/dependencies/{deps["gives"].pk}/"' in gives
    assert "For <strong>Support</strong>" in gives and "Accepted" in gives
    assert f'href="#kr-{launch["tested"].pk}"' in gives
    assert "Overdue" in gives and "Overdue" not in needs
    assert "A request taken back" not in html  # withdrawn: binds no one
    # The requesting objective lists it the other way round.
    assert "Screenshots of Feature X" in section(page(client_in, deps["other"]), "needs-heading")


def test_no_dependencies_says_so(client_in, launch):
    html = page(client_in, launch["brand"])
    assert "None of its key results waits on another unit." in html
    assert "No other unit's request is delivered through its key results." in html


# ---- findings -------------------------------------------------------------------------


def finding(org, code, severity, subject_type, subject_id, title, **extra) -> Finding:
    now = timezone.now()
    return Finding.objects.create(
        organisation=org,
        key=f"{code}:{subject_type}:{subject_id}",
        code=code,
        severity=severity,
        subject_type=subject_type,
        subject_id=subject_id,
        title=title,
        first_seen_at=now,
        last_seen_at=now,
        **extra,
    )


def test_findings_about_the_objective_its_krs_and_its_dependencies(client_in, org, launch, deps):
    Finding.objects.all().delete()  # only the ones below
    finding(
        org,
        "LIKELY_MISS",
        "warning",
        "kr",
        launch["visits"].pk,
        "Visits will likely miss",
        explanation=["Forecast 60% by the due date"],
        suggestion="Add an initiative",
    )
    finding(org, "NO_ENDORSEMENT", "error", "objective", launch["shared"].pk, "Nobody endorsed it")
    finding(org, "DEPENDENCY_TOO_LATE", "error", "dependency", deps["needs"].pk, "Comes too late")
    finding(org, "OFF_PACE", "warning", "objective", launch["brand"].pk, "Brand is off pace")
    html = page(client_in, launch["shared"])
    found = section(html, "findings-heading")
    # Most severe first; a KR's finding links to the KR's row; the why and the what to do.
    assert found.index("Nobody endorsed it") < found.index("Visits will likely miss")
    assert f'on key result <a href="#kr-{launch["visits"].pk}">' in found
    assert "Forecast 60% by the due date" in found and "Add an initiative" in found
    assert "Error" in found and "Warning" in found  # severity in words
    assert "Brand is off pace" not in html  # about another objective
    # A dependency's finding shows with the dependency.
    assert "Comes too late" in section(html, "needs-heading") and "Comes too late" not in found


def test_no_findings_says_so(client_in, launch):
    Finding.objects.all().delete()
    html = page(client_in, launch["brand"])
    assert "The alignment engine has found nothing wrong" in html


# ---- other organisations --------------------------------------------------------------


def test_another_organisations_rows_never_show(client_in, org, launch):
    globex = org_services.organisation_create(slug="globex", name="Globex")
    unit = org_services.unit_create(organisation=globex, actor=None, name="Sales", kind="team")
    # A finding of another organisation that happens to name the same subject id.
    finding(globex, "OFF_PACE", "error", "objective", launch["shared"].pk, "Secret finding")
    assert "Secret finding" not in page(client_in, launch["shared"])
    cycle = goals.cycle_create(
        organisation=globex,
        actor=None,
        name="Now",
        kind="month",
        start=dt.date.today() - dt.timedelta(days=2),
        end=dt.date.today() + dt.timedelta(days=20),
    )
    secret = goals.objective_create(
        organisation=globex, actor=None, cycle=cycle, title="Secret plan", owner_unit=unit
    )
    r = client_in.get(f"/objectives/{secret.pk}/")
    assert r.status_code == 404 and "Secret plan" not in text(r)


# ---- query count: an N+1 fails here ----------------------------------------------------


@pytest.fixture
def long_history(org, units, cycle, person):
    """One objective with 5 KRs of 30 check-ins each, 10 dependencies and 10 findings."""
    objective = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Busy objective",
        level="shared",
        contributors=[units["product"], units["marketing"]],
    )
    krs = []
    for i in range(5):
        kr = goals.key_result_create(
            objective=objective,
            actor=None,
            title=f"Busy KR {i}",
            kind="increase",
            target=300,
            owner_unit=units["product"] if i % 2 else units["marketing"],
            co_owners=[units["support"]],
        )
        for k in range(30):
            goals.checkin_record(
                key_result=kr,
                actor=person,
                value=10 * (k + 1),
                confidence=5,
                at=at_day(cycle, 0.25 * (k + 1)),
                note=f"step {k}",
            )
        krs.append(kr)
    deps = [
        alignment.dependency_request(
            organisation=org,
            actor=None,
            requester_item=krs[i % 5],
            provider_unit=units["support"],
            title=f"Need {i}",
            needed_by=cycle.end,
        )
        for i in range(10)
    ]
    # After the requests: each one refreshes the stored findings of its scope.
    Finding.objects.all().delete()
    for i, dep in enumerate(deps):
        finding(org, "DEPENDENCY_TOO_LATE", "warning", "dependency", dep.pk, f"Late {i}")
    return objective


# Measured: the 22 of test_pages.OBJECTIVE_PAGE_QUERIES for a one-level objective (the
# session, person and organisation; the objective with its contributors and links; the live
# roll-up; the KRs with their co-owners, latest check-ins and whole histories; the
# dependencies and the findings; units; activity), whatever the number of check-ins,
# dependencies or findings.
OBJECTIVE_PAGE_QUERIES = 22


def test_objective_page_query_count(client_in, long_history, django_assert_max_num_queries):
    with django_assert_max_num_queries(OBJECTIVE_PAGE_QUERIES):
        html = page(client_in, long_history)
    assert html.count('class="chart__dot chart__dot--actual"') == 150
    assert len(re.findall(r'href="/dependencies/\d+/"', html)) == 10
    assert html.count("Late ") >= 10


def test_the_objective_page_and_list_link_to_the_map(client_in, launch, cycle):
    shared = launch["shared"]
    html = page(client_in, shared)
    assert f'href="/map/?cycle={cycle.pk}#map-o{shared.pk}"' in html
    # The link lands on the objective's card.
    assert f'id="map-o{shared.pk}"' in text(client_in.get(f"/map/?cycle={cycle.pk}"))
    assert 'href="/map/?cycle=all"' in text(client_in.get("/objectives/?cycle=all"))
