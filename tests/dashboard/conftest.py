"""A small organisation with every part of the dashboard filled, and a way to grow it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from lockstep.alignment import services as alignment
from lockstep.alignment.models import Finding
from lockstep.goals import services as goals
from lockstep.org import services as org_services

TODAY = dt.date.today()


def _kr(objective, key, unit, kind="increase", start=0.0, target=100.0, value=None):
    kr = goals.key_result_create(
        objective=objective,
        actor=None,
        key=key,
        title=key,
        kind=kind,
        start=start,
        target=target,
        owner_unit=unit,
    )
    if value is not None:
        goals.checkin_record(key_result=kr, actor=None, value=value, confidence=6)
    return kr


def _dependency(kr, provider, needed_by, state):
    dep = alignment.dependency_request(
        organisation=kr.organisation,
        actor=None,
        requester_item=kr,
        provider_unit=provider,
        title=f"{kr.key} needs {provider.key}",
        needed_by=needed_by,
    )
    if state == "declined":
        alignment.dependency_decline(dependency=dep, actor=None, reason="no room")
    elif state in {"accepted", "delivered"}:
        alignment.dependency_accept(dependency=dep, actor=None)
        if state == "delivered":
            alignment.dependency_deliver(dependency=dep, actor=None)
    return dep


def _finding(org, key, severity, units, age_days, code="TEST"):
    f = Finding.objects.create(
        organisation=org,
        key=key,
        code=code,
        severity=severity,
        subject_type="unit",
        subject_id=units[0].pk if units else 0,
        title=key,
        first_seen_at=timezone.now() - dt.timedelta(days=age_days),
        last_seen_at=timezone.now(),
    )
    f.units.set(units)
    return f


@pytest.fixture
def board(org, units, cycle) -> dict[str, Any]:
    """Acme: Product (Web team, App team), Marketing and Support, with objectives, KRs in
    every status, findings, dependencies in every state and KPIs with points."""
    web = org_services.unit_create(
        organisation=org,
        actor=None,
        name="Web team",
        key="web",
        kind="team",
        parent=units["product"],
    )
    app = org_services.unit_create(
        organisation=org,
        actor=None,
        name="App team",
        key="app",
        kind="team",
        parent=units["product"],
    )
    u = {**units, "web": web, "app": app}

    def objective(key, **kw):
        return goals.objective_create(
            organisation=org, actor=None, cycle=cycle, key=key, title=key.title(), **kw
        )

    grow = objective("grow", level="company", owner_unit=u["acme"])
    launch = objective(
        "launch",
        level="shared",
        contributors=[u["product"], u["marketing"]],
        parents=[(grow, 1.0)],
    )
    web_goal = objective("web-goal", owner_unit=web, parents=[(launch, 1.0)])
    app_goal = objective("app-goal", owner_unit=app, parents=[(launch, 1.0)])
    brand = objective("brand", owner_unit=u["marketing"], parents=[(grow, 0.5)])
    care = objective("care", owner_unit=u["support"], parents=[(grow, 1.0)])

    krs = {
        "revenue": _kr(grow, "revenue", u["acme"], value=45),  # at risk
        "visits": _kr(launch, "visits", u["marketing"], target=5000, value=4000),  # on track
        "built": _kr(launch, "built", u["product"], kind="milestone", target=1, value=1),  # done
        "speed": _kr(
            web_goal, "speed", web, kind="decrease", start=4.2, target=2.0, value=4.0
        ),  # off track
        "installs": _kr(app_goal, "installs", app),  # not started
        "guide": _kr(brand, "guide", u["marketing"], kind="milestone", target=1),  # not started
        "csat": _kr(care, "csat", u["support"], kind="at_least", target=95, value=96),  # done
    }

    soon, past = TODAY + dt.timedelta(days=3), TODAY - dt.timedelta(days=2)
    _dependency(krs["speed"], u["support"], soon, "requested")
    _dependency(krs["speed"], u["marketing"], past, "accepted")  # late
    _dependency(krs["visits"], u["product"], soon, "declined")
    _dependency(krs["installs"], u["marketing"], soon, "accepted")
    _dependency(krs["visits"], u["support"], soon, "delivered")

    reach = goals.kpi_create(
        organisation=org,
        actor=None,
        name="Reach",
        healthy_min=10,
        healthy_max=20,
        owner_units=[u["marketing"]],
    )
    speed = goals.kpi_create(
        organisation=org, actor=None, name="Page speed", healthy_min=5, owner_units=[web]
    )
    goals.kpi_create(organisation=org, actor=None, name="Calls", owner_units=[u["support"]])
    start = timezone.now() - dt.timedelta(days=14)
    for i in range(14):
        goals.kpi_point_record(
            kpi=reach, actor=None, value=float(i + 5), at=start + dt.timedelta(days=i)
        )
    goals.kpi_point_record(kpi=speed, actor=None, value=3.0)

    # Findings written by hand (after every service call, whose refreshes would replace them).
    Finding.objects.all().delete()
    _finding(org, "old-error", "error", [u["product"]], age_days=5)
    _finding(org, "new-error", "error", [web], age_days=1)
    _finding(org, "brand-warning", "warning", [u["marketing"]], age_days=2)
    _finding(org, "loose-warning", "warning", [], age_days=3)
    _finding(org, "product-info", "info", [u["product"]], age_days=0)
    return {"units": u, "krs": krs, "objectives": {o.key: o for o in (grow, launch, brand)}}


def grow_org(org, units, cycle, n: int) -> None:
    """Add n departments below the company and n teams below Product, each with objectives,
    KRs, check-ins, a dependency and a KPI, then a finding each: a query per row would show."""
    made = []
    for i in range(n):
        dept = org_services.unit_create(
            organisation=org, actor=None, name=f"Dept {i}", kind="department", parent=units["acme"]
        )
        team = org_services.unit_create(
            organisation=org, actor=None, name=f"Team {i}", kind="team", parent=units["product"]
        )
        for unit in (dept, team):
            o = goals.objective_create(
                organisation=org, actor=None, cycle=cycle, title=f"Goal {unit.key}", owner_unit=unit
            )
            kr = _kr(o, f"kr-{unit.key}", unit, value=30)
            _kr(o, f"kr2-{unit.key}", unit)
            _dependency(kr, units["support"], TODAY + dt.timedelta(days=2), "requested")
            kpi = goals.kpi_create(
                organisation=org, actor=None, name=f"KPI {unit.key}", owner_units=[unit]
            )
            goals.kpi_point_record(kpi=kpi, actor=None, value=1.0)
            made.append(unit)
    for unit in made:
        _finding(org, f"grown-{unit.key}", "error", [unit], age_days=10)
