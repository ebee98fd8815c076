"""Reads for the alignment engine: database rows → core.snapshot → findings and graphs."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from lockstep.alignment.models import Dependency, Finding, Review
from lockstep.core.progress import Commitment, KRKind, Margins
from lockstep.core.snapshot import (
    CheckInSums,
    CycleSnap,
    DependencySnap,
    DependencyState,
    Endorsement,
    InitiativeSnap,
    KPISnap,
    KRSnap,
    ObjectiveSnap,
    Ref,
    Snapshot,
    Thresholds,
    UnitSnap,
    cyclic_gc_paused,
)
from lockstep.goals.access import objective_visible
from lockstep.goals.models import (
    KPI,
    ContributionLink,
    Cycle,
    Initiative,
    KeyResult,
    Objective,
    ObjectiveContributor,
)
from lockstep.goals.selectors import org_tz
from lockstep.org.models import Organisation, Person, Unit

# Dependencies that no longer bind anyone drop out of the risk graph.
OPEN_STATES = (
    DependencyState.REQUESTED,
    DependencyState.ACCEPTED,
    DependencyState.COUNTERED,
    DependencyState.DECLINED,
    DependencyState.MISSED,
)


def thresholds_of(organisation: Organisation) -> Thresholds:
    return Thresholds(
        margins=Margins(organisation.on_track_margin, organisation.at_risk_margin),
        answer_window_days=organisation.answer_window_days,
        max_objectives_per_unit=organisation.max_objectives_per_unit,
        max_krs_per_objective=organisation.max_krs_per_objective,
        low_confidence=organisation.low_confidence,
        single_point_min_units=organisation.single_point_min_units,
        task_share=organisation.task_share,
    )


def _requester_ref(d: dict[str, int | None]) -> Ref | None:
    if d["requester_kr_id"]:
        return ("kr", int(d["requester_kr_id"]))
    if d["requester_initiative_id"]:
        return ("initiative", int(d["requester_initiative_id"]))
    return None


def _provider_ref(d: dict[str, int | None]) -> Ref | None:
    if d["provider_kr_id"]:
        return ("kr", int(d["provider_kr_id"]))
    if d["provider_initiative_id"]:
        return ("initiative", int(d["provider_initiative_id"]))
    return None


DEP_FIELDS = (
    "id",
    "title",
    "requester_unit_id",
    "provider_unit_id",
    "needed_by",
    "state",
    "requested_at",
    "requester_kr_id",
    "requester_initiative_id",
    "provider_kr_id",
    "provider_initiative_id",
    "effort",
    "answered_at",
)


# Enum members by stored value: a dict lookup per row instead of an Enum call.
kinds = {k.value: k for k in KRKind}
commitments = {c.value: c for c in Commitment}
NO_SUMS = CheckInSums()


KR_COLUMNS = (
    "id",
    "key",
    "title",
    "objective_id",
    "kind",
    "start",
    "target",
    "due",
    "objective__cycle__end",
    "weight",
    "commitment",
    "owner_unit_id",
    "cadence_days",
    "kpi_id",
    "current_value",
    "last_checkin_at",
    "last_confidence",
    "checkin_count",
    "sum_t",
    "sum_v",
    "sum_tt",
    "sum_tv",
)
_LAST_CHECKIN = KR_COLUMNS.index("last_checkin_at")


def _kr_rows(krs_q: QuerySet[KeyResult]) -> list[tuple[Any, ...]]:
    """The KR rows as tuples of KR_COLUMNS, read on the driver's cursor.

    At 350,000 KRs Django's per-value converters cost as much as the read itself. The
    drivers already return dates (Django registers SQLite's converters by declared column
    type); only SQLite's datetimes come back naive, in UTC, as Django stores them.
    """
    sql, params = krs_q.values_list(*KR_COLUMNS).query.sql_with_params()
    connection = connections[krs_q.db]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    if connection.vendor != "sqlite":
        return rows
    at = _LAST_CHECKIN
    return [
        r if r[at] is None else (*r[:at], r[at].replace(tzinfo=dt.UTC), *r[at + 1 :]) for r in rows
    ]


@cyclic_gc_paused()
def snapshot_of(
    organisation: Organisation,
    *,
    now: dt.datetime | None = None,
    kr_ids: Collection[int] | None = None,
    objective_ids: Collection[int] | None = None,
    initiative_ids: Collection[int] | None = None,
    dependency_ids: Collection[int] | None = None,
) -> Snapshot:
    """The organisation (or the named part of it) as plain data, in a fixed number of queries.

    None means "all"; a partial snapshot also holds the objectives of the KRs it holds,
    every cycle, and the units and KPIs its rows name, so the engine can name things.
    """
    org = organisation
    krs_q = KeyResult.objects.filter(organisation=org, archived_at__isnull=True)
    if kr_ids is not None:
        krs_q = krs_q.filter(Q(pk__in=kr_ids) | Q(objective_id__in=objective_ids or ()))
    elif objective_ids is not None:
        krs_q = krs_q.filter(objective_id__in=objective_ids)
    kr_rows = _kr_rows(krs_q)
    # Subqueries rather than id lists: a 50,000-KR organisation would pass SQLite's default
    # limit of 32,766 variables per statement.
    co_owners: dict[int, list[int]] = {}
    through = KeyResult.co_owners.through
    for kr_id, unit_id in through.objects.filter(keyresult_id__in=krs_q.values("pk")).values_list(
        "keyresult_id", "unit_id"
    ):
        co_owners.setdefault(kr_id, []).append(unit_id)

    obj_q = Objective.objects.filter(organisation=org, archived_at__isnull=True)
    if kr_ids is not None or objective_ids is not None:
        obj_q = obj_q.filter(Q(pk__in={r[3] for r in kr_rows}) | Q(pk__in=objective_ids or ()))
    obj_rows = list(
        obj_q.values("id", "key", "title", "cycle_id", "level", "owner_unit_id", "state")
    )
    obj_pks = obj_q.values("pk")
    contributors: dict[int, list[int]] = {}
    for oid, uid in ObjectiveContributor.objects.filter(objective_id__in=obj_pks).values_list(
        "objective_id", "unit_id"
    ):
        contributors.setdefault(oid, []).append(uid)
    parents: dict[int, list[tuple[int, float]]] = {}
    # Only the links up from the objectives held: a company objective has thousands of
    # children, and reading them after every check-in on its KRs was wasted.
    links_up = ContributionLink.objects.filter(
        child_id__in=obj_pks,
        child__archived_at__isnull=True,
        parent__archived_at__isnull=True,
    ).values_list("child_id", "parent_id", "weight")
    for child, parent, weight in links_up:
        parents.setdefault(child, []).append((parent, weight))

    init_q = Initiative.objects.filter(organisation=org, archived_at__isnull=True)
    if initiative_ids is not None:
        init_q = init_q.filter(pk__in=initiative_ids)
    init_rows = list(init_q.values("id", "title", "owner_unit_id", "state", "due"))
    init_krs: dict[int, list[int]] = {}
    for iid, kid in Initiative.key_results.through.objects.filter(
        initiative_id__in=init_q.values("pk")
    ).values_list("initiative_id", "keyresult_id"):
        init_krs.setdefault(iid, []).append(kid)

    dep_q = Dependency.objects.filter(organisation=org)
    if dependency_ids is not None:
        dep_q = dep_q.filter(pk__in=dependency_ids)
    dep_rows = list(dep_q.values(*DEP_FIELDS))

    partial = any(
        ids is not None for ids in (kr_ids, objective_ids, initiative_ids, dependency_ids)
    )
    kpi_q = KPI.objects.filter(organisation=org, archived_at__isnull=True)
    if partial:
        kpi_q = kpi_q.filter(pk__in={r[13] for r in kr_rows if r[13] is not None})
    kpi_rows = list(kpi_q.values_list("id", "key", "name"))
    kpi_owners: dict[int, list[int]] = {}
    for kid, uid in KPI.owner_units.through.objects.filter(
        kpi_id__in=[k[0] for k in kpi_rows]
    ).values_list("kpi_id", "unit_id"):
        kpi_owners.setdefault(kid, []).append(uid)
    endorsements = list(
        Review.objects.filter(objective_id__in=obj_pks).values_list(
            "objective_id", "unit_id", "state"
        )
    )
    unit_q = Unit.objects.filter(organisation=org, archived_at__isnull=True)
    if partial:
        # A partial snapshot serves rules that only name units: after a check-in in a
        # 20,000-unit organisation, reading every unit would cost more than the rest.
        unit_q = unit_q.filter(
            pk__in=_units_named(
                kr_rows, co_owners, obj_rows, contributors, init_rows, dep_rows, kpi_owners
            )
        )

    return Snapshot(
        now=now or timezone.now(),
        tz=org_tz(org),
        thresholds=thresholds_of(org),
        units=tuple(
            UnitSnap(
                u["id"],
                u["key"],
                u["name"],
                u["parent_id"],
                u["weekly_capacity"],
                u["capacity_unit"],
            )
            for u in unit_q.values(
                "id", "key", "name", "parent_id", "weekly_capacity", "capacity_unit"
            )
        ),
        cycles=tuple(
            CycleSnap(*row)
            for row in Cycle.objects.filter(organisation=org).values_list(
                "id", "key", "start", "end"
            )
        ),
        objectives=tuple(
            ObjectiveSnap(
                id=o["id"],
                key=o["key"],
                title=o["title"],
                cycle_id=o["cycle_id"],
                level=o["level"],
                owner_unit_id=o["owner_unit_id"],
                contributor_ids=tuple(sorted(contributors.get(o["id"], ()))),
                state=o["state"],
                parents=tuple(sorted(parents.get(o["id"], ()))),
            )
            for o in obj_rows
        ),
        krs=tuple(
            KRSnap(
                kr_id,
                key,
                title,
                objective_id,
                kinds[kind],
                start,
                target,
                due or cycle_end,
                weight,
                commitments[commitment],
                owner_unit_id,
                tuple(sorted(co)) if (co := co_owners.get(kr_id)) else (),
                cadence_days,
                kpi_id,
                current_value,
                last_checkin_at,
                last_confidence,
                CheckInSums(n, st, sv, stt, stv) if n else NO_SUMS,
            )
            for (
                kr_id,
                key,
                title,
                objective_id,
                kind,
                start,
                target,
                due,
                cycle_end,
                weight,
                commitment,
                owner_unit_id,
                cadence_days,
                kpi_id,
                current_value,
                last_checkin_at,
                last_confidence,
                n,
                st,
                sv,
                stt,
                stv,
            ) in kr_rows
        ),
        initiatives=tuple(
            InitiativeSnap(
                id=i["id"],
                title=i["title"],
                owner_unit_id=i["owner_unit_id"],
                kr_ids=tuple(sorted(init_krs.get(i["id"], ()))),
                state=i["state"],
                due=i["due"],
            )
            for i in init_rows
        ),
        dependencies=tuple(
            DependencySnap(
                id=d["id"],
                title=d["title"],
                requester_unit_id=d["requester_unit_id"],
                provider_unit_id=d["provider_unit_id"],
                needed_by=d["needed_by"],
                state=DependencyState(d["state"]),
                requested_at=d["requested_at"],
                requester_item=_requester_ref(d),
                provider_item=_provider_ref(d),
                effort=d["effort"],
                answered_at=d["answered_at"],
            )
            for d in dep_rows
        ),
        kpis=tuple(
            KPISnap(kid, key, name, tuple(sorted(kpi_owners.get(kid, ()))))
            for kid, key, name in kpi_rows
        ),
        endorsements=tuple(
            Endorsement(oid, uid, state == Review.State.ENDORSED)
            for oid, uid, state in endorsements
        ),
    )


def _units_named(
    kr_rows: list[tuple[Any, ...]],
    co_owners: dict[int, list[int]],
    obj_rows: Iterable[Mapping[str, Any]],
    contributors: dict[int, list[int]],
    init_rows: Iterable[Mapping[str, Any]],
    dep_rows: Iterable[Mapping[str, Any]],
    kpi_owners: dict[int, list[int]],
) -> set[int]:
    """Every unit a partial snapshot's rows refer to."""
    ids = {r[11] for r in kr_rows} | {o["owner_unit_id"] for o in obj_rows}
    ids |= {i["owner_unit_id"] for i in init_rows}
    ids |= {d[f] for d in dep_rows for f in ("requester_unit_id", "provider_unit_id")}
    for group in (co_owners, contributors, kpi_owners):
        for units in group.values():
            ids.update(units)
    ids.discard(None)
    return ids


