"""Pages of the org domain: the unit tree."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from lockstep.goals.models import Cycle, Objective, ObjectiveContributor
from lockstep.goals.selectors import org_tz
from lockstep.org.models import Membership, Organisation, Person, Unit
from lockstep.web.views import page_context, person_page


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


def _objective_counts(organisation: Organisation, cycles: list[Cycle]) -> dict[int, int]:
    """Objectives of the cycles each unit owns or contributes to (each objective once)."""
    live = Objective.objects.filter(
        organisation=organisation, cycle__in=cycles, archived_at__isnull=True
    )
    per_unit: dict[int, set[int]] = defaultdict(set)
    for oid, unit_id in live.exclude(owner_unit=None).values_list("pk", "owner_unit_id"):
        per_unit[unit_id].add(oid)
    contributions = ObjectiveContributor.objects.filter(objective__in=live).values_list(
        "objective_id", "unit_id"
    )
    for oid, unit_id in contributions:
        per_unit[unit_id].add(oid)
    return {unit_id: len(ids) for unit_id, ids in per_unit.items()}


@person_page
def unit_tree(request: HttpRequest, me: Person) -> HttpResponse:
    org = me.organisation
    cycles = active_cycles(org)
    units = list(Unit.objects.filter(organisation=org, archived_at__isnull=True).order_by("name"))
    forest = unit_forest(units)
    nodes = {}
    stack = list(forest)
    while stack:
        node = stack.pop()
        nodes[node.unit.pk] = node
        stack.extend(node.children)
    leaders = (
        Membership.objects.filter(
            unit__organisation=org, unit__archived_at__isnull=True, role=Membership.Role.LEADER
        )
        .select_related("person")
        .order_by("person__name")
    )
    for m in leaders:
        nodes[m.unit_id].leaders.append(m.person)
    for unit_id, count in _objective_counts(org, cycles).items():
        if unit_id in nodes:
            nodes[unit_id].objective_count = count
    context = page_context(me, "units", forest=forest, cycles=cycles, unit_count=len(units))
    return render(request, "org/unit_tree.html", context)
