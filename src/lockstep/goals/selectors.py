"""Reads for goals: the numbers of PRODUCT.md section 4 for pages, API and CLI alike."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from lockstep.core.forecast import days_since, forecast_progress, forecast_value, likely_miss
from lockstep.core.progress import (
    Commitment,
    KRKind,
    Margins,
    Status,
    expected_progress,
    kr_progress,
    kr_status,
)
from lockstep.core.rollup import KRScore, Link, roll_up, unit_shares
from lockstep.core.snapshot import CheckInSums
from lockstep.goals.access import objective_visible
from lockstep.goals.models import (
    KR_COUNTED,
    CheckIn,
    ContributionLink,
    Cycle,
    KeyResult,
    Objective,
    ObjectiveContributor,
)
from lockstep.org.models import Organisation, Person, Unit

if TYPE_CHECKING:
    from lockstep.alignment.models import Dependency


@dataclass(frozen=True)
class KRNumbers:
    progress: float
    expected: float
    status: Status
    forecast_value: float | None = None
    forecast_progress: float | None = None
    likely_miss: bool = False


@dataclass(frozen=True)
class ObjectiveNumbers:
    progress: float
    expected: float
    status: Status
    unit_shares: dict[int, float]


def org_tz(organisation: Organisation) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(organisation.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def day_start(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """Midnight at the start of `day` in the organisation's time zone."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz)