def _item_filter(prefix: str, refs: Iterable[Ref]) -> Q:
    krs = [i for kind, i in refs if kind == "kr"]
    inits = [i for kind, i in refs if kind == "initiative"]
    return Q(**{f"{prefix}_kr_id__in": krs}) | Q(**{f"{prefix}_initiative_id__in": inits})


@dataclass(frozen=True)
class RiskScope:
    """The items whose upstream risk a change can alter, and everything their chains reach."""

    downstream: frozenset[Ref]
    items: frozenset[Ref]
    dependency_ids: frozenset[int]


def risk_scope(organisation: Organisation, start: Ref) -> RiskScope:
    """Walk dependency edges down from `start` (who waits on it), then up from all of those.

    One query per step of depth; only live dependencies count.
    """
    live = Dependency.objects.filter(organisation=organisation, state__in=OPEN_STATES).order_by()
    down: set[Ref] = {start}
    frontier: set[Ref] = {start}
    dep_ids: set[int] = set()
    while frontier:
        rows = list(live.filter(_item_filter("provider", frontier)).values(*DEP_FIELDS))
        dep_ids.update(r["id"] for r in rows)
        nxt = {ref for r in rows if (ref := _requester_ref(r)) is not None} - down
        down |= nxt
        frontier = nxt
    items: set[Ref] = set(down)
    frontier = set(down)
    while frontier:
        rows = list(live.filter(_item_filter("requester", frontier)).values(*DEP_FIELDS))
        dep_ids.update(r["id"] for r in rows)
        nxt = {ref for r in rows if (ref := _provider_ref(r)) is not None} - items
        items |= nxt
        frontier = nxt
    return RiskScope(frozenset(down), frozenset(items), frozenset(dep_ids))


