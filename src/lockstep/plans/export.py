"""The organisation as a plan, and a plan as canonical YAML text.

Canonical means: every list sorted by its key (units and cycles level by level, people by
e-mail, the unit keys inside an objective or KR alphabetically), every field written in the
schema's order even when it holds its default, dates as YYYY-MM-DD and numbers as floats.
Milestone steps are the one list kept in the order given: the order is the plan.
So export -> apply to an empty database -> export gives the same text.

Dependencies are exported when they are asked for a key result (plans name KRs only; those
of initiatives stay in the app), each written as `lifecycle.Standing.shown` sees it. An
objective's `endorsed_by` is a note for `check` and is written only when a plan has it:
reviews live in the app, and the database never fills it in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, cast

from django.db.models import Prefetch, QuerySet

from lockstep.alignment.models import Dependency
from lockstep.goals.models import KPI, Cycle
from lockstep.goals.selectors import key_results_query, objectives_query
from lockstep.org.models import Membership, Organisation, Person, Unit
from lockstep.plans.lifecycle import Standing
from lockstep.plans.schema import (
    CapacityUnit,
    CommitmentName,
    CycleKind,
    CycleSpec,
    DependencySpec,
    DependencyStateName,
    KeyResultSpec,
    KPISpec,
    KRKindName,
    Level,
    LinkSpec,
    MembershipSpec,
    ObjectiveSpec,
    OrganisationSpec,
    PersonSpec,
    Plan,
    Role,
    State,
    UnitKind,
    UnitSpec,
)
from lockstep.plans.yamlio import yaml_write


def plan_dump(plan: Plan) -> str:
    """The plan as canonical YAML text (same plan, same text)."""
    data = canonical(plan).model_dump(mode="python", by_alias=True)
    for objective in data["objectives"]:
        if not objective["endorsed_by"]:
            del objective["endorsed_by"]
        if not objective["private"]:  # the default, so plans written before it read the same
            del objective["private"]
    return yaml_write(data)


def plan_from_db(organisation: Organisation) -> Plan:
    """The organisation as a Plan: its active units, people, KPIs, objectives and KRs, all cycles."""
    org = organisation
    units = Unit.objects.filter(organisation=org, archived_at__isnull=True)
    # Links to archived rows are left out: an archived unit's memberships or co-ownerships
    # are history, not part of the plan.
    active = set(units.values_list("key", flat=True))
    objectives = _objective_specs(org, active)
    return canonical(
        Plan(
            organisation=OrganisationSpec(
                slug=org.slug,
                name=org.name,
                timezone=org.timezone,
                on_track_margin=org.on_track_margin,
                at_risk_margin=org.at_risk_margin,
            ),
            units=_tree(units, _unit_spec),
            people=[_person_spec(p, active) for p in _people(org)],
            cycles=_tree(Cycle.objects.filter(organisation=org), _cycle_spec),
            kpis=[_kpi_spec(k, active) for k in _kpis(org)],
            objectives=objectives,
            dependencies=_dependency_specs(org, objectives),
        )
    )


def canonical(plan: Plan) -> Plan:
    """A copy of the plan with every list in canonical order."""
    return plan.model_copy(
        update={
            "units": _sorted_tree(plan.units),
            "cycles": _sorted_tree(plan.cycles),
            "people": [
                p.model_copy(update={"memberships": sorted(p.memberships, key=lambda m: m.unit)})
                for p in sorted(plan.people, key=lambda p: p.email)
            ],
            "kpis": [
                k.model_copy(update={"owners": sorted(k.owners)})
                for k in sorted(plan.kpis, key=lambda k: k.key)
            ],
            "objectives": [
                _sorted_objective(o) for o in sorted(plan.objectives, key=lambda o: o.key)
            ],
            "dependencies": sorted(plan.dependencies, key=lambda d: d.key),
        }
    )


def _sorted_tree(nodes: Iterable[Any]) -> list[Any]:
    return [
        n.model_copy(update={"children": _sorted_tree(n.children)})
        for n in sorted(nodes, key=lambda n: n.key)
    ]


def _sorted_objective(objective: ObjectiveSpec) -> ObjectiveSpec:
    return objective.model_copy(
        update={
            "contributors": sorted(objective.contributors),
            "contributes_to": sorted(objective.contributes_to, key=lambda link: link.objective),
            "endorsed_by": sorted(objective.endorsed_by),
            "key_results": [
                kr.model_copy(update={"co_owners": sorted(kr.co_owners)})
                for kr in sorted(objective.key_results, key=lambda kr: kr.key)
            ],
        }
    )


# ---- reading the database ---------------------------------------------------------------


def _tree(rows: Iterable[Any], spec: Callable[[Any, list[Any]], Any]) -> list[Any]:
    """Specs of a unit or cycle tree; a row whose parent is not in `rows` becomes a root."""
    rows = list(rows)
    present = {row.pk for row in rows}
    children: dict[int | None, list[Any]] = defaultdict(list)
    for row in rows:
        children[row.parent_id if row.parent_id in present else None].append(row)

    def build(parent_id: int | None) -> list[Any]:
        return [spec(row, build(row.pk)) for row in children[parent_id]]

    return build(None)


# The casts below: a choices column is typed `str`, though it holds one of the model's
# choices, which the spec's Literal spells out (and pydantic checks again when it builds it).


def _unit_spec(unit: Unit, children: list[UnitSpec]) -> UnitSpec:
    return UnitSpec(
        key=unit.key,
        name=unit.name,
        kind=cast(UnitKind, unit.kind),
        weekly_capacity=unit.weekly_capacity,
        capacity_unit=cast(CapacityUnit, unit.capacity_unit),
        children=children,
    )


def _cycle_spec(cycle: Cycle, children: list[CycleSpec]) -> CycleSpec:
    return CycleSpec(
        key=cycle.key,
        name=cycle.name,
        kind=cast(CycleKind, cycle.kind),
        start=cycle.start,
        end=cycle.end,
        children=children,
    )


def _people(org: Organisation) -> Iterable[Person]:
    memberships = Membership.objects.select_related("unit")
    return Person.objects.filter(organisation=org, archived_at__isnull=True).prefetch_related(
        Prefetch("memberships", queryset=memberships)
    )


def _person_spec(person: Person, active: set[str]) -> PersonSpec:
    return PersonSpec(
        email=person.email,
        name=person.name,
        is_org_admin=person.is_org_admin,
        memberships=[
            MembershipSpec(unit=m.unit.key, role=cast(Role, m.role))
            for m in person.memberships.all()
            if m.unit.key in active
        ],
    )


def _kpis(org: Organisation) -> Iterable[KPI]:
    return KPI.objects.filter(organisation=org, archived_at__isnull=True).prefetch_related(
        "owner_units"
    )


def _kpi_spec(kpi: KPI, active: set[str]) -> KPISpec:
    return KPISpec(
        key=kpi.key,
        name=kpi.name,
        measure=kpi.measure,
        healthy_min=kpi.healthy_min,
        healthy_max=kpi.healthy_max,
        owners=[u.key for u in kpi.owner_units.all() if u.key in active],
    )


def _objective_specs(org: Organisation, active: set[str]) -> list[ObjectiveSpec]:
    krs: dict[int, list[KeyResultSpec]] = defaultdict(list)
    rows = key_results_query(org).filter(archived_at__isnull=True)
    for kr in rows.filter(objective__archived_at__isnull=True):
        krs[kr.objective_id].append(
            KeyResultSpec(
                key=kr.key,
                title=kr.title,
                kind=cast(KRKindName, kr.kind),
                start=kr.start,
                target=kr.target,
                measure=kr.measure,
                owner=kr.owner_unit.key if kr.owner_unit else None,
                owner_person=kr.owner_person.email if kr.owner_person else None,
                co_owners=[u.key for u in kr.co_owners.all() if u.key in active],
                weight=kr.weight,
                due=kr.due,
                commitment=cast(CommitmentName, kr.commitment),
                cadence_days=kr.cadence_days,
                kpi=kr.kpi.key if kr.kpi else None,
                steps=list(kr.steps or []),
            )
        )
    return [
        ObjectiveSpec(
            key=o.key,
            title=o.title,
            cycle=o.cycle.key,
            level=cast(Level, o.level),
            owner=o.owner_unit.key if o.owner_unit else None,
            contributors=[u.key for u in o.contributors.all() if u.key in active],
            state=cast(State, o.state),
            private=o.private,
            description=o.description,
            contributes_to=[
                LinkSpec(objective=link.parent.key, weight=link.weight)
                for link in o.parent_links.all()
                if link.parent.archived_at is None
            ],
            key_results=krs[o.pk],
        )
        for o in objectives_query(org).filter(archived_at__isnull=True)
    ]


def kr_owners(objectives: Iterable[ObjectiveSpec]) -> dict[str, set[str]]:
    """Each key result's accountable and co-owner units, by KR key."""
    return {
        kr.key: {*kr.co_owners, *([kr.owner] if kr.owner else [])}
        for objective in objectives
        for kr in objective.key_results
    }


