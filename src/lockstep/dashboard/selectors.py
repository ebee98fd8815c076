"""The shared performance dashboard of a scope: the whole company, or one unit's subtree.

What it shows (PRODUCT.md §6.3): the scope's objectives, one row per unit one level down,
key-result status totals, the at-risk list, dependency health between units and the KPI
panel. It reads only what is stored — each objective's rolled-up progress and status and
the count of its own KRs at each status (kept by goals.services), the findings (kept by
alignment.services) — and lets the database aggregate, so the number of queries is fixed
and no query returns more rows than the page shows, whatever the size of the
organisation. The unit tree is walked inside those queries by a recursive common table
expression (SQLite and PostgreSQL alike), never loaded.

The figures are objective-centred, like the heat map of units by objectives they feed: a
unit's objectives are those it owns or contributes to, and its KR counts are those of the
KRs of these objectives. Summing objectives rather than key results keeps the company
view at tens of thousands of rows instead of hundreds of thousands.

Stored statuses are as of their last refresh (docs/numbers.md, "Stored numbers");
`numbers_as_of` says when the full refresh last ran.

The page (dashboard.views) adds three panels, each a fixed number of queries:

- `heat_map`: units of the scope by its cross-unit objectives. A cell is the KR-weighted
  mean stored progress of the KRs the row's units own (or co-own) on the column objective
  and on every objective feeding it through links, and their worst stored status: the
  unit-share rule of PRODUCT.md §4, summed by the database in one statement.
- `kpi_groups`: the KPIs above grouped by their owner units, joint owners first.
- `progress_trend`: how the scope's KRs moved through the cycles, week by week. Stored
  numbers are only today's, so the past is replayed from check-in history: at each week
  end every KR takes the value of its latest check-in by then, `goals.selectors.kr_pace`
  gives its progress and expected progress at that moment and `core.rollup.roll_up`
  weighs them as an objective weighs its own KRs. Two queries (KRs, their check-ins); at
  most TREND_KRS KRs and TREND_POINTS moments, and a larger scope is told to narrow down.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from dataclasses import fields as dc_fields
from typing import Any

from django.db import connection
from django.db.models import (
    Case,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber
from django.utils import timezone

from lockstep.alignment.models import Dependency, Finding
from lockstep.alignment.selectors import findings_hidden
from lockstep.core.progress import Status, combined_status
from lockstep.core.rollup import KRScore, roll_up
from lockstep.goals.access import objective_visible
from lockstep.goals.models import (
    KPI,
    KR_COUNT_FIELDS,
    CheckIn,
    ContributionLink,
    Cycle,
    KeyResult,
    KPIDataPoint,
    Objective,
)
from lockstep.goals.models import ObjectiveContributor as Contributor
from lockstep.goals.selectors import day_start, kr_pace, margins_of, org_tz
from lockstep.org.models import Organisation, Person, Unit

OBJECTIVES_SHOWN = 50
FINDINGS_SHOWN = 20
DEPENDENCY_PAIRS_SHOWN = 20
KPIS_SHOWN = 12
KPI_POINTS_SHOWN = 12

_LEVEL_ORDER = {Objective.Level.COMPANY: 0, Objective.Level.SHARED: 1, Objective.Level.UNIT: 2}
_WAITING = (Dependency.State.REQUESTED, Dependency.State.COUNTERED)


@dataclass(frozen=True)
class StatusCounts:
    """Key results by stored status."""

    not_started: int = 0
    on_track: int = 0
    at_risk: int = 0
    off_track: int = 0
    done: int = 0

    @property
    def total(self) -> int:
        return self.not_started + self.on_track + self.at_risk + self.off_track + self.done


@dataclass(frozen=True)
class Figures:
    """What a set of objectives adds up to."""

    objectives: int = 0
    key_results: StatusCounts = field(default_factory=StatusCounts)
    progress: float | None = None  # mean stored progress of the objectives
    pending: int = 0  # objectives without stored numbers yet (bulk rows before the refresh)


@dataclass(frozen=True)
class ObjectiveRow:
    id: int
    key: str
    title: str
    level: str
    state: str
    cycle_id: int
    owner_unit_id: int | None
    progress: float | None
    status: str | None
    numbers_at: dt.datetime | None


@dataclass(frozen=True)
class UnitRow:
    """A unit one level below the scope, with the figures of its whole subtree."""

    id: int
    key: str
    name: str
    kind: str
    figures: Figures


@dataclass(frozen=True)
class FindingRow:
    id: int
    code: str
    severity: str
    title: str
    subject_type: str
    subject_id: int
    suggestion: str
    first_seen_at: dt.datetime
    unit_ids: list[int]


@dataclass(frozen=True)
class DependencyPair:
    """Dependencies one unit asked of another, by where they stand."""

    requester_unit_id: int
    requester_unit_name: str
    provider_unit_id: int
    provider_unit_name: str
    requested: int  # waiting for an answer (requested or countered)
    accepted: int  # accepted and not yet delivered, late ones included
    late: int  # still open (requested, countered or accepted) and needed before today
    declined: int
    missed: int
    delivered: int

    @property
    def trouble(self) -> int:
        return self.late + self.declined + self.missed


@dataclass(frozen=True)
class KPIPoint:
    at: dt.datetime
    value: float


@dataclass(frozen=True)
class KPIPanel:
    id: int
    key: str
    name: str
    measure: str
    healthy_min: float | None
    healthy_max: float | None
    points: list[KPIPoint]  # the latest few, oldest first

    @property
    def healthy(self) -> bool | None:
        """Whether the latest point lies in the healthy range; None without points."""
        if not self.points:
            return None
        v = self.points[-1].value
        return (self.healthy_min is None or v >= self.healthy_min) and (
            self.healthy_max is None or v <= self.healthy_max
        )


@dataclass(frozen=True)
class Dashboard:
    organisation: Organisation
    unit: Unit | None  # None: the whole company
    cycles: list[Cycle]
    now: dt.datetime
    numbers_as_of: dt.datetime | None  # the last full refresh of the stored numbers
    objectives: list[ObjectiveRow]  # at most OBJECTIVES_SHOWN
    figures: Figures  # the whole scope
    units: list[UnitRow]
    at_risk: list[FindingRow]
    dependencies: list[DependencyPair]
    kpis: list[KPIPanel]
    visible: Q = field(default_factory=Q)  # the viewer's objectives (goals.access)


def _subtree_cte(organisation: Organisation, unit: Unit | None) -> tuple[str, list[Any]]:
    """`tree(id, row_id)`: every unit of the scope and the unit one level down it counts under.

    The scope's own top (the unit, or the company-kind root units) has row_id NULL; a root
    that is not a company is a row of the company view itself.
    """
    table = connection.ops.quote_name(Unit._meta.db_table)
    if unit is None:
        seed = (
            f"SELECT id, CASE WHEN kind = %s THEN NULL ELSE id END FROM {table} "
            "WHERE organisation_id = %s AND parent_id IS NULL"
        )
        params: list[Any] = [Unit.Kind.COMPANY.value, organisation.pk]
    else:
        seed = f"SELECT id, CAST(NULL AS bigint) FROM {table} WHERE id = %s"
        params = [unit.pk]
    sql = (
        f"tree(id, row_id) AS ({seed} UNION ALL "
        f"SELECT u.id, COALESCE(t.row_id, u.id) FROM {table} u JOIN tree t ON u.parent_id = t.id)"
    )
    return sql, params


@dataclass(frozen=True)
class _Subtree:
    """A unit's subtree, read once: the ids the other statements are limited to, and the
    live units one level down (the rows)."""

    ids: list[int]
    rows: list[Unit]


def _subtree(organisation: Organisation, unit: Unit) -> _Subtree:
    """The unit and every unit below it, in one statement (the tree walked by the CTE)."""
    cte, params = _subtree_cte(organisation, unit)
    units = list(
        Unit.objects.filter(pk__in=RawSQL(f"WITH RECURSIVE {cte} SELECT id FROM tree", params))
        .only("id", "parent_id", "key", "name", "kind", "archived_at")
        .order_by("name", "pk")
    )
    rows = [u for u in units if u.parent_id == unit.pk and u.archived_at is None]
    return _Subtree(ids=[u.pk for u in units], rows=rows)


def _id_set(ids: list[int]) -> tuple[str, list[Any]]:
    """`ids` as a subquery bound as one parameter, whatever their number.

    Given as values rather than as the recursive walk, so PostgreSQL plans by their real
    number: it guesses a recursive CTE at hundreds of rows and then scanned every finding
    and every dependency for a department of 16 units. One parameter also stays clear of
    SQLite's limit on parameters.
    """
    if connection.vendor == "postgresql":
        return "SELECT unnest(%s::bigint[])", [ids]
    return "SELECT value FROM json_each(%s)", [json.dumps(ids)]


def _marks(values: list[Any]) -> str:
    return ", ".join(["%s"] * len(values))


_SUMS = (
    "COUNT(*), "
    + ", ".join(f"COALESCE(SUM({c}), 0)" for c in KR_COUNT_FIELDS)
    + ", COALESCE(SUM(progress), 0), COUNT(progress), COUNT(status)"
)


class _Sums:
    """What the `_SUMS` columns of one or more result rows add up to."""

    def __init__(self) -> None:
        self.count, self.krs, self.progress = 0, [0] * len(KR_COUNT_FIELDS), 0.0
        self.with_progress = self.with_status = 0

    def add(self, count: Any, *rest: Any) -> None:
        *krs, progress, with_progress, with_status = rest
        self.count += int(count)
        self.krs = [a + int(b) for a, b in zip(self.krs, krs, strict=True)]
        self.progress += float(progress)
        self.with_progress += int(with_progress)
        self.with_status += int(with_status)

    def figures(self) -> Figures:
        return Figures(
            objectives=self.count,
            key_results=StatusCounts(*self.krs),
            progress=self.progress / self.with_progress if self.with_progress else None,
            pending=self.count - self.with_status,
        )


def _unit_figures(
    organisation: Organisation, unit: Unit, cycle_ids: list[int]
) -> dict[int | None, Figures]:
    """The figures of each row (child of the unit) and, under None, of the whole subtree.

    One statement, so the unit tree is walked once. `scoped` pairs each objective of the
    cycles with the units of the subtree that own it or contribute to it; a row counts each
    of its objectives once. The walk drives every join, so the cost follows the subtree.
    """
    q = connection.ops.quote_name
    obj, contrib = q(Objective._meta.db_table), q(Contributor._meta.db_table)
    cte, cte_params = _subtree_cte(organisation, unit)
    live = f"o.cycle_id IN ({_marks(cycle_ids)}) AND o.archived_at IS NULL"
    # What each objective adds: its stored numbers, carried along so nothing reads it twice.
    numbers = ", ".join(["o.progress", "o.status", *(f"o.{c}" for c in KR_COUNT_FIELDS)])
    columns = ", ".join(["progress", "status", *KR_COUNT_FIELDS])
    # The explicit CROSS JOINs fix SQLite's join order (PostgreSQL plans them freely).
    scoped = (
        f"SELECT o.id, o.owner_unit_id, {numbers} FROM tree t CROSS JOIN {obj} o "
        f"WHERE o.owner_unit_id = t.id AND {live} UNION ALL "
        f"SELECT o.id, c.unit_id, {numbers} FROM tree t CROSS JOIN {contrib} c "
        f"JOIN {obj} o ON o.id = c.objective_id WHERE c.unit_id = t.id AND {live}"
    )
    of_scoped = ", ".join(f"s.{c}" for c in columns.split(", "))
    sql = f"""
        WITH RECURSIVE {cte}, scoped(oid, uid, {columns}) AS ({scoped})
        SELECT row_id, {_SUMS}
            FROM (SELECT DISTINCT t.row_id AS row_id, s.oid, {of_scoped}
                  FROM scoped s JOIN tree t ON t.id = s.uid WHERE t.row_id IS NOT NULL) d
            GROUP BY row_id
        UNION ALL
        SELECT NULL, {_SUMS} FROM (SELECT DISTINCT oid, {columns} FROM scoped) w
    """
    out: dict[int | None, Figures] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*cte_params, *cycle_ids, *cycle_ids])
        for row, *sums in cursor.fetchall():
            total = _Sums()
            total.add(*sums)
            out[row] = total.figures()
    return out


def _company_figures(organisation: Organisation, cycle_ids: list[int]) -> dict[int | None, Figures]:
    """The figures of each row (unit one level below the company) and, under None, of the
    whole company: every objective of the cycles, whoever owns it.

    One statement in two parts, so no objective is read twice and only shared objectives
    need deduplicating. Owned: every objective once, under the row of its owner (NULL: the
    company's own, or no owner), summed by row — the company is the sum of these groups.
    Contributed: an objective a row contributes to and does not already own, once per row.
    PostgreSQL guesses the unit walk at a few hundred rows and would look objectives up unit
    by unit; reading each part once (MATERIALIZED) lets it hash them against the walk.
    """
    q = connection.ops.quote_name
    obj, contrib = q(Objective._meta.db_table), q(Contributor._meta.db_table)
    cte, cte_params = _subtree_cte(organisation, None)
    in_org = (
        f"o.organisation_id = %s AND o.cycle_id IN ({_marks(cycle_ids)}) AND o.archived_at IS NULL"
    )
    in_org_params = [organisation.pk, *cycle_ids]
    # SQLite flattens the parts into its joins well, and knows MATERIALIZED only from 3.35.
    once = "MATERIALIZED " if connection.vendor == "postgresql" else ""
    columns = ", ".join(["progress", "status", *KR_COUNT_FIELDS])
    numbers = ", ".join(f"o.{c}" for c in columns.split(", "))
    of_s = ", ".join(f"s.{c}" for c in columns.split(", "))
    sql = f"""
        WITH RECURSIVE {cte},
        owned AS {once}(SELECT o.owner_unit_id AS uid, {numbers} FROM {obj} o WHERE {in_org}),
        contributed AS {once}(
            SELECT c.unit_id AS uid, o.id AS oid, o.owner_unit_id AS owner, {numbers}
            FROM {obj} o CROSS JOIN {contrib} c WHERE c.objective_id = o.id AND {in_org})
        SELECT 1, t.row_id, {_SUMS} FROM owned s LEFT JOIN tree t ON t.id = s.uid
            GROUP BY t.row_id
        UNION ALL
        SELECT 0, row_id, {_SUMS} FROM (
            SELECT DISTINCT r.row_id AS row_id, s.oid, {of_s} FROM contributed s
                JOIN tree r ON r.id = s.uid LEFT JOIN tree w ON w.id = s.owner
                WHERE r.row_id IS NOT NULL AND (w.row_id IS NULL OR w.row_id <> r.row_id)) s
            GROUP BY row_id
    """
    sums: dict[int | None, _Sums] = defaultdict(_Sums)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*cte_params, *in_org_params, *in_org_params])
        # Owned groups in a fixed order, so the company's total adds up the same way each time.
        for owned, row, *numbers_of in sorted(
            cursor.fetchall(), key=lambda r: (-r[0], r[1] is not None, r[1] or 0)
        ):
            if owned:
                sums[None].add(*numbers_of)
            if row is not None:
                sums[row].add(*numbers_of)
    return {row: total.figures() for row, total in sums.items()}


def _company_rows(organisation: Organisation) -> list[Unit]:
    """The units one level below the company: the children of its company-kind root units
    and any root of another kind (a unit's rows are its children, read with its subtree)."""
    live = Unit.objects.filter(organisation=organisation, archived_at__isnull=True)
    company = Unit.Kind.COMPANY
    return list(
        live.filter(
            (Q(parent__isnull=True) & ~Q(kind=company))
            | Q(parent__kind=company, parent__parent__isnull=True)
        ).order_by("name", "pk")
    )


def _objectives(
    organisation: Organisation, unit: Unit | None, cycle_ids: list[int], visible: Q
) -> list[ObjectiveRow]:
    rows = Objective.objects.filter(
        organisation=organisation, cycle_id__in=cycle_ids, archived_at__isnull=True
    ).filter(visible)
    if unit is None:
        rows = rows.filter(level=Objective.Level.COMPANY)
    else:
        q = connection.ops.quote_name
        # A UNION of two indexed look-ups; an OR across the two tables would scan the cycle.
        mine = RawSQL(
            f"SELECT id FROM {q(Objective._meta.db_table)} WHERE owner_unit_id = %s UNION "
            f"SELECT objective_id FROM {q(Contributor._meta.db_table)} WHERE unit_id = %s",
            [unit.pk, unit.pk],
        )
        rows = rows.filter(pk__in=mine)
    level_rank = Case(
        *(When(level=level, then=Value(rank)) for level, rank in _LEVEL_ORDER.items()),
        output_field=IntegerField(),
    )
    fields = [
        "id",
        "key",
        "title",
        "level",
        "state",
        "cycle_id",
        "owner_unit_id",
        "progress",
        "status",
        "numbers_at",
    ]
    return [
        ObjectiveRow(**r)
        for r in rows.annotate(level_rank=level_rank)
        .order_by("level_rank", "title", "pk")
        .values(*fields)[:OBJECTIVES_SHOWN]
    ]


def _at_risk(
    organisation: Organisation, scope: list[int] | None, viewer: Person | None
) -> list[FindingRow]:
    """The newest errors, then the newest warnings, about units of the scope (None: all).

    One statement: per severity, the newest few read backwards along finding_newest_idx
    (the company) or from the scope's own findings (below a unit, found through the units
    they name, so a small unit never walks the organisation's findings).
    """
    q = connection.ops.quote_name
    table, through = q(Finding._meta.db_table), q(Finding.units.through._meta.db_table)
    columns = "f.id, f.code, f.severity, f.title, f.subject_type, f.subject_id, f.suggestion"
    columns += ", f.first_seen_at"
    params: list[Any] = []
    if scope is None:
        prefix = ""
        source = f"{table} f WHERE f.organisation_id = %s AND"
        source_params: list[Any] = [organisation.pk]
    else:
        among, params = _id_set(scope)
        prefix = (
            f"WITH about(id) AS (SELECT DISTINCT fu.finding_id "
            f"FROM {through} fu WHERE fu.unit_id IN ({among})) "
        )
        source = f"about a CROSS JOIN {table} f WHERE f.id = a.id AND"
        source_params = []
    newest = (
        f"SELECT * FROM (SELECT {columns} FROM {source} f.severity = %s "
        f"ORDER BY f.first_seen_at DESC, f.id DESC LIMIT {FINDINGS_SHOWN})"
    )
    sql = f"{prefix}{newest} errors UNION ALL {newest} warnings"
    severities = (Finding.Severity.ERROR.value, Finding.Severity.WARNING.value)
    rows = list(
        Finding.objects.raw(
            sql, [*params, *source_params, severities[0], *source_params, severities[1]]
        )
    )
    # UNION ALL keeps no order of its own: errors first, newest first, as the subqueries read.
    rows.sort(key=lambda f: (severities.index(f.severity), -f.first_seen_at.timestamp(), -f.pk))
    hidden = findings_hidden(organisation, viewer)
    if hidden:  # private objectives the viewer may not see: their findings leave the list
        kept = set(
            Finding.objects.filter(pk__in=[f.pk for f in rows])
            .filter(hidden)
            .values_list("pk", flat=True)
        )
        rows = [f for f in rows if f.pk in kept]
    rows = rows[:FINDINGS_SHOWN]
    units: dict[int, list[int]] = defaultdict(list)
    for fid, uid in (
        Finding.units.through.objects.filter(finding_id__in=[f.pk for f in rows])
        .order_by("unit_id")
        .values_list("finding_id", "unit_id")
    ):
        units[fid].append(uid)
    return [
        FindingRow(
            id=f.pk,
            code=f.code,
            severity=f.severity,
            title=f.title,
            subject_type=f.subject_type,
            subject_id=f.subject_id,
            suggestion=f.suggestion,
            first_seen_at=f.first_seen_at,
            unit_ids=units[f.pk],
        )
        for f in rows
    ]


def _dependency_health(
    organisation: Organisation, scope: list[int] | None, cycles: list[Cycle], today: dt.date
) -> list[DependencyPair]:
    """Dependencies needed within the cycles, by (requester, provider) pair, most trouble first.

    One statement, grouped and limited in the database (below a unit, driven from the
    subtree through the requester and provider indexes); the names come in one more query.
    """
    S = Dependency.State
    q, adapt = connection.ops.quote_name, connection.ops.adapt_datefield_value
    table = q(Dependency._meta.db_table)
    prefix, source = "", f"{table} d WHERE"
    params: list[Any] = []
    if scope is not None:
        among, among_params = _id_set(scope)
        # Either side in the subtree, each side through its own index.
        prefix = (
            f"WITH touching(id) AS ("
            f"SELECT d.id FROM {table} d WHERE d.requester_unit_id IN ({among}) "
            f"UNION SELECT d.id FROM {table} d WHERE d.provider_unit_id IN ({among})) "
        )
        params = [*among_params, *among_params]
        source = f"touching x CROSS JOIN {table} d WHERE d.id = x.id AND"

    def count(*states: str, late: bool = False) -> str:
        # The states are the model's own constants, never input.
        listed = ", ".join(f"'{state}'" for state in states)
        when = f"d.state IN ({listed})" + (" AND d.needed_by < %s" if late else "")
        return f"SUM(CASE WHEN {when} THEN 1 ELSE 0 END)"

    requested = count(*_WAITING)
    late = count(*Dependency.OPEN_STATES, late=True)  # Dependency.late_q
    trouble = f"{late} + {count(S.DECLINED, S.MISSED)}"
    sql = f"""{prefix}
        SELECT d.requester_unit_id, d.provider_unit_id, {requested}, {count(S.ACCEPTED)},
               {late}, {count(S.DECLINED)}, {count(S.MISSED)},
               {count(S.DELIVERED)}
            FROM {source} d.organisation_id = %s AND d.needed_by >= %s AND d.needed_by <= %s
                AND d.state <> '{S.CANCELLED}'
            GROUP BY d.requester_unit_id, d.provider_unit_id
            ORDER BY {trouble} DESC, {requested} DESC, d.requester_unit_id, d.provider_unit_id
            LIMIT {DEPENDENCY_PAIRS_SHOWN}
    """
    day = adapt(today)
    first, last = adapt(min(c.start for c in cycles)), adapt(max(c.end for c in cycles))
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, day, organisation.pk, first, last, day])
        rows = cursor.fetchall()
    ids = {r[0] for r in rows} | {r[1] for r in rows}
    names = dict(Unit.objects.filter(pk__in=ids).values_list("pk", "name"))
    pairs = [
        DependencyPair(
            requester_unit_id=requester,
            requester_unit_name=names[requester],
            provider_unit_id=provider,
            provider_unit_name=names[provider],
            requested=int(requested),
            accepted=int(accepted),
            late=int(late_),
            declined=int(declined),
            missed=int(missed),
            delivered=int(delivered),
        )
        for requester, provider, requested, accepted, late_, declined, missed, delivered in rows
    ]
    pairs.sort(
        key=lambda p: (-p.trouble, -p.requested, p.requester_unit_name, p.provider_unit_name)
    )
    return pairs