def findings_hidden(organisation: Organisation, viewer: Person | None) -> Q:
    """A filter that leaves out the findings naming a private objective, or one of its key
    results, that the viewer may not see (as subject or among the items they link).

    Nothing to do for admins and when no private objective is hidden from the viewer (one
    query). Otherwise the findings that could name one are those about its units: only
    they are read, to look through their links.
    """
    if viewer is None or viewer.is_org_admin:
        return Q()
    hidden = list(
        Objective.objects.filter(organisation=organisation, private=True)
        .exclude(objective_visible(viewer))
        .values_list("pk", flat=True)
    )
    if not hidden:
        return Q()
    krs = KeyResult.objects.filter(objective_id__in=hidden)
    kr_ids = list(krs.values_list("pk", flat=True))
    units = {
        *Objective.objects.filter(pk__in=hidden).values_list("owner_unit_id", flat=True),
        *ObjectiveContributor.objects.filter(objective_id__in=hidden).values_list(
            "unit_id", flat=True
        ),
        *krs.values_list("owner_unit_id", flat=True),
    } - {None}
    refs = {("objective", pk) for pk in hidden} | {("kr", pk) for pk in kr_ids}
    naming = {
        pk
        for pk, links in Finding.objects.filter(organisation=organisation, units__in=units)
        .values_list("pk", "links")
        .distinct()
        if any(tuple(ref) in refs for ref in links)
    }
    return ~(
        Q(pk__in=naming)
        | Q(subject_type="objective", subject_id__in=hidden)
        | Q(subject_type="kr", subject_id__in=kr_ids)
    )