def dependencies_query(org: Organisation) -> QuerySet[Dependency]:
    """The dependencies a plan shows: asked for a live key result, between live units."""
    return Dependency.objects.filter(
        organisation=org,
        requester_kr__isnull=False,
        requester_kr__archived_at__isnull=True,
        requester_kr__objective__archived_at__isnull=True,
        requester_unit__archived_at__isnull=True,
        provider_unit__archived_at__isnull=True,
    ).select_related("requester_kr", "provider_unit", "provider_kr")


def standing_of(dependency: Dependency, owners: dict[str, set[str]]) -> Standing:
    """The dependency's standing as the database holds it (before `shown`).

    The delivering KR counts only while it is live and still the provider unit's: a plan
    could not name it otherwise.
    """
    kr = dependency.provider_kr
    delivered_by = (
        kr.key
        if kr is not None and dependency.provider_unit.key in owners.get(kr.key, ())
        else None
    )
    return Standing(
        dependency.state,
        dependency.needed_by,
        dependency.counter_date,
        delivered_by,
        dependency.reason,
    )


def _dependency_specs(org: Organisation, objectives: list[ObjectiveSpec]) -> list[DependencySpec]:
    owners = kr_owners(objectives)
    specs = []
    for dep in dependencies_query(org):
        assert dep.requester_kr is not None  # the query keeps only those
        shown = standing_of(dep, owners).shown()
        specs.append(
            DependencySpec(
                key=dep.key,
                title=dep.title,
                description=dep.description,
                to=dep.provider_unit.key,
                delivered_by=shown.delivered_by,
                needed_by=shown.needed_by,
                state=cast(DependencyStateName, shown.state),
                counter_date=shown.counter_date,
                effort=dep.effort,
                reason=shown.reason,
                **{"from": dep.requester_kr.key},
            )
        )
    return specs