def kpi_panels(organisation: Organisation, scope: list[int] | None) -> list[KPIPanel]:
    """KPIs owned in the scope, those outside their healthy range first, with recent points."""
    kpis = KPI.objects.filter(organisation=organisation, archived_at__isnull=True)
    if scope is not None:
        among, params = _id_set(scope)
        kpis = kpis.filter(
            Exists(
                KPI.owner_units.through.objects.filter(
                    kpi_id=OuterRef("pk"), unit_id__in=RawSQL(among, params)
                )
            )
        )
    latest = Subquery(
        KPIDataPoint.objects.filter(kpi_id=OuterRef("pk"))
        .order_by("-at", "-pk")
        .values("value")[:1]
    )
    unhealthy = Case(
        When(Q(latest__lt=F("healthy_min")) | Q(latest__gt=F("healthy_max")), then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    chosen = list(
        kpis.annotate(latest=latest, unhealthy=unhealthy)
        .order_by("unhealthy", "name", "pk")
        .values("id", "key", "name", "measure", "healthy_min", "healthy_max")[:KPIS_SHOWN]
    )
    points: dict[int, list[KPIPoint]] = defaultdict(list)
    if chosen:
        ranked = (
            KPIDataPoint.objects.filter(kpi_id__in=[k["id"] for k in chosen])
            .annotate(
                rank=Window(
                    RowNumber(), partition_by=F("kpi_id"), order_by=[F("at").desc(), F("pk").desc()]
                )
            )
            .filter(rank__lte=KPI_POINTS_SHOWN)
            .order_by("kpi_id", "at", "pk")
            .values_list("kpi_id", "at", "value")
        )
        for kpi_id, at, value in ranked:
            points[kpi_id].append(KPIPoint(at, value))
    return [KPIPanel(**k, points=points[k["id"]]) for k in chosen]


def default_cycles(organisation: Organisation, now: dt.datetime) -> list[Cycle]:
    """The cycles running today in the organisation's time zone, as the objective list picks."""
    today = timezone.localdate(now, timezone=org_tz(organisation))
    return list(
        Cycle.objects.filter(organisation=organisation, start__lte=today, end__gte=today).order_by(
            "start", "key"
        )
    )


def dashboard_of(
    organisation: Organisation,
    *,
    unit: Unit | None = None,
    cycle: Cycle | None = None,
    now: dt.datetime | None = None,
    viewer: Person | None = None,
) -> Dashboard:
    """The dashboard of the company (unit None) or of a unit and the units below it.

    `cycle` defaults to every cycle running today. A fixed number of queries whatever the
    size of the organisation; every list is limited.
    """
    now = now or timezone.now()
    # The viewer's objectives only (private ones of other units stay out); None: all.
    visible = objective_visible(viewer) if viewer is not None else Q()
    cycles = [cycle] if cycle is not None else default_cycles(organisation, now)
    cycle_ids = [c.pk for c in cycles]
    today = timezone.localdate(now, timezone=org_tz(organisation))
    # Below a unit the subtree is read once, in place of the row units' own query.
    subtree = _subtree(organisation, unit) if unit is not None else None
    scope = subtree.ids if subtree is not None else None
    rows = subtree.rows if subtree is not None else _company_rows(organisation)
    if cycles:
        figures = (
            _company_figures(organisation, cycle_ids)
            if unit is None
            else _unit_figures(organisation, unit, cycle_ids)
        )
        dependencies = _dependency_health(organisation, scope, cycles, today)
    else:
        figures, dependencies = {}, []
    return Dashboard(
        organisation=organisation,
        unit=unit,
        cycles=cycles,
        now=now,
        numbers_as_of=organisation.numbers_refreshed_at,
        objectives=_objectives(organisation, unit, cycle_ids, visible),
        figures=figures.get(None, Figures()),
        units=[UnitRow(u.pk, u.key, u.name, u.kind, figures.get(u.pk, Figures())) for u in rows],
        at_risk=_at_risk(organisation, scope, viewer),
        dependencies=dependencies,
        kpis=kpi_panels(organisation, scope),
        visible=visible,
    )


# ---- the page's extra panels: heat map, KPI owners, progress trend ------------------------

HEAT_COLUMNS = 12
TREND_KRS = 500
TREND_POINTS = 14


@dataclass(frozen=True)
class HeatCell:
    """One unit's part in one objective: the KRs its subtree owns there, by stored numbers."""

    progress: float | None  # KR-weighted mean stored progress; None: no numbers yet
    status: str | None  # the worst stored KR status, as an objective takes it
    key_results: int


@dataclass(frozen=True)
class HeatMap:
    """Units of the scope (rows) by the objectives they work towards (columns)."""

    columns: list[ObjectiveRow]
    rows: list[UnitRow]
    cells: dict[tuple[int, int], HeatCell]  # (unit row id, objective id)
    total_columns: int  # objectives that could have been columns; > len(columns): capped

    @property
    def capped(self) -> bool:
        return self.total_columns > len(self.columns)

    @property
    def total_words(self) -> str:
        """How many objectives there were, as far as the capped read can tell."""
        if self.total_columns > OBJECTIVES_SHOWN:
            return f"more than {OBJECTIVES_SHOWN}"
        return str(self.total_columns)

    @property
    def table(self) -> list[tuple[UnitRow, list[tuple[ObjectiveRow, HeatCell | None]]]]:
        """Row by row, each column's cell (None: the unit owns no KR there)."""
        return [
            (row, [(col, self.cells.get((row.id, col.id))) for col in self.columns])
            for row in self.rows
        ]


def _heat_columns(d: Dashboard, limit: int) -> tuple[list[ObjectiveRow], int]:
    """The columns, company objectives first, then shared, then unit ones, by title.

    The company view: the company's and the shared objectives of the cycles. Below a unit:
    the company's objectives (what everything feeds) and every objective a unit of the
    subtree owns or contributes to, so a division that owns nothing itself still shows
    what its departments work on. One query; OBJECTIVES_SHOWN + 1 rows at most.
    """
    rows = Objective.objects.filter(
        organisation=d.organisation,
        cycle_id__in=[c.pk for c in d.cycles],
        archived_at__isnull=True,
    ).filter(d.visible)
    if d.unit is None:
        rows = rows.filter(level__in=[Objective.Level.COMPANY, Objective.Level.SHARED])
    else:
        q = connection.ops.quote_name
        cte, params = _subtree_cte(d.organisation, d.unit)
        touched = RawSQL(
            f"WITH RECURSIVE {cte} "
            f"SELECT o.id FROM tree t JOIN {q(Objective._meta.db_table)} o "
            "ON o.owner_unit_id = t.id UNION "
            f"SELECT c.objective_id FROM tree t JOIN {q(Contributor._meta.db_table)} c "
            "ON c.unit_id = t.id",
            params,
        )
        rows = rows.filter(Q(level=Objective.Level.COMPANY) | Q(pk__in=touched))
    level_rank = Case(
        *(When(level=level, then=Value(rank)) for level, rank in _LEVEL_ORDER.items()),
        output_field=IntegerField(),
    )
    fields = [f.name for f in dc_fields(ObjectiveRow)]
    found = [
        ObjectiveRow(**r)
        for r in rows.annotate(level_rank=level_rank)
        .order_by("level_rank", "title", "pk")
        .values(*fields)[: OBJECTIVES_SHOWN + 1]
    ]
    return found[:limit], len(found)


def heat_map(d: Dashboard, *, columns: int | None = None) -> HeatMap:
    """Units by objectives for the dashboard `d`, in at most two queries whatever the size.

    A cell is the part the row unit (with every unit below it) plays in the column
    objective: the key results its units own — as accountable owner or co-owner — on that
    objective and on every live objective that contributes to it through links, any depth.
    Its progress is their weighted mean of stored progress (the unit-share rule of PRODUCT.md
    §4, core.rollup.unit_shares, summed by the database so a company objective with
    thousands of KRs below it returns one row per unit); its status the worst stored KR
    status (core.progress.combined_status). A KR jointly owned by two units of one row
    counts once. `columns` caps the columns (default HEAT_COLUMNS).
    """
    shown, total = _heat_columns(d, HEAT_COLUMNS if columns is None else columns)
    rows = d.units
    cells: dict[tuple[int, int], HeatCell] = {}
    if not shown or not rows:
        return HeatMap(shown, rows, cells, total)
    q = connection.ops.quote_name
    obj, link = q(Objective._meta.db_table), q(ContributionLink._meta.db_table)
    kr, co = q(KeyResult._meta.db_table), q(KeyResult.co_owners.through._meta.db_table)
    cte, cte_params = _subtree_cte(d.organisation, d.unit)
    col_ids = [c.id for c in shown]
    statuses = [s.value for s in Status]
    by_status = ", ".join(
        f"SUM(CASE WHEN status = '{s}' THEN 1 ELSE 0 END)" for s in statuses
    )  # the model's own constants, never input
    kr_cols = "k.id AS kid, k.weight AS weight, k.progress AS progress, k.status AS status"
    live_kr = "k.objective_id = c.oid AND k.archived_at IS NULL"
    sql = f"""
        WITH RECURSIVE {cte},
        cols(root, oid) AS (
            SELECT id, id FROM {obj} WHERE id IN ({_marks(col_ids)})
            UNION
            SELECT c.root, l.child_id FROM cols c JOIN {link} l ON l.parent_id = c.oid
                JOIN {obj} o ON o.id = l.child_id WHERE o.archived_at IS NULL),
        owned(root, uid, kid, weight, progress, status) AS (
            SELECT c.root, k.owner_unit_id, {kr_cols} FROM cols c CROSS JOIN {kr} k
                WHERE {live_kr}
            UNION ALL
            SELECT c.root, x.unit_id, {kr_cols} FROM cols c CROSS JOIN {kr} k
                JOIN {co} x ON x.keyresult_id = k.id WHERE {live_kr})
        SELECT root, row_id,
               COALESCE(SUM(weight * progress), 0), COALESCE(SUM(CASE WHEN progress IS NULL
                   THEN 0 ELSE weight END), 0), COUNT(*), {by_status}
            FROM (SELECT DISTINCT s.root, t.row_id, s.kid, s.weight, s.progress, s.status
                  FROM owned s JOIN tree t ON t.id = s.uid WHERE t.row_id IS NOT NULL) d
            GROUP BY root, row_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*cte_params, *col_ids])
        for root, row, weighted, weights, count, *counts in cursor.fetchall():
            present = [Status(s) for s, n in zip(statuses, counts, strict=True) if n]
            cells[(row, root)] = HeatCell(
                progress=float(weighted) / float(weights) if weights else None,
                status=combined_status(present).value if present else None,
                key_results=int(count),
            )
    return HeatMap(shown, rows, cells, total)


@dataclass(frozen=True)
class KPIGroup:
    """KPIs with the same owner units, shown side by side (a joint one is a collision point)."""

    owners: list[str]  # unit names
    kpis: list[KPIPanel]

    @property
    def joint(self) -> bool:
        return len(self.owners) > 1


def kpi_groups(kpis: list[KPIPanel]) -> list[KPIGroup]:
    """The dashboard's KPIs grouped by owner units, jointly owned groups first; one query."""
    owners: dict[int, list[str]] = defaultdict(list)
    for kpi_id, name in (
        KPI.owner_units.through.objects.filter(kpi_id__in=[k.id for k in kpis])
        .order_by("unit__name", "unit_id")
        .values_list("kpi_id", "unit__name")
    ):
        owners[kpi_id].append(name)
    groups: dict[tuple[str, ...], list[KPIPanel]] = defaultdict(list)
    for k in kpis:  # dicts keep the selector's order: unhealthy KPIs first
        groups[tuple(owners[k.id])].append(k)
    out = [KPIGroup(list(names), panels) for names, panels in groups.items()]
    return sorted(out, key=lambda g: not g.joint)  # stable: keeps the order within each


@dataclass(frozen=True)
class TrendPoint:
    at: dt.datetime
    progress: float
    expected: float


@dataclass(frozen=True)
class Trend:
    """Progress of the scope's key results against their pace, week by week."""

    start: dt.date
    end: dt.date
    points: list[TrendPoint]
    key_results: int
    too_many: bool  # more than TREND_KRS key results: not drawn

    @property
    def limit(self) -> int:
        return TREND_KRS


def _trend_moments(start: dt.datetime, end: dt.datetime, now: dt.datetime) -> list[dt.datetime]:
    """Week ends from the cycle start up to now (or the end), at most TREND_POINTS, and now."""
    last = min(now, end)
    if last <= start:
        return []
    step = max(dt.timedelta(weeks=1), (end - start) / (TREND_POINTS - 1))
    moments, at = [start], start + step
    while at < last:
        moments.append(at)
        at += step
    return [*moments, last]


def progress_trend(d: Dashboard) -> Trend | None:
    """Week by week through the dashboard's cycles: its KRs' progress and pace, as they were.

    The key results are the live ones, on live objectives of the dashboard's cycles, whose
    accountable owner is a unit of the scope. At each moment every KR's value is that of its
    latest check-in by then (its start before any); goals.selectors.kr_pace turns it into
    progress and expected progress (the pace line to the KR's due day), and core.rollup.
    roll_up weighs them by KR weight as an objective weighs its own KRs. Two queries (the
    KRs, then their check-ins up to now); the work is at most TREND_KRS times TREND_POINTS
    evaluations, and a scope with more KRs gets no trend (it says so) rather than a slow page.
    """
    if not d.cycles:
        return None
    org = d.organisation
    tz = org_tz(org)
    start = min(c.start for c in d.cycles)
    end = max(c.end for c in d.cycles)
    krs = KeyResult.objects.filter(
        organisation=org,
        archived_at__isnull=True,
        objective__archived_at__isnull=True,
        objective__cycle_id__in=[c.pk for c in d.cycles],
    )
    if d.unit is not None:
        cte, params = _subtree_cte(org, d.unit)
        krs = krs.filter(
            owner_unit_id__in=RawSQL(f"WITH RECURSIVE {cte} SELECT id FROM tree", params)
        )
    rows = list(
        krs.order_by("pk").values_list(
            "pk",
            "kind",
            "start",
            "target",
            "weight",
            "due",
            "objective__cycle__start",
            "objective__cycle__end",
        )[: TREND_KRS + 1]
    )
    if len(rows) > TREND_KRS:
        return Trend(start, end, [], len(rows), too_many=True)
    window_start = day_start(start, tz)
    window_end = day_start(end + dt.timedelta(days=1), tz)
    moments = _trend_moments(window_start, window_end, d.now)
    history: dict[int, list[tuple[dt.datetime, float]]] = defaultdict(list)
    if moments and rows:
        for kr_id, at, value in (
            CheckIn.objects.filter(key_result_id__in=[r[0] for r in rows], at__lte=moments[-1])
            .order_by("at", "pk")
            .values_list("key_result_id", "at", "value")
        ):
            history[kr_id].append((at, value))
    margins = margins_of(org)
    scores: list[list[KRScore]] = [[] for _ in moments]
    for kr_id, kind, kr_start, target, weight, due, c_start, c_end in rows:
        checkins, seen = history[kr_id], 0
        current: float | None = None
        for i, moment in enumerate(moments):
            while seen < len(checkins) and checkins[seen][0] <= moment:
                current = checkins[seen][1]
                seen += 1
            progress, expected, status = kr_pace(
                kind=kind,
                start=kr_start,
                target=target,
                current_value=current,
                checkin_count=seen,
                cycle_start=c_start,
                due=due or c_end,
                tz=tz,
                margins=margins,
                at=moment,
            )
            scores[i].append(KRScore("progress", weight, progress, status, frozenset()))
            scores[i].append(KRScore("pace", weight, expected, Status.ON_TRACK, frozenset()))
    points = []
    for moment, of_moment in zip(moments, scores, strict=True):
        if of_moment:
            rolled = roll_up(["progress", "pace"], of_moment, [])
            points.append(TrendPoint(moment, rolled["progress"].progress, rolled["pace"].progress))
    return Trend(start, end, points, len(rows), too_many=False)
