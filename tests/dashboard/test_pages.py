"""The dashboard page and its wall screen over HTTP: sections, filters, fragments, 404s."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lockstep.dashboard import selectors
from lockstep.goals import services as goals
from lockstep.org import services as org_services
from tests.dashboard.conftest import grow_org

# Session, user, person, organisation; cycles running today; the dashboard selector's
# statements (tests/dashboard/test_selectors.py); heat-map columns and cells; the trend's
# KRs and check-ins; KPI owners; the filter's units and cycles.
PAGE_QUERIES = 21
WALL_QUERIES = 19  # no filter pickers
# Below a unit: the unit through access_unit in place of the company's row units, and the
# subtree's own objectives as heat-map columns.
BELOW_A_UNIT = 1


def _text(response) -> str:
    """The page's text without tags and with spaces collapsed, for phrase checks."""
    html = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _cell(response, row, objective) -> str:
    """The text of one heat-map cell."""
    html = response.content.decode()
    m = re.search(rf'<td[^>]*id="cell-{row.pk}-{objective.pk}"[^>]*>(.*?)</td>', html, re.S)
    assert m, f"no cell for {row.name} on {objective.title}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", m.group(1))).strip()


@pytest.fixture
def globex(db):
    other = org_services.organisation_create(slug="globex", name="Globex")
    unit = org_services.unit_create(organisation=other, actor=None, name="Sales", kind="department")
    today = dt.date.today()
    cycle = goals.cycle_create(
        organisation=other,
        actor=None,
        name="Now",
        kind="month",
        start=today - dt.timedelta(days=3),
        end=today + dt.timedelta(days=20),
    )
    return {"unit": unit, "cycle": cycle}


def test_company_dashboard_shows_every_section(client_in, board):
    r = client_in.get("/dashboard/")
    assert r.status_code == 200
    text = _text(r)
    for heading in (
        "Units by objectives",
        "Progress against pace",
        "At risk",
        "KPIs",
        "Dependency health",
    ):
        assert heading in text
    assert "Acme, every unit" in text and "cycle running today: Sprint" in text
    # The filter form: every control labelled.
    assert '<label for="filter-cycle">' in r.content.decode()
    assert '<label for="filter-unit">' in r.content.decode()


def test_heat_map_cells_are_units_key_results_on_each_objective(client_in, board):
    u, o = board["units"], board["objectives"]
    r = client_in.get("/dashboard/")
    # Product's subtree owns built (done), speed (9%, off track) and installs (0%) below
    # the launch: (1 + 0.09 + 0) / 3.
    assert _cell(r, u["product"], o["launch"]).startswith("36% ■ Off track")
    assert _cell(r, u["product"], o["grow"]).startswith("36% ■ Off track")
    assert _cell(r, u["marketing"], o["launch"]).startswith("80% ● On track")
    # Marketing on the company objective: visits (80%) and the brand guide (not started).
    assert _cell(r, u["marketing"], o["grow"]).startswith("40% ● On track")
    assert _cell(r, u["support"], o["grow"]).startswith("100% ✓ Done")
    assert "no key results" in _cell(r, u["support"], o["launch"])
    # Each cell links to its objective and names its unit and objective for screen readers.
    html = r.content.decode()
    assert f'href="/objectives/{o["launch"].pk}/"' in html
    assert "Marketing on “Launch”, 1 key result" in _text(r)


def test_unit_filter_shows_the_units_below_and_their_objectives(client_in, board):
    u, o = board["units"], board["objectives"]
    r = client_in.get("/dashboard/", {"unit": u["product"].pk})
    assert r.status_code == 200
    text = _text(r)
    assert "Product and the units below it" in text
    assert _cell(r, u["web"], o["launch"]).startswith("9% ■ Off track")
    assert _cell(r, u["app"], o["launch"]).startswith("0% ○ Not started")
    assert f'id="cell-{u["marketing"].pk}-' not in r.content.decode()
    # The wall keeps the filter.
    assert f'href="/dashboard/wall/?unit={u["product"].pk}"' in r.content.decode()