def cycle_window(cycle: Cycle, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """A cycle runs from the start of its first day to the end of its last day."""
    return day_start(cycle.start, tz), day_start(cycle.end + dt.timedelta(days=1), tz)


def kr_due(kr: KeyResult) -> dt.date:
    return kr.due or kr.objective.cycle.end


def margins_of(organisation: Organisation) -> Margins:
    return Margins(on_track=organisation.on_track_margin, at_risk=organisation.at_risk_margin)


def kr_pace(
    *,
    kind: str,
    start: float,
    target: float,
    current_value: float | None,
    checkin_count: int,
    cycle_start: dt.date,
    due: dt.date,
    tz: dt.tzinfo,
    margins: Margins,
    at: dt.datetime,
) -> tuple[float, float, Status]:
    """Progress, expected progress and status of a KR from its stored fields, without a query.

    `due` is the effective due day (the KR's own or its cycle's last day). kr_numbers and
    the stored-number refreshes (goals.services) both call this, so the rule is written once.
    """
    progress = kr_progress(KRKind(kind), start, target, current_value)
    expected = expected_progress(
        at, day_start(cycle_start, tz), day_start(due + dt.timedelta(days=1), tz)
    )
    status = kr_status(progress, expected, checked_in=checkin_count > 0, margins=margins)
    return progress, expected, status


def kr_numbers(
    kr: KeyResult, *, organisation: Organisation, at: dt.datetime | None = None
) -> KRNumbers:
    """Progress, pace and status of one KR (its objective and cycle must be loaded)."""
    at = at or timezone.now()
    tz = org_tz(organisation)
    progress, expected, status = kr_pace(
        kind=kr.kind,
        start=kr.start,
        target=kr.target,
        current_value=kr.current_value,
        checkin_count=kr.checkin_count,
        cycle_start=kr.objective.cycle.start,
        due=kr_due(kr),
        tz=tz,
        margins=margins_of(organisation),
        at=at,
    )
    start = day_start(kr.objective.cycle.start, tz)
    due = day_start(kr_due(kr) + dt.timedelta(days=1), tz)
    sums = CheckInSums(kr.checkin_count, kr.sum_t, kr.sum_v, kr.sum_tt, kr.sum_tv)
    # The same moment the engine forecasts to (core.findings.kr_assessment): the end of the due day.
    due_t = (due.astimezone(dt.UTC) - start.astimezone(dt.UTC)).total_seconds() / 86_400
    value = forecast_value(sums, start_value=kr.start, due_t=due_t)
    fp = forecast_progress(KRKind(kr.kind), kr.start, kr.target, sums, due_t)
    return KRNumbers(
        progress=progress,
        expected=expected,
        status=status,
        forecast_value=value,
        forecast_progress=fp,
        likely_miss=status is not Status.DONE and likely_miss(fp, Commitment(kr.commitment)),
    )


def _descendant_ids(objective_ids: set[int]) -> tuple[set[int], list[tuple[int, int, float]]]:
    """All objectives feeding the given ones, through links, and the links between them.

    One query per level of depth; a visited set stops at links that loop back.
    """
    seen = set(objective_ids)
    frontier = set(objective_ids)
    links: list[tuple[int, int, float]] = []
    while frontier:
        rows = list(
            ContributionLink.objects.filter(parent_id__in=frontier).values_list(
                "child_id", "parent_id", "weight"
            )
        )
        links.extend(rows)
        frontier = {child for child, _, _ in rows} - seen
        seen |= frontier
    return seen, links


def objective_numbers(
    objective_ids: Iterable[int], *, organisation: Organisation, at: dt.datetime | None = None
) -> dict[int, ObjectiveNumbers]:
    """Progress, pace, status and unit shares of objectives, rolled up through their links."""
    at = at or timezone.now()
    wanted = set(objective_ids)
    if not wanted:
        return {}
    all_ids, links = _descendant_ids(wanted)
    krs = list(
        KeyResult.objects.filter(objective_id__in=all_ids, archived_at__isnull=True)
        .select_related("objective__cycle")
        .prefetch_related("co_owners")
    )
    scores = []
    for kr in krs:
        n = kr_numbers(kr, organisation=organisation, at=at)
        owners = {u.pk for u in kr.co_owners.all()}
        if kr.owner_unit_id:
            owners.add(kr.owner_unit_id)
        scores.append(KRScore(kr.objective_id, kr.weight, n.progress, n.status, frozenset(owners)))
    by_objective: dict[int, list[KRScore]] = defaultdict(list)
    for score in scores:
        by_objective[int(str(score.objective))].append(score)
    rolled = roll_up(all_ids, scores, [Link(c, p, w) for c, p, w in links])
    tz = org_tz(organisation)
    windows = Objective.objects.filter(pk__in=wanted).values_list(
        "pk", "cycle__start", "cycle__end"
    )
    out: dict[int, ObjectiveNumbers] = {}
    for oid, start, end in windows:
        out[oid] = ObjectiveNumbers(
            progress=rolled[oid].progress,
            expected=_cycle_pace(start, end, tz, at),
            status=rolled[oid].status,
            unit_shares=_shares(by_objective.get(oid, [])),
        )
    return out


def objective_numbers_stored(
    objectives: Sequence[Objective], *, organisation: Organisation, at: dt.datetime | None = None
) -> dict[int, ObjectiveNumbers]:
    """The numbers of objectives for lists: stored progress and status, in two queries.

    The objectives must come with their cycle (`objectives_query`). Progress and status are
    the stored roll-up, as of `numbers_at` (docs/numbers.md); the pace line is today's; unit
    shares weigh the stored progress of each objective's own live KRs. An objective the
    store has not reached yet (bulk rows before their first full refresh) rolls up live.
    """
    at = at or timezone.now()
    tz = org_tz(organisation)
    stored = {
        o.pk: (o, o.progress, Status(o.status))
        for o in objectives
        if o.numbers_at is not None and o.progress is not None and o.status is not None
    }
    krs = list(
        KeyResult.objects.filter(objective_id__in=stored, archived_at__isnull=True).values_list(
            "pk", "objective_id", "weight", "progress", "owner_unit_id"
        )
    )
    co_owners: dict[int, set[int]] = defaultdict(set)
    for kr_id, unit_id in KeyResult.co_owners.through.objects.filter(
        keyresult__objective_id__in=stored, keyresult__archived_at__isnull=True
    ).values_list("keyresult_id", "unit_id"):
        co_owners[kr_id].add(unit_id)
    by_objective: dict[int, list[KRScore]] = defaultdict(list)
    for kr_id, oid, weight, progress, owner_unit_id in krs:
        if progress is None:  # a KR the store has not reached: its objective goes live
            stored.pop(oid, None)
            continue
        owners = co_owners[kr_id] | ({owner_unit_id} if owner_unit_id else set())
        # Unit shares weigh progress only; the status is not read, any value does.
        by_objective[oid].append(KRScore(oid, weight, progress, Status.ON_TRACK, frozenset(owners)))
    out = objective_numbers(
        [o.pk for o in objectives if o.pk not in stored], organisation=organisation, at=at
    )
    for oid, (o, progress, status) in stored.items():
        out[oid] = ObjectiveNumbers(
            progress=progress,
            expected=_cycle_pace(o.cycle.start, o.cycle.end, tz, at),
            status=status,
            unit_shares=_shares(by_objective.get(oid, [])),
        )
    return out


def _cycle_pace(start: dt.date, end: dt.date, tz: dt.tzinfo, at: dt.datetime) -> float:
    """An objective's expected progress at `at`: the pace line through its cycle."""
    return expected_progress(at, day_start(start, tz), day_start(end + dt.timedelta(days=1), tz))


def _shares(scores: list[KRScore]) -> dict[int, float]:
    return {int(str(k)): v for k, v in unit_shares(scores).items()}


def objectives_query(organisation: Organisation) -> QuerySet[Objective]:
    """Objectives of the organisation with what their cards show, in a fixed number of queries."""
    return (
        Objective.objects.filter(organisation=organisation)
        .select_related("cycle", "owner_unit")
        .prefetch_related(
            "contributors",
            Prefetch("parent_links", queryset=ContributionLink.objects.select_related("parent")),
        )
    )


def objectives_page(
    objectives: QuerySet[Objective], *, offset: int, limit: int
) -> tuple[int, list[Objective]]:
    """One page of `objectives` in (cycle start, key) order, and how many there are in all.

    Ordered by the cycle's start, every page made the database sort the whole organisation
    (37 ms of a 50 ms request at 78,000 objectives). Cycles are few: count the objectives
    per cycle in one GROUP BY, find the cycles the page falls in, and read only those by
    key. Cycles that start on the same day are read together, so their objectives
    interleave by key as in the one ORDER BY.
    """
    # On the (organisation, cycle) index alone: joining the cycle for its start, or counting
    # distinct ids when nothing can repeat, made this slower than the sort it replaces.
    per_cycle: dict[int, int] = dict(
        objectives.order_by()
        .values_list("cycle_id")
        .annotate(n=Count("pk", distinct=objectives.query.distinct))
    )
    same_day: dict[dt.date, list[int]] = defaultdict(list)
    for cycle_id, start in Cycle.objects.filter(pk__in=per_cycle).values_list("pk", "start"):
        same_day[start].append(cycle_id)
    rows: list[Objective] = []
    skip = offset
    for day in sorted(same_day):
        ids = same_day[day]
        held = sum(per_cycle[c] for c in ids)
        if skip >= held:
            skip -= held
            continue
        want = limit - len(rows)
        rows += objectives.filter(cycle_id__in=ids).order_by("key")[skip : skip + want]
        skip = 0
        if len(rows) >= limit:
            break
    return sum(per_cycle.values()), rows


def key_results_query(organisation: Organisation) -> QuerySet[KeyResult]:
    return (
        KeyResult.objects.filter(organisation=organisation)
        .select_related("objective__cycle", "owner_unit", "owner_person", "kpi")
        .prefetch_related("co_owners")
    )


# ---- unit shares, the alignment map, KR histories ---------------------------------------


def objective_unit_shares(
    objective: Objective, numbers: ObjectiveNumbers, units: dict[int, Unit]
) -> list[tuple[Unit, float | None]]:
    """The units an objective names (owner, or contributors of a shared one) with their share.

    The listed units come first, in their order, then any other unit owning one of its KRs;
    None for a listed unit that owns no KR yet. `objective.contributors` should be prefetched.
    """
    if objective.level == Objective.Level.SHARED:
        listed = list(objective.contributors.all())
    else:
        listed = [objective.owner_unit] if objective.owner_unit else []
    out = [(u, numbers.unit_shares.get(u.pk)) for u in listed]
    seen = {u.pk for u in listed}
    out += [
        (units[pk], share)
        for pk, share in sorted(numbers.unit_shares.items())
        if pk not in seen and pk in units
    ]
    return out


@dataclass(frozen=True)
class MapKR:
    """A key result as a card of the alignment map shows it: stored numbers, no history."""

    id: int
    key: str
    title: str
    owner_unit: str
    progress: float
    expected: float
    status: Status


@dataclass
class MapObjective:
    """An objective of the alignment map with what its card shows and where it links."""

    objective: Objective
    numbers: ObjectiveNumbers
    shares: list[tuple[Unit, float | None]]
    krs: list[MapKR]
    children: list[tuple[int, float]] = field(default_factory=list)  # (child id, weight)
    parents: list[int] = field(default_factory=list)
    # False for an ancestor shown only so the path up from a chosen objective stays visible.
    in_scope: bool = True

    @property
    def kr_counts(self) -> list[tuple[Status, int]]:
        """The stored count of its own live KRs at each status, leaving out the zeros."""
        o = self.objective
        if o.numbers_at is None:
            counts: dict[Status, int] = defaultdict(int)
            for kr in self.krs:
                counts[kr.status] += 1
            return [(s, counts[s]) for s in KR_COUNTED if counts[s]]
        return [(s, n) for s in KR_COUNTED if (n := getattr(o, f"kr_{s.value}") or 0)]


@dataclass
class AlignmentMap:
    """Objectives in scope and their ancestors, joined by contribution links."""

    objectives: dict[int, MapObjective]
    roots: list[int]  # company objectives that contribute to no other objective
    orphans: list[int]  # any other objective aligned to no parent (with what feeds it)

    @property
    def in_scope_count(self) -> int:
        return sum(1 for o in self.objectives.values() if o.in_scope)


def _map_sort_key(o: Objective) -> tuple[dt.date, str]:
    return (o.cycle.start, o.title.lower())


def alignment_map(
    organisation: Organisation,
    *,
    units: dict[int, Unit],
    cycle_ids: Collection[int] | None = None,
    unit_ids: Collection[int] | None = None,
    at: dt.datetime | None = None,
    viewer: Person | None = None,
) -> AlignmentMap:
    """The live objectives of the chosen cycles and units, their KRs and the links between them.

    `unit_ids` keeps the objectives those units own or contribute to. Every objective above
    the ones kept, through contribution links, comes too (whatever its cycle or unit, marked
    out of scope) so the path up stays in view. Numbers are the stored ones
    (`objective_numbers_stored`). A fixed number of queries, plus one per level of
    ancestors outside the scope.
    """
    at = at or timezone.now()
    tz = org_tz(organisation)
    live = Objective.objects.filter(organisation=organisation, archived_at__isnull=True)
    # Only what the viewer may see: private objectives of others go (admins see all).
    visible = objective_visible(viewer) if viewer is not None else Q()
    live = live.filter(visible)
    scope = live
    if cycle_ids is not None:
        scope = scope.filter(cycle_id__in=cycle_ids)
    if unit_ids is not None:
        scope = scope.filter(
            Q(owner_unit_id__in=unit_ids)
            | Q(
                pk__in=ObjectiveContributor.objects.filter(unit_id__in=unit_ids).values(
                    "objective_id"
                )
            )
        )
    shown = _map_query(scope)
    in_scope = {o.pk for o in shown}
    links: list[tuple[int, int, float]] = []
    # Up from the scope: the first step reads the links of every objective in scope (as a
    # subquery: SQLite caps the variables of one statement), the next ones only the links
    # of ancestors outside it.
    step = ContributionLink.objects.filter(parent__archived_at__isnull=True).values_list(
        "child_id", "parent_id", "weight"
    )
    rows = list(step.filter(child__in=scope.values("pk")))
    seen = set(in_scope)
    while rows:
        links += rows
        frontier = {parent for _, parent, _ in rows} - seen
        seen |= frontier
        rows = list(step.filter(child_id__in=frontier)) if frontier else []
    ancestors = seen - in_scope
    if visible:  # a private parent the viewer may not see stays out of view
        ancestors = set(live.filter(pk__in=ancestors).values_list("pk", flat=True))
    if ancestors:
        shown += _map_query(live.filter(pk__in=ancestors))
    numbers = objective_numbers_stored(shown, organisation=organisation, at=at)
    krs: dict[int, list[MapKR]] = defaultdict(list)
    kr_rows = (
        KeyResult.objects.filter(organisation=organisation, archived_at__isnull=True)
        .filter(Q(objective__in=scope.values("pk")) | Q(objective_id__in=ancestors))
        .order_by("pk")
        .values_list(
            "pk",
            "key",
            "title",
            "objective_id",
            "owner_unit_id",
            "progress",
            "status",
            "due",
            "objective__cycle__start",
            "objective__cycle__end",
        )
    )
    for pk, key, title, oid, unit_id, progress, status, due, start, end in kr_rows:
        expected = expected_progress(
            at, day_start(start, tz), day_start((due or end) + dt.timedelta(days=1), tz)
        )
        krs[oid].append(
            MapKR(
                id=pk,
                key=key,
                title=title,
                owner_unit=units[unit_id].name if unit_id in units else "",
                # A KR the store has not reached yet reads as not started, as lists show it.
                progress=progress or 0.0,
                expected=expected,
                status=Status(status) if status else Status.NOT_STARTED,
            )
        )
    nodes = {
        o.pk: MapObjective(
            objective=o,
            numbers=numbers[o.pk],
            shares=objective_unit_shares(o, numbers[o.pk], units),
            krs=krs.get(o.pk, []),
            in_scope=o.pk in in_scope,
        )
        for o in sorted(shown, key=_map_sort_key)
    }
    for child, parent, weight in links:
        if child in nodes and parent in nodes:
            nodes[parent].children.append((child, weight))
            nodes[child].parents.append(parent)
    for node in nodes.values():
        node.children.sort(key=lambda cw: (-cw[1], *_map_sort_key(nodes[cw[0]].objective)))
    roots = [pk for pk, n in nodes.items() if not n.parents]
    return AlignmentMap(
        objectives=nodes,
        roots=[pk for pk in roots if nodes[pk].objective.level == Objective.Level.COMPANY],
        orphans=[pk for pk in roots if nodes[pk].objective.level != Objective.Level.COMPANY],
    )


def _map_query(objectives: QuerySet[Objective]) -> list[Objective]:
    return list(
        objectives.select_related("cycle", "owner_unit").prefetch_related(
            Prefetch("contributors", queryset=Unit.objects.order_by("name"))
        )
    )


@dataclass(frozen=True)
class KRHistory:
    """A KR's cycle in progress terms (0 to 1) over days since its cycle start, for its chart.

    `checkins` are (time, day, value, progress) in time order; the pace line runs from 0 at the
    cycle start to 1 at the end of the due day; the forecast line is the least-squares
    trend (core.forecast) from the last check-in to the due day, None before a check-in.
    """

    cycle_start: dt.date
    due: dt.date
    due_t: float
    checkins: list[tuple[dt.datetime, float, float, float]]
    pace: list[tuple[float, float]]
    forecast: list[tuple[float, float]] | None


def kr_histories(krs: Sequence[KeyResult], *, organisation: Organisation) -> dict[int, KRHistory]:
    """The history chart data of each KR (objective and cycle loaded): one query for all."""
    tz = org_tz(organisation)
    points: dict[int, list[tuple[dt.datetime, float]]] = defaultdict(list)
    rows = CheckIn.objects.filter(key_result__in=[kr.pk for kr in krs]).order_by("at", "pk")
    for kr_id, at, value in rows.values_list("key_result_id", "at", "value"):
        points[kr_id].append((at, value))
    out: dict[int, KRHistory] = {}
    for kr in krs:
        kind, cycle_start, due = KRKind(kr.kind), kr.objective.cycle.start, kr_due(kr)
        origin, end = day_start(cycle_start, tz), day_start(due + dt.timedelta(days=1), tz)
        due_t = days_since(end, cycle_start, tz)
        checkins = [
            (
                at,
                days_since(at, cycle_start, tz),
                value,
                kr_progress(kind, kr.start, kr.target, value),
            )
            for at, value in points[kr.pk]
        ]
        pace = [
            (0.0, expected_progress(origin, origin, end)),
            (due_t, expected_progress(end, origin, end)),
        ]
        forecast = None
        sums = CheckInSums(kr.checkin_count, kr.sum_t, kr.sum_v, kr.sum_tt, kr.sum_tv)
        if checkins and sums.n:
            # The trend line through the check-ins, read at the last one and at the due day.
            forecast = [
                (t, kr_progress(kind, kr.start, kr.target, v))
                for t in (checkins[-1][1], due_t)
                if (v := forecast_value(sums, start_value=kr.start, due_t=t)) is not None
            ]
        out[kr.pk] = KRHistory(cycle_start, due, due_t, checkins, pace, forecast)
    return out


def objective_dependencies(organisation: Organisation, kr_ids: Collection[int]) -> list[Dependency]:
    """Live dependencies asked for or delivered through the given KRs, by date needed.

    Withdrawn requests bind no one and are left out. The alignment domain owns the model
    and builds on the goal spine, so the spine reaches for it only here, when asked.
    """
    from lockstep.alignment.models import Dependency

    return list(
        Dependency.objects.filter(organisation=organisation)
        .filter(Q(requester_kr_id__in=kr_ids) | Q(provider_kr_id__in=kr_ids))
        .exclude(state=Dependency.State.CANCELLED)
        .select_related("requester_unit", "provider_unit", "requester_kr", "provider_kr")
        .order_by("needed_by", "pk")
    )
