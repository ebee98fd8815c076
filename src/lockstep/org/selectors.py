"""Reads for the org domain: the unit tree, a unit's page, and the admin's people list."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from lockstep.alignment.models import Dependency, Finding
from lockstep.alignment.selectors import findings_query
from lockstep.dashboard.selectors import KPIPanel, kpi_panels
from lockstep.goals import selectors as goal_selectors
from lockstep.goals.access import objective_visible
from lockstep.goals.models import Cycle, KeyResult, Objective
from lockstep.goals.selectors import org_tz
from lockstep.org.models import Membership, Organisation, Person, Unit

# Lists on the unit page are cut here; the linked pages show the rest.
OPEN_DEPENDENCIES_SHOWN = 20
FINDINGS_SHOWN = 10
PEOPLE_SHOWN = 200
# The order the unit page counts states in.
STATE_ORDER = [
    Dependency.State.REQUESTED,
    Dependency.State.COUNTERED,
    Dependency.State.ACCEPTED,
    Dependency.State.DELIVERED,
    Dependency.State.DECLINED,
    Dependency.State.MISSED,
    Dependency.State.CANCELLED,
]


@dataclass
class UnitNode:
    """One unit of the tree page with what its line shows."""

    unit: Unit
    leaders: list[Person] = field(default_factory=list)
    objective_count: int = 0
    children: list[UnitNode] = field(default_factory=list)


def today_in(organisation: Organisation) -> dt.date:
    return timezone.localdate(timezone=org_tz(organisation))


def active_cycles(organisation: Organisation) -> list[Cycle]:
    """Cycles of the organisation that include today (in its time zone)."""
    today = today_in(organisation)
    return list(Cycle.objects.filter(organisation=organisation, start__lte=today, end__gte=today))


def unit_forest(units: list[Unit]) -> list[UnitNode]:
    """Nest units under their parents; a unit whose parent is not listed becomes a root."""
    nodes = {u.pk: UnitNode(u) for u in units}
    roots: list[UnitNode] = []
    for u in units:
        parent = nodes.get(u.parent_id) if u.parent_id else None
        (parent.children if parent else roots).append(nodes[u.pk])
    return roots


def units_in_tree_order(units: list[Unit]) -> list[tuple[Unit, int]]:
    """Units depth-first with their depth, for indented pickers."""
    out: list[tuple[Unit, int]] = []
    stack = [(n, 0) for n in reversed(unit_forest(units))]
    while stack:
        node, depth = stack.pop()
        out.append((node.unit, depth))
        stack.extend((c, depth + 1) for c in reversed(node.children))
    return out


def indented_units(units: list[Unit]) -> list[tuple[Unit, str]]:
    """Units for a choice list: in tree order, each indented by its depth."""
    return [(u, "\u00a0\u00a0" * depth) for u, depth in units_in_tree_order(units)]


def live_units(organisation: Organisation) -> list[Unit]:
    """The organisation's units that are not archived, by name."""
    return list(
        Unit.objects.filter(organisation=organisation, archived_at__isnull=True).order_by("name")
    )


# ---- the unit page ------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectiveLine:
    """An objective the unit owns or contributes to, with its stored numbers."""

    objective: Objective
    numbers: goal_selectors.ObjectiveNumbers
    owns: bool
    share: float | None  # the unit's part of the objective's progress, through its KRs


@dataclass(frozen=True)
class KRLine:
    kr: KeyResult
    numbers: goal_selectors.KRNumbers
    owns: bool


@dataclass(frozen=True)
class StateCount:
    state: str
    count: int


@dataclass
class DependencySide:
    """Dependencies on one side of the unit: those it asked for, or those it owes."""

    counts: list[StateCount]
    open: list[Dependency]
    open_total: int
    late: int
    late_ids: set[int]  # of `open`, those past their day (Dependency.is_late)

    @property
    def total(self) -> int:
        return sum(c.count for c in self.counts)


@dataclass
class UnitPage:
    unit: Unit
    ancestors: list[Unit]
    children: list[Unit]
    members: list[Membership]
    cycles: list[Cycle]
    objectives: list[ObjectiveLine]
    key_results: list[KRLine]
    asked: DependencySide
    owes: DependencySide
    findings: list[Finding]
    findings_total: int
    kpis: list[KPIPanel]
    today: dt.date

    @property
    def leaders(self) -> list[Membership]:
        return [m for m in self.members if m.role == Membership.Role.LEADER]


def _ancestors(unit: Unit) -> list[Unit]:
    """The unit's parents up to the root, root first: one query per level of depth."""
    out: list[Unit] = []
    seen = {unit.pk}
    parent_id = unit.parent_id
    while parent_id is not None and parent_id not in seen:
        parent = Unit.objects.filter(pk=parent_id).only("pk", "name", "parent_id").first()
        if parent is None:
            break
        out.append(parent)
        seen.add(parent.pk)
        parent_id = parent.parent_id
    return list(reversed(out))


def _dependency_side(
    organisation: Organisation, side: Q, counts: Counter[str], late: int, today: dt.date
) -> DependencySide:
    rows = (
        Dependency.objects.filter(organisation=organisation, state__in=Dependency.OPEN_STATES)
        .filter(side)
        .select_related("requester_unit", "provider_unit", "requester_kr", "provider_kr")
        .order_by("needed_by", "id")
    )
    open_total = sum(counts.get(s, 0) for s in Dependency.OPEN_STATES)
    shown = list(rows[:OPEN_DEPENDENCIES_SHOWN]) if open_total else []
    return DependencySide(
        counts=[StateCount(s, counts[s]) for s in STATE_ORDER if counts.get(s)],
        open=shown,
        open_total=open_total,
        late=late,
        late_ids={d.pk for d in shown if d.is_late(today)},
    )


