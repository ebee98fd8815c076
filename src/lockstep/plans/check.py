"""Checking a plan with the alignment engine, without a database: OKRs reviewed like code.

`plan_snapshot` turns a validated Plan into the core `Snapshot` the engine analyses, the
same picture `alignment.selectors.snapshot_of` builds from the database. Ids are given by
key order within each kind (units 1..n sorted by key, and so on), so they are stable for a
plan and `plan_keys` turns them back into keys for people to read.

A plan holds no check-ins, so the caller may pass them (the scenario tests do); they fill
each KR's current value, last check-in and confidence and the running least-squares sums,
exactly as `checkin_record` does. Nor does a plan say when a request was made: a
dependency counts as requested at the start of its requesting KR's cycle, so one still
`requested` once the answer window has passed since then is reported as unanswered.

`check_plan_text` (findings) and `check_plan_rows` (the same as plain rows naming things by
key) are what `lockstep check plan.yaml` runs. They leave out STALE_CHECKIN:
without check-ins every KR of a running cycle would look silent, which says nothing about
the plan. The other check-in codes cannot fire without check-ins.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

from lockstep.core.findings import CATALOGUE, Finding, analyse, finding_row
from lockstep.core.forecast import cycle_origin, days_since, sums_add
from lockstep.core.progress import Commitment, KRKind, Margins
from lockstep.core.snapshot import (
    CheckInSums,
    CycleSnap,
    DependencySnap,
    DependencyState,
    Endorsement,
    KPISnap,
    KRSnap,
    ObjectiveSnap,
    Ref,
    Snapshot,
    Thresholds,
    UnitSnap,
)
from lockstep.plans.schema import DependencySpec, Plan, key_results, tree
from lockstep.plans.validate import plan_load

# (when, value, confidence 1-10) of one check-in
CheckIn = tuple[dt.datetime, float, int]
# What `check` runs on a plan: everything but the code that needs a check-in history.
PLAN_CODES = frozenset(CATALOGUE) - {"STALE_CHECKIN"}


def plan_ids(plan: Plan) -> dict[str, dict[str, int]]:
    """The snapshot id of every unit, cycle, objective, KR, KPI and dependency, by kind and key.

    Ids run 1, 2, ... in key order within each kind, so they are stable for a plan.
    """
    keys = {
        "unit": [node.key for _, node, _ in tree(plan.units, ("units",))],
        "cycle": [node.key for _, node, _ in tree(plan.cycles, ("cycles",))],
        "objective": [o.key for o in plan.objectives],
        "kr": [kr.key for _, kr, _ in key_results(plan)],
        "kpi": [k.key for k in plan.kpis],
        "dependency": [d.key for d in plan.dependencies],
    }
    return {
        kind: {key: i for i, key in enumerate(sorted(ks), start=1)} for kind, ks in keys.items()
    }


def plan_keys(plan: Plan) -> dict[Ref, str]:
    """The key behind each snapshot ref of the plan: ("kr", 3) -> "fx-visits"."""
    return {(kind, i): key for kind, by_key in plan_ids(plan).items() for key, i in by_key.items()}


def plan_snapshot(
    plan: Plan, *, now: dt.datetime, checkins: Mapping[str, Sequence[CheckIn]] | None = None
) -> Snapshot:
    """The plan as the engine's Snapshot at `now` (naive times are in the plan's time zone)."""
    org = plan.organisation
    tz = zoneinfo.ZoneInfo(org.timezone)
    ids = plan_ids(plan)
    unit, kr_id = ids["unit"], ids["kr"]
    cycles = {node.key: node for _, node, _ in tree(plan.cycles, ("cycles",))}
    krs = sorted(((kr, o) for _, kr, o in key_results(plan)), key=lambda e: e[0].key)
    kr_cycle = {kr.key: cycles[objective.cycle] for kr, objective in krs}
    owner_of = {kr.key: kr.owner for kr, _ in krs}
    history = dict(checkins or {})
    unknown = sorted(set(history) - set(kr_id))
    if unknown:
        raise ValueError(f"check-ins for unknown key results: {', '.join(unknown)}")

    def kr_snap(kr: Any, objective: Any) -> KRSnap:
        cycle = kr_cycle[kr.key]
        sums = CheckInSums()
        latest: CheckIn | None = None
        for at, value, confidence in sorted(
            history.get(kr.key, ()), key=lambda c: _aware(c[0], tz)
        ):
            sums = sums_add(sums, days_since(at, cycle.start, tz), float(value))
            latest = (_aware(at, tz), float(value), int(confidence))
        return KRSnap(
            id=kr_id[kr.key],
            key=kr.key,
            title=kr.title,
            objective_id=ids["objective"][objective.key],
            kind=KRKind(kr.kind),
            start=kr.start,
            target=kr.target,
            due=kr.due or cycle.end,
            weight=kr.weight,
            commitment=Commitment(kr.commitment),
            owner_unit_id=unit[kr.owner] if kr.owner else None,
            co_owner_ids=tuple(sorted(unit[u] for u in kr.co_owners)),
            cadence_days=kr.cadence_days,
            kpi_id=ids["kpi"][kr.kpi] if kr.kpi else None,
            current_value=latest[1] if latest else None,
            last_checkin_at=latest[0] if latest else None,
            last_confidence=latest[2] if latest else None,
            sums=sums,
        )

    def dependency_snap(d: DependencySpec) -> DependencySnap:
        requester = owner_of[d.from_]
        assert requester is not None  # a validated plan names who asks
        return DependencySnap(
            id=ids["dependency"][d.key],
            title=d.title,
            requester_unit_id=unit[requester],
            provider_unit_id=unit[d.to],
            needed_by=d.needed_by,
            state=DependencyState(d.state),
            requested_at=cycle_origin(kr_cycle[d.from_].start, tz),
            requester_item=("kr", kr_id[d.from_]),
            provider_item=("kr", kr_id[d.delivered_by]) if d.delivered_by else None,
            effort=d.effort,
        )

    return Snapshot(
        now=_aware(now, tz),
        tz=tz,
        thresholds=Thresholds(margins=Margins(org.on_track_margin, org.at_risk_margin)),
        units=tuple(
            UnitSnap(
                id=unit[node.key],
                key=node.key,
                name=node.name,
                parent_id=unit[parent.key] if parent is not None else None,
                weekly_capacity=node.weekly_capacity,
                capacity_unit=node.capacity_unit,
            )
            for _, node, parent in tree(plan.units, ("units",), by_key=True)
        ),
        cycles=tuple(
            CycleSnap(ids["cycle"][c.key], c.key, c.start, c.end)
            for _, c, _ in tree(plan.cycles, ("cycles",), by_key=True)
        ),
        objectives=tuple(
            ObjectiveSnap(
                id=ids["objective"][o.key],
                key=o.key,
                title=o.title,
                cycle_id=ids["cycle"][o.cycle],
                level=o.level,
                owner_unit_id=unit[o.owner] if o.owner else None,
                contributor_ids=tuple(sorted(unit[u] for u in o.contributors)),
                state=o.state,
                parents=tuple(
                    sorted(
                        (ids["objective"][link.objective], link.weight) for link in o.contributes_to
                    )
                ),
            )
            for o in sorted(plan.objectives, key=_key)
        ),
        krs=tuple(kr_snap(kr, objective) for kr, objective in krs),
        dependencies=tuple(dependency_snap(d) for d in sorted(plan.dependencies, key=_key)),
        kpis=tuple(
            KPISnap(ids["kpi"][k.key], k.key, k.name, tuple(sorted(unit[u] for u in k.owners)))
            for k in sorted(plan.kpis, key=_key)
        ),
        endorsements=tuple(
            Endorsement(ids["objective"][o.key], unit[u], endorsed=True)
            for o in sorted(plan.objectives, key=_key)
            for u in sorted(set(o.endorsed_by))
        ),
    )


def check_plan_text(
    text: str, *, source: str = "<plan>", now: dt.datetime | None = None
) -> list[Finding]:
    """Load and validate a plan (PlanError if it is invalid), then the engine's findings."""
    plan = plan_load(text, source=source)
    return analyse(_snapshot_now(plan, now), codes=PLAN_CODES)


def check_plan_rows(
    text: str, *, source: str = "<plan>", now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """`check_plan_text` as plain rows that name things by key, for a table or JSON."""
    plan = plan_load(text, source=source)
    keys = plan_keys(plan)
    return [finding_row(f, keys) for f in analyse(_snapshot_now(plan, now), codes=PLAN_CODES)]


def _snapshot_now(plan: Plan, now: dt.datetime | None) -> Snapshot:
    tz = zoneinfo.ZoneInfo(plan.organisation.timezone)
    return plan_snapshot(plan, now=now or dt.datetime.now(tz))


def _key(item: Any) -> str:
    return str(item.key)


def _aware(moment: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