def test_a_cycle_without_objectives_shows_empty_sections(client_in, board, org):
    past = goals.cycle_create(
        organisation=org,
        actor=None,
        name="Last year",
        kind="month",
        start=dt.date(2020, 1, 1),
        end=dt.date(2020, 1, 31),
    )
    r = client_in.get("/dashboard/", {"cycle": past.pk})
    assert r.status_code == 200
    text = _text(r)
    assert "Last year" in text
    assert "No shared or company objectives in these cycles." in text
    assert "No dependencies between these units needed in these cycles." in text
    assert "No key results owned in this scope in these cycles." in text


def test_another_organisations_unit_or_cycle_is_not_found(client_in, board, globex):
    for params in ({"unit": globex["unit"].pk}, {"cycle": globex["cycle"].pk}):
        for path in ("/dashboard/", "/dashboard/wall/", "/dashboard/wall/panel/"):
            r = client_in.get(path, params)
            assert r.status_code == 404, (path, params)
            assert "Globex" not in r.content.decode() and "Sales" not in r.content.decode()


def test_an_unreadable_filter_is_named_and_left_out(client_in, board, unchanged):
    with unchanged():
        r = client_in.get("/dashboard/", {"unit": "product", "cycle": "-1"})
    assert r.status_code == 400
    text = _text(r)
    assert "The unit filter “product” is not a unit id, so it was left out." in text
    assert "The cycle filter “-1” is not a cycle id, so it was left out." in text
    assert "Acme, every unit" in text  # the company, as without the filter


def test_kpis_owned_jointly_sit_side_by_side_first(client_in, board, org):
    u = board["units"]
    for name, lo, hi in (("Acquisition cost", 0, 120), ("Lifetime value", 600, None)):
        kpi = goals.kpi_create(
            organisation=org,
            actor=None,
            name=name,
            measure="EUR",
            healthy_min=lo,
            healthy_max=hi,
            owner_units=[u["marketing"], u["product"]],
        )
        goals.kpi_point_record(kpi=kpi, actor=None, value=130.0 if hi else 700.0)
    r = client_in.get("/dashboard/")
    text = _text(r)
    joint = text.index("Owned jointly by Marketing and Product")
    assert joint < text.index("Acquisition cost") < text.index("Lifetime value")
    assert text.index("Lifetime value") < text.index("Reach")  # a single owner's group later
    assert "130 EUR" in text and "Healthy: 0 to 120 EUR" in text
    assert "Healthy: at least 600 EUR" in text
    assert "■ Out of range" in text and "✓ In range" in text
    # Each KPI has its sparkline, titled, and its numbers as text.
    assert r.content.decode().count('<svg class="spark"') == 5
    assert "Latest 12 values" in text  # KPI_POINTS_SHOWN of the 14


def test_at_risk_list_links_each_finding(client_in, board):
    r = client_in.get("/dashboard/")
    html, text = r.content.decode(), _text(r)
    assert text.index("new-error") < text.index("old-error") < text.index("brand-warning")
    assert "product-info" not in text  # info findings are not at risk
    assert re.search(r'href="/findings/\?code=TEST#finding-\d+">new-error</a>', html)
    assert "Web team · since" in text  # the units a finding names


def test_dependency_health_counts_each_pair(client_in, board):
    r = client_in.get("/dashboard/")
    rows = {
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", m)).strip()
        for m in re.findall(
            r"<tr(?: class=\"dash-deps__trouble\")?>(.*?)</tr>", r.content.decode(), re.S
        )
    }
    assert "Web team → Marketing ▲ Trouble 0 1 1 0 0 0" in rows
    assert "Marketing → Product ▲ Trouble 0 0 0 1 0 0" in rows
    assert "Web team → Support 1 0 0 0 0 0" in rows
    assert "Marketing → Support 0 0 0 0 0 1" in rows


def test_trend_is_drawn_with_its_numbers(client_in, board):
    r = client_in.get("/dashboard/")
    html, text = r.content.decode(), _text(r)
    assert '<svg class="chart"' in html and "Progress against pace, " in html
    # Every KR of the cycle now: (0.45 + 0.8 + 1 + 0.09 + 0 + 0 + 1) / 7.
    assert "Now 48% against a pace of" in text and "over 7 key results" in text
    assert "The numbers, week by week" in text


