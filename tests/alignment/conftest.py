from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from lockstep.goals import services as goals
from lockstep.org import services as org_services
from tests.api.conftest import Api


@pytest.fixture
def leaders(org, units):
    """A leader for marketing and one for product, each with a signed-in API client."""
    out = {}
    for key in ("marketing", "product"):
        user = get_user_model().objects.create_user(
            f"{key}-lead", f"{key}@example.com", "pw-long-enough"
        )
        person = org_services.person_create(
            organisation=org,
            actor=None,
            name=f"{key.title()} Lead",
            email=f"{key}@example.com",
            memberships=[(units[key], "leader")],
        )
        person.user = user
        person.save()
        client = Client()
        client.force_login(user)
        out[key] = (person, Api(client))
    return out


@pytest.fixture
def plan(org, units, cycle):
    """Marketing's visits KR needs something from product, whose build KR delivers it."""
    launch = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Launch X",
        level="shared",
        contributors=[units["product"], units["marketing"]],
    )
    visits = goals.key_result_create(
        objective=launch,
        actor=None,
        title="Visits",
        kind="increase",
        target=5000,
        owner_unit=units["marketing"],
        key="visits",
    )
    build = goals.key_result_create(
        objective=launch,
        actor=None,
        title="Feature built",
        kind="milestone",
        owner_unit=units["product"],
        key="build",
    )
    return {
        "objective": launch,
        "visits": visits,
        "build": build,
        "needed_by": cycle.end,
    }
