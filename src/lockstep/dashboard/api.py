"""API for the shared performance dashboard (thin): GET /dashboard, its heat map and trend."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from lockstep.apischema import ERRORS, Id
from lockstep.core.progress import Status
from lockstep.dashboard.selectors import Dashboard, dashboard_of, heat_map, progress_trend
from lockstep.goals.access import access_cycle
from lockstep.org.access import access_unit, current_person

router = Router(tags=["dashboard"])


class DashboardFilters(Schema):
    unit: Id | None = Field(
        None, description="a unit id: that unit and the units below it (default: the company)"
    )
    cycle: Id | None = Field(None, description="a cycle id (default: every cycle running today)")


class StatusCountsOut(Schema):
    not_started: int
    on_track: int
    at_risk: int
    off_track: int
    done: int
    total: int


class FiguresOut(Schema):
    objectives: int = Field(..., description="objectives owned or contributed to")
    key_results: StatusCountsOut = Field(..., description="their own KRs by stored status")
    progress: float | None = Field(..., description="mean stored progress of the objectives")
    pending: int = Field(..., description="objectives whose numbers are not computed yet")


class DashboardObjectiveOut(Schema):
    id: int
    key: str
    title: str
    level: str
    state: str
    cycle_id: int
    owner_unit_id: int | None
    progress: float | None = Field(..., description="stored roll-up, 0-1")
    status: Status | None = Field(..., description="stored status, as of numbers_at")
    numbers_at: dt.datetime | None


class DashboardUnitOut(Schema):
    id: int
    key: str
    name: str
    kind: str
    figures: FiguresOut = Field(..., description="of the unit and every unit below it")


class DashboardFindingOut(Schema):
    id: int
    code: str
    severity: str
    title: str
    subject_type: str
    subject_id: int
    suggestion: str
    first_seen_at: dt.datetime
    unit_ids: list[int]


class DependencyPairOut(Schema):
    requester_unit_id: int
    requester_unit_name: str
    provider_unit_id: int
    provider_unit_name: str
    requested: int = Field(..., description="waiting for an answer (requested or countered)")
    accepted: int = Field(..., description="accepted, not yet delivered (late ones included)")
    late: int = Field(..., description="accepted, needed before today, not delivered")
    declined: int
    missed: int
    delivered: int
    trouble: int = Field(..., description="late + declined + missed")


class KPIPointOut(Schema):
    at: dt.datetime
    value: float


class DashboardKPIOut(Schema):
    id: int
    key: str
    name: str
    measure: str
    healthy_min: float | None
    healthy_max: float | None
    healthy: bool | None = Field(..., description="the latest point lies in the healthy range")
    points: list[KPIPointOut] = Field(..., description="the latest points, oldest first")


class DashboardOut(Schema):
    unit_id: int | None = Field(..., description="the unit whose subtree is shown; null: company")
    cycle_ids: list[int]
    now: dt.datetime
    numbers_as_of: dt.datetime | None = Field(
        ..., description="when every stored progress and status was last recomputed"
    )
    objectives: list[DashboardObjectiveOut] = Field(
        ..., description="company objectives, or those the unit owns or contributes to"
    )
    figures: FiguresOut = Field(..., description="the whole scope")
    units: list[DashboardUnitOut] = Field(..., description="one row per unit one level down")
    at_risk: list[DashboardFindingOut] = Field(
        ..., description="errors, then warnings, newest first"
    )
    dependencies: list[DependencyPairOut] = Field(..., description="pairs with the most trouble")
    kpis: list[DashboardKPIOut]


def _out(d: Dashboard) -> dict[str, Any]:
    return {
        "unit_id": d.unit.pk if d.unit is not None else None,
        "cycle_ids": [c.pk for c in d.cycles],
        "now": d.now,
        "numbers_as_of": d.numbers_as_of,
        "objectives": d.objectives,
        "figures": d.figures,
        "units": d.units,
        "at_risk": d.at_risk,
        "dependencies": d.dependencies,
        "kpis": d.kpis,
    }


def _dashboard(request: HttpRequest, filters: DashboardFilters) -> Dashboard:
    me = current_person(request)
    unit = access_unit(me, filters.unit) if filters.unit is not None else None
    cycle = access_cycle(me, filters.cycle) if filters.cycle is not None else None
    return dashboard_of(me.organisation, unit=unit, cycle=cycle, viewer=me)


@router.get("/dashboard", response={200: DashboardOut, **ERRORS})
def dashboard_get(request: HttpRequest, filters: Query[DashboardFilters]) -> dict[str, Any]:
    return _out(_dashboard(request, filters))


class HeatCellOut(Schema):
    unit_id: int = Field(..., description="a row: a unit one level below the scope")
    objective_id: int
    progress: float | None = Field(
        ...,
        description="KR-weighted stored progress of the KRs the unit's subtree owns on the "
        "objective and on the objectives feeding it",
    )
    status: Status | None = Field(..., description="the worst stored status of those KRs")
    key_results: int


class HeatMapOut(Schema):
    objective_ids: list[int] = Field(..., description="the columns, company and shared first")
    unit_ids: list[int] = Field(..., description="the rows")
    cells: list[HeatCellOut] = Field(..., description="only where the unit owns key results")
    capped: bool = Field(..., description="more objectives than columns")


class TrendPointOut(Schema):
    at: dt.datetime
    progress: float = Field(..., description="KR-weighted progress of the scope's KRs then")
    expected: float = Field(..., description="their KR-weighted expected progress then")


class TrendOut(Schema):
    start: dt.date
    end: dt.date
    key_results: int
    too_many: bool = Field(..., description="too many key results in the scope: no points")
    points: list[TrendPointOut] = Field(..., description="week by week, the last one now")


@router.get("/dashboard/heat-map", response={200: HeatMapOut, **ERRORS})
def dashboard_heat_map(request: HttpRequest, filters: Query[DashboardFilters]) -> dict[str, Any]:
    h = heat_map(_dashboard(request, filters))
    return {
        "objective_ids": [c.id for c in h.columns],
        "unit_ids": [r.id for r in h.rows],
        "cells": [
            {"unit_id": row, "objective_id": objective, **vars(cell)}
            for (row, objective), cell in sorted(h.cells.items())
        ],
        "capped": h.capped,
    }


@router.get("/dashboard/trend", response={200: TrendOut | None, **ERRORS})
def dashboard_trend(request: HttpRequest, filters: Query[DashboardFilters]) -> Any:
    """Progress against pace through the cycles; null when no cycle runs."""
    return progress_trend(_dashboard(request, filters))
