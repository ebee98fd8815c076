"""Shared fixtures: an organisation with a small unit tree, a signed-in person, a cycle."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from lockstep.activity.models import ActivityEvent
from lockstep.goals import services as goals
from lockstep.goals.models import Cycle
from lockstep.org import services as org_services
from lockstep.org.models import Organisation, Person, Unit


@pytest.fixture
def org(db) -> Organisation:
    return org_services.organisation_create(slug="acme", name="Acme")


@pytest.fixture
def units(org) -> dict[str, Unit]:
    company = org_services.unit_create(
        organisation=org, actor=None, name="Acme", key="acme", kind="company"
    )
    out = {"acme": company}
    for key in ("product", "marketing", "support"):
        out[key] = org_services.unit_create(
            organisation=org,
            actor=None,
            name=key.title(),
            key=key,
            kind="department",
            parent=company,
        )
    return out


@pytest.fixture
def person(org, units) -> Person:
    user = get_user_model().objects.create_user("ada", "ada@example.com", "correct-horse-9")
    p = org_services.person_create(
        organisation=org,
        actor=None,
        name="Ada Lovelace",
        email="ada@example.com",
        is_org_admin=True,
        memberships=[(units["product"], "leader")],
    )
    p.user = user
    p.save()
    return p


@pytest.fixture
def client_in(person) -> Client:
    """A Django test client signed in as `person`."""
    c = Client()
    c.force_login(person.user)
    return c


@pytest.fixture
def cycle(org) -> Cycle:
    """A two-week cycle that started eight days ago, so the pace line is past half."""
    today = dt.date.today()
    return goals.cycle_create(
        organisation=org,
        actor=None,
        name="Sprint",
        key="sprint",
        kind="two_weeks",
        start=today - dt.timedelta(days=8),
        end=today + dt.timedelta(days=5),
    )


@pytest.fixture
def unchanged():
    """Assert a block writes nothing: no new activity event, no row count change."""
    from django.apps import apps

    def counts() -> dict[str, int]:
        return {
            m._meta.label: m.objects.count()
            for m in apps.get_models()
            if m._meta.app_label in {"org", "goals", "activity", "alignment"}
        }

    class Guard:
        def __enter__(self):
            self.before = counts()
            self.events = ActivityEvent.objects.count()

        def __exit__(self, *exc):
            assert counts() == self.before
            assert ActivityEvent.objects.count() == self.events
            return False

    return Guard