def dependency_findings(
    organisation: Organisation, dep_ids: list[int], viewer: Person | None
) -> dict[int, list[Finding]]:
    """The stored findings about each of the dependencies that the viewer may read."""
    out: dict[int, list[Finding]] = defaultdict(list)
    if dep_ids:
        rows = (
            findings_query(organisation, viewer)
            .prefetch_related(None)
            .filter(subject_type="dependency", subject_id__in=dep_ids)
        )
        for f in rows:
            out[f.subject_id].append(f)
    return out


def findings_query(organisation: Organisation, viewer: Person | None = None) -> QuerySet[Finding]:
    """Stored findings, most severe first, with their units, for pages and API.

    With a `viewer`, only the ones they may read (`findings_hidden`)."""
    rank = Case(
        When(severity="error", then=Value(0)),
        When(severity="warning", then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        Finding.objects.filter(organisation=organisation)
        .filter(findings_hidden(organisation, viewer))
        .annotate(rank=rank)
        .order_by("rank", "code", "key")
        .prefetch_related("units")
    )


PROBLEM_CODES = {"OFF_PACE", "LIKELY_MISS", "DEPENDENCY_DECLINED", "DEPENDENCY_TOO_LATE"}


def dependency_graph(
    organisation: Organisation, *, unit_id: int | None = None
) -> dict[str, object]:
    """Items joined by dependencies, as nodes and edges with risk marks from stored findings.

    An edge runs from the item that needs something to the item that delivers it (or to
    the provider unit while no item is named). Bounded queries whatever the graph's size.
    """
    from lockstep.goals.selectors import key_results_query, kr_numbers

    deps = Dependency.objects.filter(organisation=organisation).exclude(
        state=DependencyState.CANCELLED
    )
    if unit_id is not None:
        deps = deps.filter(Q(requester_unit_id=unit_id) | Q(provider_unit_id=unit_id))
    rows = list(deps.values(*DEP_FIELDS))
    refs = {r for d in rows for r in (_requester_ref(d), _provider_ref(d)) if r}
    kr_ids = [pk for kind, pk in refs if kind == "kr"]
    init_ids = [pk for kind, pk in refs if kind == "initiative"]
    marks: dict[tuple[str, int], set[str]] = {}
    for code, stype, sid in Finding.objects.filter(organisation=organisation).values_list(
        "code", "subject_type", "subject_id"
    ):
        marks.setdefault((stype, sid), set()).add(code)
    units = dict(Unit.objects.filter(organisation=organisation).values_list("pk", "name"))
    nodes: list[dict[str, object]] = []
    for kr in key_results_query(organisation).filter(pk__in=kr_ids):
        n = kr_numbers(kr, organisation=organisation)
        codes = marks.get(("kr", kr.pk), set())
        nodes.append(
            {
                "id": f"kr:{kr.pk}",
                "type": "kr",
                "label": f"{units.get(kr.owner_unit_id or 0, '?')}: {kr.title}",
                "unit_id": kr.owner_unit_id,
                "status": n.status.value,
                "at_risk": "UPSTREAM_AT_RISK" in codes,
                "problem": bool(codes & PROBLEM_CODES),
            }
        )
    for pk, title, owner, state in Initiative.objects.filter(pk__in=init_ids).values_list(
        "pk", "title", "owner_unit_id", "state"
    ):
        codes = marks.get(("initiative", pk), set())
        nodes.append(
            {
                "id": f"initiative:{pk}",
                "type": "initiative",
                "label": f"{units.get(owner, '?')}: {title}",
                "unit_id": owner,
                "status": state,
                "at_risk": "UPSTREAM_AT_RISK" in codes,
                "problem": state == "blocked",
            }
        )
    edges: list[dict[str, object]] = []
    unit_nodes: set[str] = set()
    for d in rows:
        source, target = _requester_ref(d), _provider_ref(d)
        if source is None:
            continue
        if target is None:
            unit_node = f"unit:{d['provider_unit_id']}"
            if unit_node not in unit_nodes:
                unit_nodes.add(unit_node)
                nodes.append(
                    {
                        "id": unit_node,
                        "type": "unit",
                        "label": units.get(d["provider_unit_id"], "?"),
                        "unit_id": d["provider_unit_id"],
                        "status": None,
                        "at_risk": False,
                        "problem": False,
                    }
                )
        edges.append(
            {
                "source": f"{source[0]}:{source[1]}",
                "target": f"{target[0]}:{target[1]}" if target else f"unit:{d['provider_unit_id']}",
                "kind": "dependency",
                "state": d["state"],
                "dependency_id": d["id"],
                "label": d["title"],
                "problem": bool(marks.get(("dependency", d["id"]), set()) & PROBLEM_CODES)
                or d["state"] in (DependencyState.DECLINED, DependencyState.MISSED),
            }
        )
    return {"nodes": nodes, "edges": edges}


# ---- the dependency map --------------------------------------------------------------------

# Findings that put a dependency on an at-risk chain: the chain an UPSTREAM_AT_RISK finding
# names (every dependency in its links), and each DEPENDENCY_* finding's own dependencies.
RISK_CODES = (
    "UPSTREAM_AT_RISK",
    "DEPENDENCY_UNANSWERED",
    "DEPENDENCY_DECLINED",
    "DEPENDENCY_TOO_LATE",
    "DEPENDENCY_CYCLE",
)
# What the map can show: open dependencies (the default), everything but withdrawn ones,
# or one state; "late" is still open and needed before today (Dependency.is_late).
MAP_SHOWS = (
    "open",
    "all",
    "requested",
    "countered",
    "accepted",
    "late",
    "declined",
    "missed",
    "delivered",
)
_MAP_OPEN = (
    DependencyState.REQUESTED,
    DependencyState.COUNTERED,
    DependencyState.ACCEPTED,
    DependencyState.DECLINED,
    DependencyState.MISSED,
)


@dataclass(frozen=True)
class RiskMark:
    """A stored finding that puts a dependency on an at-risk chain."""

    finding_id: int
    code: str


@dataclass(frozen=True)
class MapDependency:
    """One dependency as the map draws it: who needs what from whom, by when, how it stands."""

    id: int
    title: str
    requester_unit_id: int
    provider_unit_id: int
    needed_by: dt.date
    state: str
    late: bool  # still open and needed before today (Dependency.is_late)
    risks: tuple[RiskMark, ...]

    @property
    def shown_state(self) -> str:
        return "late" if self.late else self.state

    @property
    def at_risk(self) -> bool:
        return bool(self.risks)


@dataclass(frozen=True)
class DependencyMap:
    """The dependencies a map shows, the names of their units and the units on risky chains.

    `total` counts every dependency the filters match; more than were read if a limit cut.
    """

    dependencies: tuple[MapDependency, ...]
    unit_names: Mapping[int, str]
    risky_unit_ids: frozenset[int]
    total: int

    @property
    def cut(self) -> bool:
        return self.total > len(self.dependencies)


def dependency_risks(organisation: Organisation) -> dict[int, tuple[RiskMark, ...]]:
    """Per dependency id, the stored findings that put it on an at-risk chain (one query)."""
    out: dict[int, list[RiskMark]] = {}
    rows = (
        Finding.objects.filter(organisation=organisation, code__in=RISK_CODES)
        .order_by("id")
        .values_list("id", "code", "subject_type", "subject_id", "links")
    )
    for fid, code, subject_type, subject_id, links in rows:
        dep_ids = {int(pk) for kind, pk in links or () if kind == "dependency"}
        if subject_type == "dependency":
            dep_ids.add(subject_id)
        for dep_id in dep_ids:
            out.setdefault(dep_id, []).append(RiskMark(fid, code))
    return {k: tuple(v) for k, v in out.items()}


def dependency_map(
    organisation: Organisation,
    *,
    today: dt.date,
    show: str = "open",
    needed_from: dt.date | None = None,
    needed_to: dt.date | None = None,
    unit_id: int | None = None,
    limit: int | None = None,
) -> DependencyMap:
    """Dependencies between units for the map, with risk marks from stored findings.

    `needed_from`/`needed_to` keep those needed within a cycle; `unit_id` keeps one unit's
    neighbourhood (what it needs and what it owes); `limit` reads at most that many, the
    soonest needed first. Three queries whatever the map's size (four when the limit cuts).
    """
    if show not in MAP_SHOWS:
        raise ValueError(f"show must be one of {', '.join(MAP_SHOWS)}")
    deps = Dependency.objects.filter(organisation=organisation).exclude(
        state=DependencyState.CANCELLED
    )
    if show == "open":
        deps = deps.filter(state__in=_MAP_OPEN)
    elif show == "late":
        deps = deps.filter(Dependency.late_q(today))
    elif show != "all":
        deps = deps.filter(state=show)
    if needed_from is not None:
        deps = deps.filter(needed_by__gte=needed_from)
    if needed_to is not None:
        deps = deps.filter(needed_by__lte=needed_to)
    if unit_id is not None:
        deps = deps.filter(Q(requester_unit_id=unit_id) | Q(provider_unit_id=unit_id))
    rows = list(
        deps.order_by("needed_by", "id").values_list(
            "id", "title", "requester_unit_id", "provider_unit_id", "needed_by", "state"
        )[: None if limit is None else limit + 1]
    )
    total = len(rows)
    if limit is not None and total > limit:
        rows, total = rows[:limit], deps.count()
    risks = dependency_risks(organisation) if rows else {}
    shown = tuple(
        MapDependency(
            id=pk,
            title=title,
            requester_unit_id=requester,
            provider_unit_id=provider,
            needed_by=needed_by,
            state=state,
            late=Dependency.late_on(state, needed_by, today),
            risks=risks.get(pk, ()),
        )
        for pk, title, requester, provider, needed_by, state in rows
    )
    unit_ids = {u for d in shown for u in (d.requester_unit_id, d.provider_unit_id)}
    if unit_id is not None:
        unit_ids.add(unit_id)
    names = dict(
        Unit.objects.filter(organisation=organisation, pk__in=unit_ids).values_list("pk", "name")
    )
    risky = frozenset(
        u for d in shown if d.at_risk for u in (d.requester_unit_id, d.provider_unit_id)
    )
    return DependencyMap(shown, names, risky, total)
