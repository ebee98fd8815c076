"""The dashboard's figures on a small organisation, and a query count that does not grow."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lockstep.dashboard.selectors import dashboard_of
from lockstep.goals.models import Objective
from lockstep.org.models import Organisation, Unit
from tests.dashboard.conftest import grow_org


def _counts(c):
    return (c.not_started, c.on_track, c.at_risk, c.off_track, c.done)


def _mean_progress(*keys):
    return sum(Objective.objects.get(key=k).progress for k in keys) / len(keys)


def test_company_dashboard(org, board, cycle):
    d = dashboard_of(org)
    u = board["units"]
    assert [c.pk for c in d.cycles] == [cycle.pk]
    assert [o.key for o in d.objectives] == ["grow"]
    grow = Objective.objects.get(key="grow")
    assert d.objectives[0].progress == grow.progress and d.objectives[0].status == "off_track"
    everything = ("grow", "launch", "web-goal", "app-goal", "brand", "care")
    assert d.figures.objectives == 6 and d.figures.pending == 0
    # not_started, on_track, at_risk, off_track, done
    assert _counts(d.figures.key_results) == (2, 1, 1, 1, 2) and d.figures.key_results.total == 7
    assert d.figures.progress == pytest.approx(_mean_progress(*everything))

    rows = {r.key: r.figures for r in d.units}
    assert [r.key for r in d.units] == ["marketing", "product", "support"]
    # A unit's objectives: those it (or a unit below it) owns or contributes to, once each.
    assert rows["product"].objectives == 3  # launch, web-goal, app-goal
    assert _counts(rows["product"].key_results) == (1, 1, 0, 1, 1)
    assert rows["product"].progress == pytest.approx(
        _mean_progress("launch", "web-goal", "app-goal")
    )
    assert rows["marketing"].objectives == 2  # launch, brand
    assert _counts(rows["marketing"].key_results) == (1, 1, 0, 0, 1)
    assert _counts(rows["support"].key_results) == (0, 0, 0, 0, 1)

    assert [f.title for f in d.at_risk] == [
        "new-error",
        "old-error",
        "brand-warning",
        "loose-warning",
    ]
    assert d.at_risk[0].unit_ids == [u["web"].pk]

    pairs = [
        (
            p.requester_unit_name,
            p.provider_unit_name,
            p.requested,
            p.accepted,
            p.late,
            p.declined,
            p.delivered,
            p.trouble,
        )
        for p in d.dependencies
    ]
    assert pairs == [
        ("Marketing", "Product", 0, 0, 0, 1, 0, 1),
        ("Web team", "Marketing", 0, 1, 1, 0, 0, 1),
        ("Web team", "Support", 1, 0, 0, 0, 0, 0),
        ("App team", "Marketing", 0, 1, 0, 0, 0, 0),
        ("Marketing", "Support", 0, 0, 0, 0, 1, 0),
    ]

    assert [k.name for k in d.kpis] == ["Page speed", "Calls", "Reach"]
    speed, calls, reach = d.kpis
    assert speed.healthy is False and calls.healthy is None and reach.healthy is True
    assert [p.value for p in reach.points] == [float(v) for v in range(7, 19)]


def test_unit_dashboard_covers_the_unit_and_the_units_below(org, board):
    u = board["units"]
    d = dashboard_of(org, unit=u["product"])
    assert [o.key for o in d.objectives] == ["launch"]  # contributed to; the teams own the rest
    assert d.figures.objectives == 3
    assert _counts(d.figures.key_results) == (1, 1, 0, 1, 1)
    assert [r.key for r in d.units] == ["app", "web"]
    assert [r.figures.objectives for r in d.units] == [1, 1]
    assert [_counts(r.figures.key_results) for r in d.units] == [(1, 0, 0, 0, 0), (0, 0, 0, 1, 0)]
    assert [f.title for f in d.at_risk] == ["new-error", "old-error"]
    assert {(p.requester_unit_name, p.provider_unit_name) for p in d.dependencies} == {
        ("Marketing", "Product"),
        ("Web team", "Marketing"),
        ("Web team", "Support"),
        ("App team", "Marketing"),
    }
    assert [k.name for k in d.kpis] == ["Page speed"]

    team = dashboard_of(org, unit=u["web"])
    assert team.units == [] and [o.key for o in team.objectives] == ["web-goal"]
    assert _counts(team.figures.key_results) == (0, 0, 0, 1, 0)


def test_objectives_without_stored_numbers_are_pending(org, board):
    Objective.objects.filter(key="web-goal").update(
        progress=None, status=None, kr_off_track=None, kr_not_started=None
    )
    d = dashboard_of(org)
    assert d.figures.pending == 1 and d.figures.objectives == 6
    assert d.figures.key_results.off_track == 0


def test_a_cycle_that_is_not_running_shows_nothing_of_today(org, board, cycle):
    import datetime as dt

    from lockstep.goals import services as goals

    old = goals.cycle_create(
        organisation=org,
        actor=None,
        name="Old",
        kind="month",
        start=cycle.start - dt.timedelta(days=60),
        end=cycle.start - dt.timedelta(days=30),
    )
    d = dashboard_of(org, cycle=old)
    assert d.objectives == [] and d.figures.key_results.total == 0 and d.dependencies == []
    assert [r.key for r in d.units] == ["marketing", "product", "support"]


def _by_definition(org, cycle, top):
    """Figures from the definition, in Python: a unit's objectives are those a unit of its
    subtree owns or contributes to, each once; the company holds every objective."""
    children: dict = {}
    for u in Unit.objects.filter(organisation=org):
        children.setdefault(u.parent_id, []).append(u.pk)

    def subtree(pk):
        out, todo = set(), [pk]
        while todo:
            out.add(todo[-1])
            todo.extend(children.get(todo.pop(), []))
        return out

    objectives = list(Objective.objects.filter(cycle=cycle, archived_at__isnull=True))
    links = {o.pk: set(o.contributors.values_list("pk", flat=True)) for o in objectives}

    def figures(units):
        mine = [
            o
            for o in objectives
            if units is None or o.owner_unit_id in units or links[o.pk] & units
        ]
        krs = tuple(sum(getattr(o, f"kr_{s}") or 0 for o in mine) for s in STATUSES)
        done = [o.progress for o in mine if o.progress is not None]
        return len(mine), krs, sum(done) / len(done) if done else None

    return figures(None), {pk: figures(subtree(pk)) for pk in top}


STATUSES = ("not_started", "on_track", "at_risk", "off_track", "done")


def _as_tuple(f):
    return f.objectives, _counts(f.key_results), f.progress


def test_rows_count_each_objective_once_whoever_owns_or_contributes(org, units, board, cycle):
    """Owned and contributed in one row, contributed twice in one row, unowned, owned by the
    company, and a root that is not a company: each objective once per row and once in all."""
    from lockstep.goals import services as goals
    from lockstep.org import services as org_services
    from tests.dashboard.conftest import _kr

    u = board["units"]
    lab = org_services.unit_create(organisation=org, actor=None, name="Lab", kind="department")
    bench = org_services.unit_create(
        organisation=org, actor=None, name="Bench", kind="team", parent=lab
    )

    def objective(key, kr_value, **kw):
        o = goals.objective_create(
            organisation=org, actor=None, cycle=cycle, key=key, title=key, **kw
        )
        _kr(o, f"{key}-kr", kw.get("owner_unit") or u["acme"], value=kr_value)
        return o

    shared = "shared"
    objective("twice", 40, level=shared, owner_unit=u["web"], contributors=[u["product"], u["app"]])
    objective("unowned", 10, level=shared, contributors=[u["web"], u["app"], u["marketing"]])
    objective("top", 80, level=shared, owner_unit=u["acme"], contributors=[u["web"], u["support"]])
    objective("bench", 55, level=shared, owner_unit=bench, contributors=[u["support"], lab])

    whole, rows = _by_definition(org, cycle, [r.id for r in dashboard_of(org).units])
    d = dashboard_of(org)
    assert {r.key for r in d.units} == {"lab", "marketing", "product", "support"}
    assert _as_tuple(d.figures)[:2] == whole[:2]
    assert d.figures.progress == pytest.approx(whole[2])
    for r in d.units:
        got = _as_tuple(r.figures)
        assert got[:2] == rows[r.id][:2], r.key
        assert got[2] == pytest.approx(rows[r.id][2]), r.key

    product = dashboard_of(org, unit=u["product"])
    everything, _ = _by_definition(org, cycle, [])
    _, below = _by_definition(org, cycle, [u["product"].pk])
    assert _as_tuple(product.figures)[:2] == below[u["product"].pk][:2]
    assert product.figures.objectives < everything[0]


def test_a_large_subtree_is_passed_as_one_parameter(org, units, board):
    """Below a unit its subtree's ids are bound as one value, whatever their number."""
    from lockstep.dashboard.selectors import _id_set

    sql, params = _id_set(list(range(1, 40_001)))
    assert len(params) == 1
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({sql}) ids", params)
        assert cursor.fetchone() == (40_000,)
        cursor.execute(f"SELECT 1 WHERE 39999 IN ({sql})", params)
        assert cursor.fetchall() == [(1,)]


def _queries(org, **kw) -> int:
    with CaptureQueriesContext(connection) as ctx:
        dashboard_of(org, **kw)
    return len(ctx.captured_queries)


# Cycles running today, objectives, row units (below a unit: its subtree, read once), one
# statement of figures over the unit tree, one of the newest errors and warnings, their
# units, dependency pairs and their unit names, KPIs, KPI points.
DASHBOARD_QUERIES = 10


def test_query_count_does_not_grow_with_the_organisation(org, units, board, cycle):
    # Rows as a request fetches them: nothing related is cached.
    org = Organisation.objects.get(pk=org.pk)
    product = Unit.objects.get(pk=board["units"]["product"].pk)
    small = (_queries(org), _queries(org, unit=product))
    grow_org(org, units, cycle, 6)
    assert (_queries(org), _queries(org, unit=product)) == small == (DASHBOARD_QUERIES,) * 2
    assert len(dashboard_of(org).units) == 9 and len(dashboard_of(org, unit=product).units) == 8
