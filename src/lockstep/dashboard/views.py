"""The shared performance dashboard page and its wall-screen mode (thin: selectors do the work)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from lockstep.dashboard.selectors import (
    Dashboard,
    Trend,
    dashboard_of,
    heat_map,
    kpi_groups,
    progress_trend,
)
from lockstep.goals.access import access_cycle
from lockstep.goals.models import Cycle
from lockstep.keys import is_id
from lockstep.org.access import access_unit
from lockstep.org.models import Person, Unit
from lockstep.org.selectors import indented_units
from lockstep.web.charts import Series, line_chart, sparkline
from lockstep.web.views import page_context, person_page

WALL_REFRESH = 30  # seconds between two refreshes of the wall
WALL_REFRESH_MIN = 2
WALL_REFRESH_MAX = 3600
WALL_LIST = 6  # findings and dependency pairs on the wall: what a room can read
WALL_HEAT_COLUMNS = 6  # objectives on the wall's heat map: it cannot be scrolled
AT_RISK_LIST = 12  # findings on the page; the findings page has them all


@dataclass(frozen=True)
class Filters:
    """What the request asks for, as DashboardFilters in the API: ids, or nothing."""

    unit: int | None
    cycle: int | None
    problems: list[str]

    @property
    def query(self) -> str:
        chosen = {"unit": self.unit, "cycle": self.cycle}
        return urlencode({k: v for k, v in chosen.items() if v is not None})


def _filters(data: QueryDict) -> Filters:
    """Read the unit and cycle ids; one that is not a number is named and left out."""
    problems: list[str] = []
    chosen: dict[str, int | None] = {"unit": None, "cycle": None}
    for name in chosen:
        raw = data.get(name, "").strip()
        if is_id(raw):
            chosen[name] = int(raw)
        elif raw:
            problems.append(f"The {name} filter “{raw}” is not a {name} id, so it was left out.")
    return Filters(unit=chosen["unit"], cycle=chosen["cycle"], problems=problems)


def _refresh(data: QueryDict) -> int:
    """Seconds between refreshes of the wall: ?refresh=N, from 2 s to an hour."""
    raw = data.get("refresh", "").strip()
    if not is_id(raw):
        return WALL_REFRESH
    return max(WALL_REFRESH_MIN, min(WALL_REFRESH_MAX, int(raw)))


def _day(moment: dt.datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local.day} {local:%b}"


def _trend_chart(trend: Trend | None) -> str:
    """The trend as an SVG line chart: progress (with dots) against the dashed pace line."""
    if trend is None or not trend.points:
        return ""
    first = trend.points[0].at

    def x(moment: dt.datetime) -> float:
        return (moment - first).total_seconds() / 86_400

    last = x(trend.points[-1].at)
    end = float(max(last, (trend.end - timezone.localdate(first)).days + 1))
    step = max(1, -(-len(trend.points) // 5))  # five dates or so
    # Every few points a date, none crowding the latest one.
    ticks = [(x(p.at), _day(p.at)) for p in trend.points[:-1:step] if last - x(p.at) > end / 12]
    ticks.append((last, _day(trend.points[-1].at)))
    return line_chart(
        series=[
            Series("Progress", [(x(p.at), p.progress) for p in trend.points], "actual"),
            Series("Pace", [(x(p.at), p.expected) for p in trend.points], "pace"),
        ],
        x_domain=(0.0, end),
        y_domain=(0.0, 1.0),
        x_ticks=ticks,
        y_ticks=[(0.0, "0%"), (0.5, "50%"), (1.0, "100%")],
        title=(
            f"Progress against pace, {trend.start:%d %b} to {trend.end:%d %b %Y}: "
            f"now {round(trend.points[-1].progress * 100)}%, "
            f"pace {round(trend.points[-1].expected * 100)}%"
        ),
    )


def _kpi_tiles(d: Dashboard) -> list[dict[str, Any]]:
    """Each owner group of KPIs with each KPI's sparkline, ready for the template."""
    out = []
    for group in kpi_groups(d.kpis):
        tiles = []
        for k in group.kpis:
            values = [p.value for p in k.points]
            band = (
                (k.healthy_min, k.healthy_max)
                if k.healthy_min is not None or k.healthy_max is not None
                else None
            )
            tiles.append(
                {
                    "kpi": k,
                    "latest": k.points[-1] if k.points else None,
                    "spark": sparkline(
                        values, band=band, title=f"{k.name}: the latest {len(values)} values"
                    ),
                }
            )
        out.append({"group": group, "tiles": tiles})
    return out


def _context(request: HttpRequest, me: Person, *, wall: bool) -> tuple[dict[str, Any], int]:
    """Everything both the page and the wall show; the status says whether a filter was bad."""
    org = me.organisation
    filters = _filters(request.GET)
    unit = access_unit(me, filters.unit) if filters.unit is not None else None
    cycle = access_cycle(me, filters.cycle) if filters.cycle is not None else None
    d = dashboard_of(org, unit=unit, cycle=cycle, viewer=me)
    heat = heat_map(d, columns=WALL_HEAT_COLUMNS if wall else None)
    trend = progress_trend(d)
    context: dict[str, Any] = {
        "d": d,
        "filters": filters,
        "heat": heat,
        "trend": trend,
        "trend_chart": _trend_chart(trend),
        "kpi_groups": _kpi_tiles(d),
        "wall": wall,
        "dependencies": d.dependencies[:WALL_LIST] if wall else d.dependencies,
    }
    if not wall:
        units = list(Unit.objects.filter(organisation=org, archived_at__isnull=True))
        context["unit_options"] = indented_units(units)
        names = {u.pk: u.name for u in units}
        context["at_risk"] = [
            (f, [names[i] for i in f.unit_ids if i in names]) for f in d.at_risk[:AT_RISK_LIST]
        ]
        context["at_risk_more"] = len(d.at_risk) > AT_RISK_LIST
        context["cycles"] = list(Cycle.objects.filter(organisation=org).order_by("-start", "key"))
    else:
        context["at_risk"] = [(f, []) for f in d.at_risk[:WALL_LIST]]
    return context, 400 if filters.problems else 200


@require_GET
@person_page
def dashboard(request: HttpRequest, me: Person) -> HttpResponse:
    if request.GET.get("wall") == "1":
        return _wall(request, me)
    context, status = _context(request, me, wall=False)
    return render(
        request, "dashboard/dashboard.html", page_context(me, "dashboard", **context), status=status
    )


def _wall(request: HttpRequest, me: Person) -> HttpResponse:
    context, status = _context(request, me, wall=True)
    context = page_context(me, "dashboard", **context)
    # Without `me` the layout leaves out the site navigation and footer: a wall has no use
    # for them, and a screen reader on it should not have to pass them every refresh.
    context.update(me=None, refresh=_refresh(request.GET), refresh_query=context["filters"].query)
    return render(request, "dashboard/wall.html", context, status=status)


@require_GET
@person_page
def dashboard_wall(request: HttpRequest, me: Person) -> HttpResponse:
    return _wall(request, me)


@require_GET
@person_page
def dashboard_wall_panel(request: HttpRequest, me: Person) -> HttpResponse:
    """The wall's figures alone, for its htmx poll to swap in."""
    context, status = _context(request, me, wall=True)
    return render(
        request,
        "dashboard/_wall_panel.html",
        page_context(me, "dashboard", **context),
        status=status,
    )