def unit_page(unit: Unit, *, organisation: Organisation, viewer: Person | None = None) -> UnitPage:
    """Everything the unit page shows, in a number of queries that does not grow with rows.

    Objectives carry their stored progress and status (as the objective list); key results
    their live numbers from goals.selectors.kr_numbers (as the objective page), which cost
    no query once their objective and cycle are loaded.
    """
    today = today_in(organisation)
    cycles = active_cycles(organisation)
    # The viewer's objectives only (private ones of other units stay out); None: all.
    visible = objective_visible(viewer) if viewer is not None else Q()
    under = objective_visible(viewer, "objective__") if viewer is not None else Q()
    objectives = list(
        goal_selectors.objectives_query(organisation)
        .prefetch_related(None)  # the page shows neither contributors nor parents
        .filter(cycle__in=cycles, archived_at__isnull=True)
        .filter(Q(owner_unit=unit) | Q(contributors=unit))
        .filter(visible)
        .distinct()
        .order_by("cycle__start", "title")
    )
    numbers = goal_selectors.objective_numbers_stored(objectives, organisation=organisation)
    krs = list(
        goal_selectors.key_results_query(organisation)
        .prefetch_related(None)
        .filter(
            objective__cycle__in=cycles,
            archived_at__isnull=True,
            objective__archived_at__isnull=True,
        )
        .filter(Q(owner_unit=unit) | Q(co_owners=unit))
        .filter(under)
        .distinct()
        .order_by("objective__title", "pk")
    )
    # Both sides counted by state in one query, the late ones (accepted, due before today) too.
    by_state: dict[str, Counter[str]] = {"asked": Counter(), "owes": Counter()}
    late: Counter[str] = Counter()
    for requester, state, n, n_late in (
        Dependency.objects.filter(organisation=organisation)
        .filter(Q(requester_unit=unit) | Q(provider_unit=unit))
        .values_list("requester_unit_id", "state")
        .annotate(
            n=Count("id"),
            late=Count("id", filter=Dependency.late_q(today)),
        )
        .order_by()
    ):
        side = "asked" if requester == unit.pk else "owes"
        by_state[side][state] += n
        late[side] += n_late
    about = findings_query(organisation, viewer).prefetch_related(None).filter(units=unit)
    shown_findings = list(about[:FINDINGS_SHOWN])
    members = list(
        Membership.objects.filter(unit=unit, person__archived_at__isnull=True)
        .select_related("person")
        .order_by("role", "person__name")  # "leader" sorts before "member"
    )
    return UnitPage(
        unit=unit,
        ancestors=_ancestors(unit),
        children=list(unit.children.filter(archived_at__isnull=True).order_by("name")),
        members=members,
        cycles=cycles,
        objectives=[
            ObjectiveLine(
                o, numbers[o.pk], o.owner_unit_id == unit.pk, numbers[o.pk].unit_shares.get(unit.pk)
            )
            for o in objectives
        ],
        key_results=[
            KRLine(
                kr,
                goal_selectors.kr_numbers(kr, organisation=organisation),
                kr.owner_unit_id == unit.pk,
            )
            for kr in krs
        ],
        asked=_dependency_side(
            organisation, Q(requester_unit=unit), by_state["asked"], late["asked"], today
        ),
        owes=_dependency_side(
            organisation, Q(provider_unit=unit), by_state["owes"], late["owes"], today
        ),
        findings=shown_findings,
        findings_total=len(shown_findings)
        if len(shown_findings) < FINDINGS_SHOWN
        else about.count(),
        kpis=kpi_panels(organisation, [unit.pk]),
        today=today,
    )


# ---- the admin's lists --------------------------------------------------------------------


def people_query(
    organisation: Organisation,
    *,
    search: str = "",
    unit_id: int | None = None,
    include_archived: bool = False,
) -> QuerySet[Person]:
    """People of the organisation with their units and account, matching the admin's filters."""
    rows = Person.objects.filter(organisation=organisation)
    if not include_archived:
        rows = rows.filter(archived_at__isnull=True)
    if search:
        rows = rows.filter(
            Q(name__icontains=search) | Q(email__icontains=search) | Q(user__username=search)
        )
    if unit_id is not None:
        rows = rows.filter(memberships__unit_id=unit_id).distinct()
    return (
        rows.select_related("user")
        .prefetch_related(
            Prefetch(
                "memberships",
                queryset=Membership.objects.select_related("unit").order_by("role", "unit__name"),
            )
        )
        .order_by("name", "pk")
    )


def member_counts(organisation: Organisation) -> dict[int, int]:
    """How many people (not archived) belong to each unit."""
    out: dict[int, int] = defaultdict(int)
    for unit_id, n in (
        Membership.objects.filter(unit__organisation=organisation, person__archived_at__isnull=True)
        .values_list("unit_id")
        .annotate(n=Count("id"))
        .order_by()
    ):
        out[unit_id] = n
    return out


def live_objective_counts(organisation: Organisation) -> dict[int, int]:
    """Live objectives each unit owns (any cycle): what stands in the way of archiving it."""
    return dict(
        Objective.objects.filter(organisation=organisation, archived_at__isnull=True)
        .exclude(owner_unit=None)
        .values_list("owner_unit_id")
        .annotate(n=Count("id"))
        .order_by()
    )
