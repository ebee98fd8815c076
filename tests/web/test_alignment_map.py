"""HTTP-level tests of the alignment map: the tree, its filters, search, and its query count."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from lockstep.goals import services as goals
from lockstep.goals.models import Objective
from lockstep.org import services as org_services

MAP = "/map/"


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def item(html: str, objective: Objective, place: int = 1) -> str:
    """The markup of one place an objective takes on the map, up to its first nested list."""
    dom_id = f"map-o{objective.pk}" + (f"-{place}" if place > 1 else "")
    start = html.index('<li class="map__item')
    start = html.index(f'id="{dom_id}"', start)
    end = html.find('<li class="map__item', start + 1)
    return html[start : end if end != -1 else len(html)]


def details_open(html: str, objective: Objective) -> bool:
    chunk = item(html, objective)
    tag = re.search(r"<details[^>]*>", chunk)
    assert tag, f"no collapsible part for {objective.title}"
    return " open" in tag.group(0)


def order(html: str, *needles: str) -> list[int]:
    return [html.index(n) for n in needles]


# ---- the tree ---------------------------------------------------------------------------


def test_map_needs_sign_in(db):
    r = Client().get(MAP)
    assert r.status_code == 302 and r.url.startswith("/login/")


def test_map_draws_company_objectives_down_to_key_results(client_in, launch):
    html = text(client_in.get(MAP))
    company, shared, brand = launch["company"], launch["shared"], launch["brand"]
    assert "<h1>Alignment map</h1>" in html
    # Company first, then what contributes to it, nested inside its collapsible part.
    a, b, c = order(
        html, f'id="map-o{company.pk}"', f'id="map-o{shared.pk}"', f'id="map-o{brand.pk}"'
    )
    assert a < b and a < c
    assert f'aria-label="Objectives contributing to {company.title}"' in html
    assert f'href="/objectives/{shared.pk}/"' in html
    # Every card has a status word with its shape, and a progress bar with the pace tick.
    for o in (company, shared, brand):
        card = item(html, o)
        assert 'class="status status--' in card and "status__shape" in card
        assert 'class="bar__fill' in card and 'class="bar__pace"' in card
    # The shared objective names each contributing unit with its share.
    shared_card = item(html, shared)
    for unit in ("Product", "Marketing", "Support"):
        assert f'<span class="map-shares__unit">{unit}</span> 0%' in shared_card
    # Its KRs link to their rows on the objective page; the weighted link says its weight.
    for kr in ("tested", "visits", "csat"):
        assert f'href="/objectives/{shared.pk}/#kr-{launch[kr].pk}"' in html
    assert "weight 0.5" in item(html, brand)
    assert "3 not started" in shared_card  # the stored count of its KRs by status
    # Works without JavaScript: native disclosure, the top level open, deeper levels closed.
    assert details_open(html, company)
    assert not details_open(html, shared)


def test_map_reads_the_stored_numbers(client_in, launch):
    # The stored roll-up is what the map shows (never a per-card recomputation).
    Objective.objects.filter(pk=launch["shared"].pk).update(progress=0.42, status="at_risk")
    card = item(text(client_in.get(MAP)), launch["shared"])
    assert "42%" in card and "At risk" in card


def test_objectives_aligned_to_nothing_come_last_in_their_own_group(
    client_in, org, units, cycle, launch
):
    loose = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Tidy the wiki",
        owner_unit=units["support"],
    )
    html = text(client_in.get(MAP))
    heading = html.index("Not aligned to any objective")
    assert html.index(f'id="map-o{loose.pk}"') > heading
    assert html.index(f'id="map-o{launch["company"].pk}"') < heading
    assert html.index(f'id="map-o{launch["brand"].pk}"') < heading


def test_an_objective_with_two_parents_appears_under_both_and_its_krs_once(
    client_in, org, units, cycle, launch, person
):
    other = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Keep customers",
        level="company",
        owner_unit=units["acme"],
    )
    goals.objective_update(
        objective=launch["shared"], actor=person, parents=[(launch["company"], 1.0), (other, 1.0)]
    )
    html = text(client_in.get(MAP))
    shared = launch["shared"]
    assert f'id="map-o{shared.pk}"' in html and f'id="map-o{shared.pk}-2"' in html
    assert html.count(f'id="map-o{shared.pk}-kr{launch["visits"].pk}"') == 1
    again = item(html, shared, place=2)
    assert f'href="#map-o{shared.pk}"' in again and "Also contributes elsewhere" in again


# ---- filters --------------------------------------------------------------------------


@pytest.fixture
def cycles(org, cycle):
    """A past month and a quarter that holds the running sprint."""
    past = goals.cycle_create(
        organisation=org,
        actor=None,
        name="Last month",
        kind="month",
        start=cycle.start - dt.timedelta(days=60),
        end=cycle.start - dt.timedelta(days=31),
    )
    quarter = goals.cycle_create(
        organisation=org,
        actor=None,
        name="This quarter",
        kind="quarter",
        start=cycle.start - dt.timedelta(days=20),
        end=cycle.end + dt.timedelta(days=40),
    )
    return {"past": past, "quarter": quarter}


def test_the_cycle_filter(client_in, org, units, cycles, launch):
    old = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycles["past"],
        title="Past goal",
        owner_unit=units["support"],
    )
    html = text(client_in.get(MAP))  # the cycles running today
    assert "Past goal" not in html and launch["shared"].title in html
    assert "in the cycles running today" in html
    html = text(client_in.get(f"{MAP}?cycle={cycles['past'].pk}"))
    assert "Past goal" in html and launch["shared"].title not in html
    assert f'<option value="{cycles["past"].pk}" selected>' in html
    html = text(client_in.get(f"{MAP}?cycle=all"))
    assert "Past goal" in html and launch["shared"].title in html
    # A quarter's map holds the sprints inside it.
    html = text(client_in.get(f"{MAP}?cycle={cycles['quarter'].pk}"))
    assert launch["shared"].title in html and "Past goal" not in html
    assert old.pk  # kept for the assertions' readability


def test_the_unit_filter_keeps_the_units_subtree_and_the_path_up(
    client_in, org, units, teams, cycle, launch
):
    web_goal = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Faster checkout pages",
        owner_unit=teams["checkout"],
        parents=[(launch["shared"], 1.0)],
    )
    html = text(client_in.get(f"{MAP}?unit={teams['web'].pk}"))
    # The squad below the web team owns it; the shared and company objectives above it
    # stay in view as context; the marketing objective beside them does not.
    assert "Faster checkout pages" in html
    for o in (launch["shared"], launch["company"]):
        assert "shown for context" in item(html, o)
        assert details_open(html, o)
    assert launch["brand"].title not in html
    assert "shown for context" not in item(html, web_goal)
    # Product's subtree holds the web team, and Product contributes to the shared objective.
    html = text(client_in.get(f"{MAP}?unit={units['product'].pk}"))
    assert "Faster checkout pages" in html
    assert "shown for context" not in item(html, launch["shared"])
    assert "owned or shared by Product and the units below it" in html


def test_search_marks_matches_and_opens_the_way_to_them(client_in, launch):
    html = text(client_in.get(f"{MAP}?q=VISITS"))
    visits = launch["visits"]
    assert "Product-page <mark>visits</mark>" in html
    assert "1 match for “VISITS”" in html
    anchor = f"map-o{launch['shared'].pk}-kr{visits.pk}"
    assert f'href="#{anchor}"' in html and f'id="{anchor}"' in html
    assert details_open(html, launch["company"]) and details_open(html, launch["shared"])
    assert not details_open(html, launch["brand"])
    # Keys match too; the matching card is marked in words, not only by colour.
    html = text(client_in.get(f"{MAP}?q=feature-x"))
    assert "match" in item(html, launch["shared"]) and "map-card--match" in html
    html = text(client_in.get(f"{MAP}?q=nothing-like-it"))
    assert "0 matches" in html and "Nothing on this map matches" in html


def test_search_text_is_escaped(client_in, launch):
    html = text(client_in.get(MAP, {"q": "<script>alert(1)</script>"}))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


# ---- bad input and other organisations ----------------------------------------------------


@pytest.fixture
def globex(db):
    org = org_services.organisation_create(slug="globex", name="Globex")
    unit = org_services.unit_create(
        organisation=org, actor=None, name="Secret unit", kind="department"
    )
    today = dt.date.today()
    cycle = goals.cycle_create(
        organisation=org,
        actor=None,
        name="Secret cycle",
        kind="month",
        start=today - dt.timedelta(days=3),
        end=today + dt.timedelta(days=20),
    )
    objective = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Secret plan",
        level="company",
        owner_unit=unit,
    )
    return {"unit": unit, "cycle": cycle, "objective": objective}


def test_another_organisation_never_shows(client_in, launch, globex):
    for query in (
        "",
        "?cycle=all",
        f"?cycle={globex['cycle'].pk}",
        f"?unit={globex['unit'].pk}",
        "?q=secret",
    ):
        html = text(client_in.get(MAP + query))
        assert "Secret" not in html, query


@pytest.mark.parametrize(
    "query, message",
    [
        ("?cycle=abc", "There is no such cycle"),
        ("?cycle=999999", "There is no such cycle"),
        ("?unit=x1", "There is no such unit"),
        ("?unit=999999", "There is no such unit"),
        ("?q=" + "a" * 150, "The search is cut to its first 100 characters"),
    ],
)
def test_bad_filters_say_so_and_change_nothing(client_in, launch, unchanged, query, message):
    with unchanged():
        html = text(client_in.get(MAP + query))
    assert 'role="alert"' in html and message in html
    # The map still shows, with the defaults in place of what was not understood.
    assert launch["shared"].title in html


# ---- query count: an N+1 fails here ----------------------------------------------------


@pytest.fixture
def big_map(org, units, teams, cycle):
    """2 company, 8 shared and 30 unit objectives (40), 100 KRs, co-owners and contributors."""
    owners = [units["product"], units["marketing"], units["support"], teams["web"], teams["app"]]
    companies = [
        goals.objective_create(
            organisation=org,
            actor=None,
            cycle=cycle,
            title=f"Company goal {i}",
            level="company",
            owner_unit=units["acme"],
        )
        for i in range(2)
    ]
    shared = [
        goals.objective_create(
            organisation=org,
            actor=None,
            cycle=cycle,
            title=f"Shared goal {i}",
            level="shared",
            contributors=[owners[i % 5], owners[(i + 1) % 5]],
            parents=[(companies[i % 2], 1.0)] + ([(companies[1], 0.5)] if i == 0 else []),
        )
        for i in range(8)
    ]
    unit_goals = [
        goals.objective_create(
            organisation=org,
            actor=None,
            cycle=cycle,
            title=f"Unit goal {i}",
            owner_unit=owners[i % 5],
            parents=[(shared[i % 8], 1.0)] if i < 28 else [],
        )
        for i in range(30)
    ]
    # Three KRs per shared objective (24), three or two per unit objective (76).
    sizes = [3] * 8 + [3 if i < 16 else 2 for i in range(30)]
    n = 0
    for o, size in zip([*shared, *unit_goals], sizes, strict=True):
        owner = o.owner_unit or o.contributors.first()
        for _ in range(size):
            goals.key_result_create(
                objective=o,
                actor=None,
                title=f"KR {n}",
                kind="increase",
                target=100,
                owner_unit=owner,
                co_owners=[units["acme"]] if n % 3 == 0 else [],
            )
            n += 1
    return {"companies": companies, "shared": shared, "unit_goals": unit_goals}


# Measured: the session, user, person and organisation every signed-in page reads; the
# cycles and units of the filters; the objectives in scope and their contributors; the links
# up from them; the stored numbers (KRs, co-owners); the KRs drawn. The unit filter adds, per
# level of ancestors outside the scope, one read of links, then their objectives and
# contributors. None grows with the number of objectives, KRs or links.
MAP_QUERIES = 12
MAP_UNIT_QUERIES = 15


def test_map_query_count(client_in, big_map, django_assert_max_num_queries):
    from lockstep.goals.models import KeyResult

    assert Objective.objects.count() == 40 and KeyResult.objects.count() == 100
    with django_assert_max_num_queries(MAP_QUERIES):
        html = text(client_in.get(MAP))
    assert len(re.findall(r'class="map__item', html)) == 41  # shared goal 0 has two parents
    assert len(re.findall(r'class="map-kr[ "]', html)) == 100
    with django_assert_max_num_queries(MAP_QUERIES):
        text(client_in.get(f"{MAP}?q=KR 1&cycle=all"))


def test_map_unit_filter_query_count(client_in, big_map, teams, django_assert_max_num_queries):
    with django_assert_max_num_queries(MAP_UNIT_QUERIES):
        html = text(client_in.get(f"{MAP}?unit={teams['app'].pk}"))
    assert "shown for context" in html and "Unit goal 4" in html
