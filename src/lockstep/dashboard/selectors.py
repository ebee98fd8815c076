"""The shared performance dashboard of a scope: the whole company, or one unit's subtree.

What it shows (PRODUCT.md §6.3): the scope's objectives, one row per unit one level down,
key-result status totals, the at-risk list, dependency health between units and the KPI
panel. It reads only what is stored (objective and KR progress and status kept by
goals.services, findings kept by alignment.services) and lets the database aggregate, so
the number of queries is fixed and no query returns more rows than the page shows,
whatever the size of the organisation. The unit tree is walked inside those queries by a
recursive common table expression (SQLite and PostgreSQL alike), never loaded.

Stored statuses are as of their last refresh (docs/numbers.md, "Stored numbers");
`numbers_as_of` says when the full refresh last ran.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import (
    Case,
    Count,
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
from lockstep.core.progress import Status
from lockstep.goals.models import KPI, Cycle, KeyResult, KPIDataPoint, Objective
from lockstep.goals.models import ObjectiveContributor as Contributor
from lockstep.goals.selectors import org_tz
from lockstep.org.models import Organisation, Unit

OBJECTIVES_SHOWN = 50
FINDINGS_SHOWN = 20
DEPENDENCY_PAIRS_SHOWN = 20
KPIS_SHOWN = 12
KPI_POINTS_SHOWN = 12

_LEVEL_ORDER = {Objective.Level.COMPANY: 0, Objective.Level.SHARED: 1, Objective.Level.UNIT: 2}
_WAITING = (Dependency.State.REQUESTED, Dependency.State.COUNTERED)


@dataclass(frozen=True)
class StatusCounts:
    """Key results by stored status; `unknown` ones have no stored numbers yet."""

    not_started: int = 0
    on_track: int = 0
    at_risk: int = 0
    off_track: int = 0
    done: int = 0
    unknown: int = 0

    @property
    def total(self) -> int:
        return (
            self.not_started
            + self.on_track
            + self.at_risk
            + self.off_track
            + self.done
            + self.unknown
        )


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
    """A unit one level below the scope, with figures over its whole subtree."""

    id: int
    key: str
    name: str
    kind: str
    objective_count: int
    key_results: StatusCounts
    progress: float | None  # weighted mean of its KRs' stored progress; None without KRs


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
    late: int  # accepted, needed before today, not delivered
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
    objectives: list[ObjectiveRow]
    objective_count: int
    units: list[UnitRow]
    key_results: StatusCounts
    progress: float | None
    at_risk: list[FindingRow]
    dependencies: list[DependencyPair]
    kpis: list[KPIPanel] = field(default_factory=list)


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


def _subtree_ids(unit: Unit) -> RawSQL:
    """The ids of a unit and all units below it, as a subquery."""
    cte, params = _subtree_cte(unit.organisation, unit)
    return RawSQL(f"WITH RECURSIVE {cte} SELECT id FROM tree", params)


def _marks(values: list[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _unit_figures(
    organisation: Organisation, unit: Unit | None, cycle_ids: list[int]
) -> tuple[dict[int | None, dict[str | None, tuple[int, float, float]]], dict[int | None, int]]:
    """KR counts and progress sums by row and stored status, and objective counts by row.

    One statement, so the unit tree is walked once: ("k", row, status, KRs, Σ weight·progress,
    Σ weight) and ("o", row, NULL, objectives, 0, 0), where row NULL stands for the scope as
    a whole (every objective counted once). A KR counts for the unit accountable for it, an
    objective for its owner and its contributing units. Below a unit the walk drives every
    join, so the cost follows the subtree; for the company the KRs of the cycles are read
    once through a covering index (kr_dashboard_idx) and matched to their row.
    """
    q = connection.ops.quote_name
    kr, obj, contrib = (q(m._meta.db_table) for m in (KeyResult, Objective, Contributor))
    cte, cte_params = _subtree_cte(organisation, unit)
    cycles = _marks(cycle_ids)
    live = f"o.cycle_id IN ({cycles}) AND o.archived_at IS NULL"
    # The explicit CROSS JOINs fix SQLite's join order (PostgreSQL plans them freely).
    if unit is None:
        in_org = f"o.organisation_id = %s AND {live}"
        scoped = (
            f"SELECT o.id, o.owner_unit_id FROM {obj} o WHERE {in_org} "
            "AND o.owner_unit_id IS NOT NULL UNION ALL "
            f"SELECT c.objective_id, c.unit_id FROM {obj} o CROSS JOIN {contrib} c "
            f"WHERE c.objective_id = o.id AND {in_org}"
        )
        scoped_params = [organisation.pk, *cycle_ids, organisation.pk, *cycle_ids]
        krs_sql = (
            f"FROM {obj} o CROSS JOIN {kr} k LEFT JOIN tree t ON t.id = k.owner_unit_id "
            f"WHERE {in_org} AND k.objective_id = o.id AND k.archived_at IS NULL"
        )
        krs_params = [organisation.pk, *cycle_ids]
        # The company counts every objective of its cycles, whoever owns it.
        whole = f"SELECT 'o', NULL, NULL, COUNT(*), 0, 0 FROM {obj} o WHERE {in_org}"
        whole_params = [organisation.pk, *cycle_ids]
    else:
        scoped = (
            f"SELECT o.id, o.owner_unit_id FROM tree t CROSS JOIN {obj} o "
            f"WHERE o.owner_unit_id = t.id AND {live} UNION ALL "
            f"SELECT c.objective_id, c.unit_id FROM tree t CROSS JOIN {contrib} c "
            f"JOIN {obj} o ON o.id = c.objective_id WHERE c.unit_id = t.id AND {live}"
        )
        scoped_params = [*cycle_ids, *cycle_ids]
        krs_sql = (
            f"FROM tree t CROSS JOIN {kr} k JOIN {obj} o ON o.id = k.objective_id "
            f"WHERE k.owner_unit_id = t.id AND k.archived_at IS NULL AND {live}"
        )
        krs_params = list(cycle_ids)
        whole = "SELECT 'o', NULL, NULL, COUNT(DISTINCT s.oid), 0, 0 FROM scoped s"
        whole_params = []
    sql = f"""
        WITH RECURSIVE {cte}, scoped(oid, uid) AS ({scoped})
        SELECT 'k', t.row_id, k.status, COUNT(*),
               COALESCE(SUM(CASE WHEN k.progress IS NOT NULL THEN k.weight * k.progress END), 0),
               COALESCE(SUM(CASE WHEN k.progress IS NOT NULL THEN k.weight END), 0)
            {krs_sql}
            GROUP BY t.row_id, k.status
        UNION ALL
        SELECT 'o', t.row_id, NULL, COUNT(DISTINCT s.oid), 0, 0
            FROM scoped s JOIN tree t ON t.id = s.uid
            WHERE t.row_id IS NOT NULL
            GROUP BY t.row_id
        UNION ALL
        {whole}
    """
    params = [*cte_params, *scoped_params, *krs_params, *whole_params]
    krs: dict[int | None, dict[str | None, tuple[int, float, float]]] = defaultdict(dict)
    objectives: dict[int | None, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for tag, row, status, count, weighted, weight in cursor.fetchall():
            if tag == "k":
                krs[row][status] = (int(count), float(weighted), float(weight))
            else:
                objectives[row] = int(count)
    return krs, objectives


def _status_counts(by_status: dict[str | None, tuple[int, float, float]]) -> StatusCounts:
    counts = {s.value: 0 for s in Status}
    unknown = 0
    for status, (n, _, _) in by_status.items():
        if status in counts:
            counts[status] += n
        else:
            unknown += n
    return StatusCounts(**counts, unknown=unknown)


def _mean_progress(by_status: dict[str | None, tuple[int, float, float]]) -> float | None:
    weighted = sum(w for _, w, _ in by_status.values())
    total = sum(t for _, _, t in by_status.values())
    return weighted / total if total > 0 else None


def _row_units(organisation: Organisation, unit: Unit | None) -> list[Unit]:
    """The units one level below the scope: a unit's children; below the company, the
    children of its company-kind root units and any root of another kind."""
    live = Unit.objects.filter(organisation=organisation, archived_at__isnull=True)
    if unit is not None:
        return list(live.filter(parent=unit).order_by("name", "pk"))
    company = Unit.Kind.COMPANY
    return list(
        live.filter(
            (Q(parent__isnull=True) & ~Q(kind=company))
            | Q(parent__kind=company, parent__parent__isnull=True)
        ).order_by("name", "pk")
    )


def _objectives(
    organisation: Organisation, unit: Unit | None, cycle_ids: list[int]
) -> list[ObjectiveRow]:
    rows = Objective.objects.filter(
        organisation=organisation, cycle_id__in=cycle_ids, archived_at__isnull=True
    )
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


def _at_risk(organisation: Organisation, unit: Unit | None) -> list[FindingRow]:
    """The newest errors, then the newest warnings, about units of the scope."""
    found = Finding.objects.filter(organisation=organisation)
    through = Finding.units.through
    if unit is not None:
        found = found.filter(
            pk__in=Subquery(
                through.objects.filter(unit_id__in=_subtree_ids(unit)).values("finding_id")
            )
        )
    fields = [
        "id",
        "code",
        "severity",
        "title",
        "subject_type",
        "subject_id",
        "suggestion",
        "first_seen_at",
    ]
    # One indexed, limited query per severity rather than one sort of every finding.
    rows: list[dict[str, Any]] = []
    for severity in (Finding.Severity.ERROR, Finding.Severity.WARNING):
        rows += list(
            found.filter(severity=severity)
            .order_by("-first_seen_at", "-pk")
            .values(*fields)[:FINDINGS_SHOWN]
        )
    rows = rows[:FINDINGS_SHOWN]
    units: dict[int, list[int]] = defaultdict(list)
    for fid, uid in (
        through.objects.filter(finding_id__in=[r["id"] for r in rows])
        .order_by("unit_id")
        .values_list("finding_id", "unit_id")
    ):
        units[fid].append(uid)
    return [FindingRow(**r, unit_ids=units[r["id"]]) for r in rows]


def _dependency_health(
    organisation: Organisation, unit: Unit | None, cycles: list[Cycle], today: dt.date
) -> list[DependencyPair]:
    """Dependencies needed within the cycles, by (requester, provider) pair, most trouble first.

    Grouped by unit ids and limited in the database; the few names come in one more query.
    """
    S = Dependency.State
    deps = Dependency.objects.filter(
        organisation=organisation,
        needed_by__gte=min(c.start for c in cycles),
        needed_by__lte=max(c.end for c in cycles),
    ).exclude(state=S.CANCELLED)
    if unit is not None:
        cte, params = _subtree_cte(organisation, unit)
        table = connection.ops.quote_name(Dependency._meta.db_table)
        # Either side in the subtree, each side through its own index.
        touching = RawSQL(
            f"WITH RECURSIVE {cte} "
            f"SELECT d.id FROM tree t CROSS JOIN {table} d WHERE d.requester_unit_id = t.id "
            f"UNION SELECT d.id FROM tree t CROSS JOIN {table} d WHERE d.provider_unit_id = t.id",
            params,
        )
        deps = deps.filter(pk__in=touching)
    late = Q(state=S.ACCEPTED, needed_by__lt=today)
    rows = list(
        deps.values("requester_unit_id", "provider_unit_id")
        .annotate(
            requested=Count("pk", filter=Q(state__in=_WAITING)),
            accepted=Count("pk", filter=Q(state=S.ACCEPTED)),
            late=Count("pk", filter=late),
            declined=Count("pk", filter=Q(state=S.DECLINED)),
            missed=Count("pk", filter=Q(state=S.MISSED)),
            delivered=Count("pk", filter=Q(state=S.DELIVERED)),
        )
        .annotate(trouble=F("late") + F("declined") + F("missed"))
        .order_by("-trouble", "-requested", "requester_unit_id", "provider_unit_id")[
            :DEPENDENCY_PAIRS_SHOWN
        ]
    )
    ids = {r["requester_unit_id"] for r in rows} | {r["provider_unit_id"] for r in rows}
    names = dict(Unit.objects.filter(pk__in=ids).values_list("pk", "name"))
    pairs = []
    for r in rows:
        row: dict[str, Any] = dict(r)
        del row["trouble"]  # a property of the pair
        pairs.append(
            DependencyPair(
                **row,
                requester_unit_name=names[r["requester_unit_id"]],
                provider_unit_name=names[r["provider_unit_id"]],
            )
        )
    pairs.sort(
        key=lambda p: (-p.trouble, -p.requested, p.requester_unit_name, p.provider_unit_name)
    )
    return pairs


def _kpis(organisation: Organisation, unit: Unit | None) -> list[KPIPanel]:
    """KPIs owned in the scope, those outside their healthy range first, with recent points."""
    kpis = KPI.objects.filter(organisation=organisation, archived_at__isnull=True)
    if unit is not None:
        kpis = kpis.filter(
            Exists(
                KPI.owner_units.through.objects.filter(
                    kpi_id=OuterRef("pk"), unit_id__in=_subtree_ids(unit)
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
) -> Dashboard:
    """The dashboard of the company (unit None) or of a unit and the units below it.

    `cycle` defaults to every cycle running today. A fixed number of queries whatever the
    size of the organisation; every list is limited.
    """
    now = now or timezone.now()
    cycles = [cycle] if cycle is not None else default_cycles(organisation, now)
    cycle_ids = [c.pk for c in cycles]
    today = timezone.localdate(now, timezone=org_tz(organisation))
    if cycles:
        by_row, objective_counts = _unit_figures(organisation, unit, cycle_ids)
        dependencies = _dependency_health(organisation, unit, cycles, today)
    else:
        by_row, objective_counts, dependencies = {}, {}, []
    everything: dict[str | None, tuple[int, float, float]] = {}
    for by_status in by_row.values():
        for status, (n, w, t) in by_status.items():
            n0, w0, t0 = everything.get(status, (0, 0.0, 0.0))
            everything[status] = (n0 + n, w0 + w, t0 + t)
    units = [
        UnitRow(
            id=u.pk,
            key=u.key,
            name=u.name,
            kind=u.kind,
            objective_count=objective_counts.get(u.pk, 0),
            key_results=_status_counts(by_row.get(u.pk, {})),
            progress=_mean_progress(by_row.get(u.pk, {})),
        )
        for u in _row_units(organisation, unit)
    ]
    return Dashboard(
        organisation=organisation,
        unit=unit,
        cycles=cycles,
        now=now,
        numbers_as_of=organisation.numbers_refreshed_at,
        objectives=_objectives(organisation, unit, cycle_ids),
        objective_count=objective_counts.get(None, 0),
        units=units,
        key_results=_status_counts(everything),
        progress=_mean_progress(everything),
        at_risk=_at_risk(organisation, unit),
        dependencies=dependencies,
        kpis=_kpis(organisation, unit),
    )
