"""A small goal tree for page tests: the Feature X launch of PRODUCT.md section 7."""

from __future__ import annotations

import pytest

from lockstep.goals import services as goals
from lockstep.goals.models import KeyResult, Objective
from lockstep.org import services as org_services
from lockstep.org.models import Unit


@pytest.fixture
def teams(org, units) -> dict[str, Unit]:
    """Two teams below Product, one squad below a team: a tree four levels deep."""
    web = org_services.unit_create(
        organisation=org,
        actor=None,
        name="Web team",
        key="web",
        kind="team",
        parent=units["product"],
        weekly_capacity=120,
    )
    app = org_services.unit_create(
        organisation=org,
        actor=None,
        name="App team",
        key="app",
        kind="team",
        parent=units["product"],
        weekly_capacity=80,
        capacity_unit="hours",
    )
    squad = org_services.unit_create(
        organisation=org,
        actor=None,
        name="Checkout squad",
        key="checkout",
        kind="other",
        parent=web,
    )
    return {"web": web, "app": app, "checkout": squad}


@pytest.fixture
def launch(org, units, cycle, person) -> dict[str, Objective | KeyResult]:
    """A company objective, a shared objective feeding it, and one KR of each kind of form."""
    company = goals.objective_create(
        organisation=org,
        actor=person,
        cycle=cycle,
        title="Grow engagement",
        key="grow",
        level="company",
        owner_unit=units["acme"],
    )
    shared = goals.objective_create(
        organisation=org,
        actor=person,
        cycle=cycle,
        key="feature-x",
        title="Launch Feature X with high engagement in its first two weeks",
        level="shared",
        contributors=[units["product"], units["marketing"], units["support"]],
        parents=[(company, 1.0)],
    )
    tested = goals.key_result_create(
        objective=shared,
        actor=person,
        title="Feature X developed and tested",
        key="tested",
        kind="milestone",
        steps=["Build", "Test", "Ship"],
        owner_unit=units["product"],
    )
    visits = goals.key_result_create(
        objective=shared,
        actor=person,
        title="Product-page visits",
        key="visits",
        kind="increase",
        start=0,
        target=5000,
        measure="visits",
        owner_unit=units["marketing"],
    )
    csat = goals.key_result_create(
        objective=shared,
        actor=person,
        title="Satisfaction on Feature X queries",
        key="csat",
        kind="at_least",
        target=95,
        measure="%",
        owner_unit=units["support"],
    )
    brand = goals.objective_create(
        organisation=org,
        actor=person,
        cycle=cycle,
        title="Refresh the brand",
        key="brand",
        level="unit",
        owner_unit=units["marketing"],
        parents=[(company, 0.5)],
    )
    guide = goals.key_result_create(
        objective=brand,
        actor=person,
        title="Brand guide published",
        key="guide",
        kind="milestone",
        owner_unit=units["marketing"],
    )
    return {
        "company": company,
        "shared": shared,
        "brand": brand,
        "tested": tested,
        "visits": visits,
        "csat": csat,
        "guide": guide,
    }


@pytest.fixture
def browser():
    """A headless Debian Chromium driven by Playwright (see tests/web/browser.py)."""
    from tests.web.browser import launch_chromium

    with launch_chromium() as b:
        yield b
