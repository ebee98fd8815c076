"""HTTP-level tests of the dependency map: units as boxes, dependencies as labelled links."""

from __future__ import annotations

import datetime as dt
import itertools
from html.parser import HTMLParser

import pytest
from django.test import Client

from lockstep.alignment import map_drawing, services, views
from lockstep.alignment.models import Dependency, Finding
from lockstep.goals import services as goals
from lockstep.goals.models import KeyResult
from lockstep.org import services as org_services
from lockstep.org.models import Unit

HTMX = {"HTTP_HX_REQUEST": "true"}
URL = "/dependencies/map/"


def text(response) -> str:
    return response.content.decode()


class Svg(HTMLParser):
    """The map's boxes and links, read back from the page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rects: list[dict[str, str]] = []
        self.links: list[dict[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "rect" and a.get("class") in ("node__box", "edge__box"):
            self.rects.append(a)
        if tag == "a" and a.get("class", "").split()[:1] in (["node"], ["edge"]):
            self.links.append(a)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def edges(self) -> list[dict[str, str]]:
        return [a for a in self.links if a["class"].startswith("edge")]

    def nodes(self) -> list[dict[str, str]]:
        return [a for a in self.links if a["class"].startswith("node")]

    def edge(self, words: str) -> dict[str, str]:
        [found] = [a for a in self.edges() if words in a["aria-label"]]
        return found

    def node(self, name: str) -> dict[str, str]:
        [found] = [a for a in self.nodes() if a["aria-label"].startswith(f"{name}:")]
        return found


def overlapping(rects: list[dict[str, str]]) -> list[tuple[dict, dict]]:
    def box(r):
        x, y = float(r["x"]), float(r["y"])
        return x, y, x + float(r["width"]), y + float(r["height"])

    out = []
    for a, b in itertools.combinations(rects, 2):
        ax0, ay0, ax1, ay1 = box(a)
        bx0, by0, bx1, by1 = box(b)
        if ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1:
            out.append((a, b))
    return out


def kr_of(unit: Unit, cycle, title: str | None = None) -> KeyResult:
    o = goals.objective_create(
        organisation=unit.organisation,
        actor=None,
        cycle=cycle,
        title=f"{unit.name} goal",
        owner_unit=unit,
    )
    return goals.key_result_create(
        objective=o,
        actor=None,
        title=title or f"{unit.name} result",
        kind="increase",
        target=10,
        owner_unit=unit,
    )


def ask(kr: KeyResult, provider: Unit, title: str, needed_by: dt.date) -> Dependency:
    return services.dependency_request(
        organisation=kr.organisation,
        actor=None,
        requester_item=kr,
        provider_unit=provider,
        title=title,
        needed_by=needed_by,
    )


@pytest.fixture
def web(org, units, cycle):
    """Marketing waits on Product, which waits on Support, which declined: a chain at risk.

    Beside it, Acme asks Marketing for three things (a grouped edge), one of them late,
    and one request of Support's to Acme was delivered long ago.
    """
    today = dt.date.today()
    krs = {k: kr_of(u, cycle) for k, u in units.items()}
    feature = ask(krs["marketing"], units["product"], "Feature live", cycle.end)
    services.dependency_accept(dependency=feature, actor=None, provider_item=krs["product"])
    docs = ask(krs["product"], units["support"], "Help articles", cycle.end - dt.timedelta(days=1))
    services.dependency_decline(dependency=docs, actor=None, reason="No writers")
    late = ask(krs["acme"], units["marketing"], "Press kit", today - dt.timedelta(days=2))
    services.dependency_accept(dependency=late, actor=None)
    ask(krs["acme"], units["marketing"], "Launch video", cycle.end)
    counter = ask(krs["acme"], units["marketing"], "Campaign plan", cycle.end)
    services.dependency_counter(
        dependency=counter, actor=None, counter_date=cycle.end - dt.timedelta(days=2)
    )
    done = ask(krs["support"], units["acme"], "Budget sign-off", cycle.end)
    services.dependency_accept(dependency=done, actor=None)
    services.dependency_deliver(dependency=done, actor=None)
    services.findings_refresh_full(org)
    return {
        "feature": feature,
        "docs": docs,
        "late": late,
        "counter": counter,
        "done": done,
        "krs": krs,
    }


# ---- the page --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_map_requires_sign_in():
    r = Client().get(URL)
    assert r.status_code == 302 and r.url.startswith("/login/")


def test_units_are_boxes_and_dependencies_labelled_links(client_in, web, units):
    r = client_in.get(URL)
    assert r.status_code == 200
    html = text(r)
    assert "<h1>Dependency map</h1>" in html
    assert 'aria-current="page">Dependency map</a>' in html
    svg = Svg(html)
    assert {n["aria-label"].split(":")[0] for n in svg.nodes()} == {
        "Acme",
        "Marketing",
        "Product",
        "Support",
    }
    feature = svg.edge("“Feature live”")
    # From the unit that needs to the unit that provides, with the date and the state.
    assert feature["aria-label"].startswith("Marketing needs “Feature live” from Product by ")
    assert "accepted" in feature["aria-label"]
    assert feature["href"] == f"/dependencies/{web['feature'].pk}/"
    assert "edge--accepted" in feature["class"]
    docs = svg.edge("“Help articles”")
    assert "edge--declined" in docs["class"] and "declined" in docs["aria-label"]
    # The label in the picture says the same in words, not colour alone.
    assert "Feature live</text>" in html
    assert "● Accepted · by " in html and "✖ Declined · by " in html
    # The delivered request is history: not on the default map.
    assert "Budget sign-off" not in html


def test_many_dependencies_between_one_pair_are_one_edge_with_a_count(client_in, web, units):
    html = text(client_in.get(URL))
    svg = Svg(html)
    group = svg.edge("Acme needs 3 things from Marketing")
    acme, marketing = units["acme"].pk, units["marketing"].pk
    assert group["href"] == f"#pair-{acme}-{marketing}"
    assert "edge--group" in group["class"]
    # Drawn in its most pressing state; every member named, with its state.
    assert "edge--late" in group["class"]
    for words in ("“Press kit”", "late", "“Launch video”", "requested", "“Campaign plan”"):
        assert words in group["aria-label"]
    assert ">3 dependencies</text>" in html
    assert "1 late, 1 countered, 1 requested" in html
    # The list shown on hover and focus, and the pair's rows in the table below.
    assert 'class="edge__tip"' in html and "Campaign plan · " in html
    assert f'<tbody id="pair-{acme}-{marketing}"' in html
    pair = html.split(f'<tbody id="pair-{acme}-{marketing}"')[1].split("</tbody>")[0]
    for dep in ("late", "counter"):
        assert f"/dependencies/{web[dep].pk}/" in pair
    assert "Launch video" in pair


def test_late_means_accepted_and_needed_before_today(client_in, web):
    html = text(client_in.get(URL))
    row = html.split(f'id="dep-row-{web["late"].pk}"')[1].split("</tr>")[0]
    assert "Accepted" in row and "Late" in row
    feature = html.split(f'id="dep-row-{web["feature"].pk}"')[1].split("</tr>")[0]
    assert "Late" not in feature


def test_the_chain_at_risk_is_marked_on_edges_units_and_in_the_table(
    client_in, web, units, teams, cycle, org
):
    calm = ask(kr_of(teams["web"], cycle), teams["app"], "Shared button styles", cycle.end)
    services.findings_refresh_full(org)
    assert Finding.objects.filter(code="UPSTREAM_AT_RISK").exists()
    html = text(client_in.get(URL))
    svg = Svg(html)
    assert "edge--risk" not in svg.edge("“Shared button styles”")["class"]
    assert "at-risk" not in svg.edge("“Shared button styles”")["aria-label"]
    for name in ("Web team", "App team"):
        assert "node--risk" not in svg.node(name)["class"]
    assert "None found" in html.split(f'id="dep-row-{calm.pk}"')[1].split("</tr>")[0]
    for title in ("“Feature live”", "“Help articles”"):
        edge = svg.edge(title)
        assert "edge--risk" in edge["class"] and "at-risk chain" in edge["aria-label"]
    # The press kit is overdue (DEPENDENCY_TOO_LATE): its group is marked, as some of it.
    group = svg.edge("Acme needs 3 things")
    assert "edge--risk" in group["class"] and "some on an at-risk chain" in group["aria-label"]
    for name in ("Acme", "Marketing", "Product", "Support"):
        node = svg.node(name)
        assert "node--risk" in node["class"] and "at-risk chain" in node["aria-label"]
    assert "▲ At-risk chain</text>" in html
    assert "▲ 3 on at-risk chains" in html
    video = Dependency.objects.get(title="Launch video")
    assert "None found" in html.split(f'id="dep-row-{video.pk}"')[1].split("</tr>")[0]
    row = html.split(f'id="dep-row-{web["late"].pk}"')[1].split("</tr>")[0]
    assert "Comes too late" in row
    # The table names the findings and links to them.
    row = html.split(f'id="dep-row-{web["docs"].pk}"')[1].split("</tr>")[0]
    declined = Finding.objects.get(code="DEPENDENCY_DECLINED", subject_id=web["docs"].pk)
    assert f"/findings/?code=DEPENDENCY_DECLINED#finding-{declined.pk}" in row
    assert "On an at-risk chain" in row
    # The key explains every line style and the mark.
    for word in ("Requested", "New date offered", "Accepted", "Late", "Declined", "Missed"):
        assert f"</span> {word}</li>" in html


def test_a_unit_link_narrows_the_map_to_its_neighbourhood(client_in, web, units):
    svg = Svg(text(client_in.get(URL)))
    product = units["product"].pk
    href = svg.node("Product")["href"]
    assert href == f"/dependencies/map/?unit={product}"
    html = text(client_in.get(href))
    svg = Svg(html)
    assert {n["aria-label"].split(":")[0] for n in svg.nodes()} == {
        "Marketing",
        "Product",
        "Support",
    }
    assert svg.node("Product").get("aria-current") == "true"
    assert "Press kit" not in html
    assert "what Product needs and owes" in html
    assert 'href="/dependencies/map/">Show every unit</a>' in html
    # The other filters carry over when another unit is chosen.
    svg = Svg(text(client_in.get(f"{URL}?state=declined&unit={product}")))
    assert (
        svg.node("Support")["href"]
        == f"/dependencies/map/?state=declined&unit={units['support'].pk}"
    )


def test_filter_by_state(client_in, web):
    html = text(client_in.get(f"{URL}?state=late"))
    assert "Press kit" in html and "Feature live" not in html
    html = text(client_in.get(f"{URL}?state=delivered"))
    assert "Budget sign-off" in html and "Feature live" not in html
    assert "edge--delivered" in html
    html = text(client_in.get(f"{URL}?state=all"))
    assert "Budget sign-off" in html and "Feature live" in html
    html = text(client_in.get(f"{URL}?state=accepted"))
    assert "Feature live" in html and "Press kit" in html and "Launch video" not in html


def test_filter_by_cycle_keeps_what_is_needed_within_it(client_in, web, org, cycle):
    later = goals.cycle_create(
        organisation=org,
        actor=None,
        name="Next sprint",
        key="next",
        kind="two_weeks",
        start=cycle.end + dt.timedelta(days=1),
        end=cycle.end + dt.timedelta(days=14),
    )
    html = text(client_in.get(f"{URL}?cycle={cycle.pk}"))
    assert "Feature live" in html and ", needed in Sprint" in html
    html = text(client_in.get(f"{URL}?cycle={later.pk}"))
    assert "Feature live" not in html and "No dependency matches these filters" in html
    assert 'href="/dependencies/map/">Show every open dependency</a>' in html


def test_the_filter_form_labels_every_control_and_keeps_the_choice(client_in, web, units, cycle):
    html = text(client_in.get(f"{URL}?cycle={cycle.pk}&state=late&unit={units['acme'].pk}"))
    for name in ("map-cycle", "map-state", "map-unit"):
        assert f'<label for="{name}">' in html and f'id="{name}"' in html
    assert f'<option value="{cycle.pk}" selected>' in html
    assert '<option value="late" selected>' in html
    assert f'<option value="{units["acme"].pk}" selected>' in html


def test_htmx_gets_the_result_alone(client_in, web):
    r = client_in.get(f"{URL}?state=late", **HTMX, HTTP_HX_TARGET="depmap-result")
    html = text(r)
    assert r.status_code == 200
    assert '<div id="depmap-result"' in html and "<html" not in html
    assert "Press kit" in html and "Feature live" not in html
    assert "HX-Request" in r["Vary"]
    # htmx restoring a page from history needs all of it.
    r = client_in.get(
        f"{URL}?state=late",
        **HTMX,
        HTTP_HX_TARGET="depmap-result",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )
    assert "<html" in text(r)


def test_unreadable_filters_are_said_and_the_defaults_shown(client_in, web):
    r = client_in.get(f"{URL}?state=bogus&cycle=x&unit=-1")
    html = text(r)
    assert r.status_code == 200
    assert 'role="alert"' in html and "Part of the filter was not understood" in html
    assert "“bogus” is not a state the map knows" in html
    assert "“x” is not a cycle" in html and "“-1” is not a unit" in html
    assert "Feature live" in html  # the default map


def test_another_organisations_unit_or_cycle_is_not_found(client_in, web):
    other = org_services.organisation_create(slug="globex", name="Globex")
    unit = org_services.unit_create(
        organisation=other, actor=None, name="Globex sales", key="sales", kind="department"
    )
    cycle = goals.cycle_create(
        organisation=other,
        actor=None,
        name="Their sprint",
        key="theirs",
        kind="two_weeks",
        start=dt.date.today(),
        end=dt.date.today() + dt.timedelta(days=13),
    )
    for query in (f"unit={unit.pk}", f"cycle={cycle.pk}", "unit=999999"):
        r = client_in.get(f"{URL}?{query}")
        assert r.status_code == 404, query
        assert "Globex" not in text(r)


def test_another_organisations_dependencies_never_show(client_in, web, cycle):
    other = org_services.organisation_create(slug="globex", name="Globex")
    a, b = (
        org_services.unit_create(organisation=other, actor=None, name=n, key=n, kind="team")
        for n in ("globex-a", "globex-b")
    )
    their_cycle = goals.cycle_create(
        organisation=other,
        actor=None,
        name="Their sprint",
        key="theirs",
        kind="two_weeks",
        start=cycle.start,
        end=cycle.end,
    )
    ask(kr_of(a, their_cycle), b, "Globex secret", cycle.end)
    html = text(client_in.get(f"{URL}?state=all"))
    assert "Globex secret" not in html and "globex-a" not in html


def test_no_dependencies_at_all(client_in, org, units):
    html = text(client_in.get(URL))
    assert "No dependency matches" in html and "dependency board" in html
    assert "<svg" not in html.split('id="depmap-result"')[1]


def test_the_navigation_leads_to_the_map(client_in, web):
    assert 'href="/dependencies/map/"' in text(client_in.get("/dependencies/"))


# ---- size and queries ------------------------------------------------------------------


@pytest.fixture
def crowd(org, units, cycle):
    """Twenty teams in four tiers asking the tiers below, some asking back up (cycles)."""

    def build(n_deps: int) -> None:
        teams = [
            org_services.unit_create(
                organisation=org,
                actor=None,
                name=f"{tier} team {i + 1}",
                key=f"{tier.lower()}-{i}",
                kind="team",
                parent=units["product"],
            )
            for tier in ("Sales", "Product", "Platform", "Operations")
            for i in range(5)
        ]
        krs = [kr_of(t, cycle) for t in teams]
        today = dt.date.today()
        for i in range(n_deps):
            tier, member = i % 3, (i // 3) % 5
            down = 2 if i % 7 == 0 and tier < 2 else 1
            target_tier = tier - 1 if i % 9 == 8 and tier > 0 else tier + down
            source, target = 5 * tier + member, 5 * target_tier + (member * 2 + i // 15) % 5
            dep = ask(
                krs[source],
                teams[target],
                f"Deliverable {i} for the launch",
                today + dt.timedelta(days=(i % 5)) - dt.timedelta(days=2 * (i % 2)),
            )
            state = i % 4
            if state == 1:
                services.dependency_accept(dependency=dep, actor=None)
            elif state == 2:
                services.dependency_decline(dependency=dep, actor=None, reason="No time")
            elif state == 3 and dep.needed_by != cycle.end:
                services.dependency_counter(dependency=dep, actor=None, counter_date=cycle.end)
        services.findings_refresh_full(org)

    return build


# Measured: session, user, person and organisation (4), cycles and units for the filters (2),
# the dependencies, the risk findings and the units' names (3), the findings badge (1).
MAP_QUERIES = 10


@pytest.mark.parametrize("n_deps", [10, 40])
def test_map_query_count_does_not_grow_with_the_map(
    client_in, crowd, n_deps, django_assert_max_num_queries
):
    crowd(n_deps)
    assert Dependency.objects.count() == n_deps
    with django_assert_max_num_queries(MAP_QUERIES):
        r = client_in.get(f"{URL}?state=all")
    assert r.status_code == 200
    svg = Svg(text(r))
    shown = sum(1 for e in svg.edges() if "edge--group" not in e["class"])
    grouped = [e for e in svg.edges() if "edge--group" in e["class"]]
    assert shown + sum(int(e["aria-label"].split(" needs ")[1].split()[0]) for e in grouped) == (
        n_deps
    )
    # Readable: no box overlaps another, and the picture has a size to scroll to.
    assert not overlapping(svg.rects)
    with django_assert_max_num_queries(MAP_QUERIES):
        client_in.get(f"{URL}?state=all", **HTMX, HTTP_HX_TARGET="depmap-result")


# ---- the findings page's way to the map -------------------------------------------------


def finding_card(html: str, finding: Finding) -> str:
    return html.split(f'id="finding-{finding.pk}"')[1].split('class="finding card')[0]


def test_findings_about_dependency_chains_link_to_the_map_around_them(client_in, web, units):
    html = text(client_in.get("/findings/"))
    # A finding about a dependency: the map around the unit that asked for it.
    declined = Finding.objects.get(code="DEPENDENCY_DECLINED")
    link = f'<a href="/dependencies/map/?unit={units["product"].pk}">See it on the dependency map'
    assert link in finding_card(html, declined)
    # A key result at risk upstream: the map around the unit that owns it.
    upstream = Finding.objects.get(
        code="UPSTREAM_AT_RISK", subject_type="kr", subject_id=web["krs"]["marketing"].pk
    )
    link = f'<a href="/dependencies/map/?unit={units["marketing"].pk}">See it on the dependency map'
    assert link in finding_card(html, upstream)
    # Findings about other things have no map link.
    others = Finding.objects.exclude(
        code__in=["UPSTREAM_AT_RISK", "SINGLE_POINT_OF_FAILURE", "OVER_CAPACITY"]
    ).exclude(code__startswith="DEPENDENCY_")
    assert others.exists()
    for f in others:
        assert "dependency map" not in finding_card(html, f)


def test_a_unit_many_depend_on_links_to_its_page_and_its_map(client_in, web, units, org, cycle):
    for asker in ("product", "support"):
        ask(web["krs"][asker], units["marketing"], f"Copy for {asker}", cycle.end)
    services.findings_refresh_full(org)
    marketing = units["marketing"].pk
    spof = Finding.objects.get(code="SINGLE_POINT_OF_FAILURE", subject_id=marketing)
    card = finding_card(text(client_in.get("/findings/")), spof)
    assert f'<a href="/units/{marketing}/">Marketing</a>' in card
    assert f'<a href="/dependencies/map/?unit={marketing}">See it on the dependency map' in card
    # The map around it says where the unit's own page is.
    html = text(client_in.get(f"{URL}?unit={marketing}"))
    assert f'<a href="/units/{marketing}/">Marketing\u2019s page</a>' in html


def test_a_map_too_crowded_to_read_asks_for_a_filter_and_keeps_the_list(
    client_in, web, monkeypatch
):
    monkeypatch.setattr(map_drawing, "MOST_LINES_DRAWN", 2)
    html = text(client_in.get(URL))
    assert "<svg" not in html.split('id="depmap-result"')[1]
    assert "These 3 lines are too many to draw legibly" in html
    assert "Feature live" in html and "Press kit" in html  # the list holds them all
    # Narrowed by a filter, the map is drawn again.
    html = text(client_in.get(f"{URL}?state=declined"))
    assert 'class="depmap__svg"' in html


def test_a_map_too_big_to_list_lists_the_soonest_and_says_how_many(client_in, web, monkeypatch):
    monkeypatch.setattr(views, "DEPENDENCIES_LISTED", 2)
    html = text(client_in.get(URL))
    assert "<svg" not in html.split('id="depmap-result"')[1]
    assert "<strong>5 dependencies</strong>" in html
    assert "These 5 dependencies are too many to draw legibly or list here" in html
    assert html.count('id="dep-row-') == 2
    assert "Press kit" in html  # needed soonest (before today)