def test_a_scope_with_too_many_krs_gets_no_trend(client_in, board, monkeypatch):
    monkeypatch.setattr(selectors, "TREND_KRS", 3)
    r = client_in.get("/dashboard/")
    assert "More than 3 key results in this scope" in _text(r)
    assert '<svg class="chart"' not in r.content.decode()


def test_heat_map_says_when_columns_are_capped(client_in, board, monkeypatch):
    monkeypatch.setattr(selectors, "HEAT_COLUMNS", 1)
    r = client_in.get("/dashboard/")
    assert "Showing the first 1 of 2 objectives (company and shared first)." in _text(r)
    assert f'id="cell-{board["units"]["marketing"].pk}-{board["objectives"]["launch"].pk}"' not in (
        r.content.decode()
    )


def test_wall_screen_refreshes_itself_without_the_navigation(client_in, board):
    r = client_in.get("/dashboard/wall/", {"refresh": "5"})
    assert r.status_code == 200
    html = r.content.decode()
    assert 'class="wall"' in html
    assert 'hx-get="/dashboard/wall/panel/"' in html and 'hx-trigger="every 5s"' in html
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    assert 'class="site-nav"' not in html and "site-footer" not in html
    assert "Units by objectives" in html and "refreshes every 5 s" in _text(r)


@pytest.mark.parametrize(
    ("given", "seconds"), [("1", 2), ("0", 2), ("abc", 30), ("", 30), ("90", 90)]
)
def test_wall_refresh_interval_has_a_floor_and_a_default(client_in, board, given, seconds):
    r = client_in.get("/dashboard/wall/", {"refresh": given})
    assert f'hx-trigger="every {seconds}s"' in r.content.decode()


def test_wall_keeps_its_filters_in_the_poll_and_by_query(client_in, board):
    product = board["units"]["product"]
    r = client_in.get("/dashboard/", {"wall": "1", "unit": product.pk, "refresh": "3"})
    html = r.content.decode()
    assert 'class="wall"' in html and 'hx-trigger="every 3s"' in html
    assert f'hx-get="/dashboard/wall/panel/?unit={product.pk}"' in html


def test_wall_panel_is_a_fragment_with_fresh_numbers(client_in, board):
    before = client_in.get("/dashboard/wall/panel/")
    assert before.status_code == 200
    html = before.content.decode()
    assert "<html" not in html and "Units by objectives" in html and "Updated" in html
    u, o = board["units"], board["objectives"]
    assert _cell(before, u["marketing"], o["launch"]).startswith("80%")
    goals.checkin_record(key_result=board["krs"]["visits"], actor=None, value=5000, confidence=9)
    after = client_in.get("/dashboard/wall/panel/")
    assert _cell(after, u["marketing"], o["launch"]).startswith("100% ✓ Done")


def test_signed_out_visitors_go_to_sign_in(client, board):
    for path in ("/dashboard/", "/dashboard/wall/", "/dashboard/wall/panel/"):
        r = client.get(path)
        assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_page_query_count_does_not_grow_with_the_organisation(
    client_in, org, units, board, cycle, django_assert_max_num_queries
):
    product = board["units"]["product"]

    def counts() -> tuple[int, ...]:
        out = []
        for path, params in (
            ("/dashboard/", {}),
            ("/dashboard/", {"unit": product.pk}),
            ("/dashboard/wall/", {}),
            ("/dashboard/wall/panel/", {"unit": product.pk}),
        ):
            with CaptureQueriesContext(connection) as ctx:
                assert client_in.get(path, params).status_code == 200
            out.append(len(ctx.captured_queries))
        return tuple(out)

    small = counts()
    grow_org(org, units, cycle, 16)  # 32 more units, 64 KRs, 32 KPIs, dependencies, findings
    assert counts() == small
    assert small == (
        PAGE_QUERIES,
        PAGE_QUERIES + BELOW_A_UNIT,
        WALL_QUERIES,
        WALL_QUERIES + BELOW_A_UNIT,
    )
    with django_assert_max_num_queries(PAGE_QUERIES):
        r = client_in.get("/dashboard/")
    assert r.content.decode().count('class="heat__cell') >= 17 * 2  # 17 rows by 2 columns
