"""Shared data for plan tests: rich canonical plans and a snapshot of every table's size."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.activity.models import ActivityEvent
from lockstep.alignment.models import Dependency
from lockstep.goals.models import (
    KPI,
    CheckIn,
    ContributionLink,
    Cycle,
    KeyResult,
    Objective,
    ObjectiveContributor,
)
from lockstep.org.models import Membership, Organisation, Person, Unit

MODELS = [
    Organisation,
    Unit,
    Person,
    Membership,
    Cycle,
    KPI,
    Objective,
    ObjectiveContributor,
    ContributionLink,
    KeyResult,
    CheckIn,
    Dependency,
    ActivityEvent,
]


def table_counts() -> dict[str, int]:
    """Rows per table, and archived rows where a table has them: 'nothing written' checks."""
    counts = {m.__name__: m.objects.count() for m in MODELS}
    for model in (Unit, Person, KPI, Objective, KeyResult):
        counts[f"{model.__name__} archived"] = model.objects.filter(
            archived_at__isnull=False
        ).count()
    return counts


@pytest.fixture
def rich_text() -> str:
    """A canonical plan: unit and cycle trees three levels deep, a shared objective with
    links to two parents, every KR kind, milestone steps, co-owners, a KPI-following KR,
    people with memberships."""
    return (Path(__file__).parent / "rich_plan.yaml").read_text(encoding="utf-8")


@pytest.fixture
def deps_text(rich_text) -> str:
    """The rich plan with a dependency in every lifecycle state (canonical too)."""
    block = (Path(__file__).parent / "deps_block.yaml").read_text(encoding="utf-8")
    return rich_text.replace("dependencies: []\n", block)
