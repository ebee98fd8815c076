"""Export is canonical: export -> apply to an empty database -> export gives the same text."""

from __future__ import annotations

import random

from django.db import transaction

from lockstep.activity.models import ActivityEvent
from lockstep.plans import plan_apply, plan_dump, plan_from_db, plan_load
from tests.plans.conftest import table_counts


def test_a_canonical_plan_dumps_to_itself(rich_text):
    assert plan_dump(plan_load(rich_text)) == rich_text


def test_applying_a_plan_then_exporting_gives_the_plan_back(db, rich_text):
    organisation = plan_apply(plan_load(rich_text)).organisation
    assert plan_dump(plan_from_db(organisation)) == rich_text


def test_export_apply_to_an_empty_database_export_is_exact(db, rich_text):
    with transaction.atomic():
        exported = plan_dump(plan_from_db(plan_apply(plan_load(rich_text)).organisation))
        transaction.set_rollback(True)  # back to an empty database
    assert not any(table_counts().values())

    organisation = plan_apply(plan_load(exported)).organisation

    assert plan_dump(plan_from_db(organisation)) == exported


def test_list_order_in_the_file_does_not_matter(db, rich_text):
    plan = plan_load(rich_text)
    shuffled = plan.model_copy(deep=True)
    rng = random.Random(4)
    for section in (
        shuffled.units,
        shuffled.cycles,
        shuffled.people,
        shuffled.kpis,
        shuffled.objectives,
    ):
        rng.shuffle(section)
    for objective in shuffled.objectives:
        rng.shuffle(objective.key_results)
        rng.shuffle(objective.contributors)
        rng.shuffle(objective.contributes_to)
    assert plan_dump(shuffled) == rich_text
    organisation = plan_apply(plan).organisation
    events = ActivityEvent.objects.count()

    assert plan_apply(shuffled).changes == []
    assert ActivityEvent.objects.count() == events
    assert plan_dump(plan_from_db(organisation)) == rich_text


def test_a_short_plan_is_written_out_in_full(db):
    short = """
organisation: {slug: tiny, name: Tiny}
units: [{key: tiny, name: Tiny, kind: company}]
cycles: [{key: q1, name: Q1, kind: quarter, start: 2026-01-01, end: 2026-03-31}]
objectives:
  - key: ship
    title: Ship
    cycle: q1
    owner: tiny
    key_results:
      - {key: done, title: Done, kind: milestone, owner: tiny}
      - {key: users, title: Users, kind: increase, target: 50}
"""
    text = plan_dump(plan_from_db(plan_apply(plan_load(short)).organisation))

    assert text == plan_dump(plan_load(short))
    assert (
        "      - key: done\n        title: Done\n        kind: milestone\n        start: 0.0\n"
        in text
    )
    assert "        target: 1.0\n" in text
    assert "  timezone: UTC\n  on_track_margin: 0.1\n  at_risk_margin: 0.25\n" in text
    assert "people: []\n" in text and "kpis: []\n" in text


def test_text_that_looks_like_other_yaml_types_survives(db):
    plan = plan_load(
        """
organisation: {slug: odd, name: "2026"}
units: [{key: odd, name: "yes", kind: company}]
cycles: [{key: q1, name: "null", kind: quarter, start: 2026-01-01, end: 2026-03-31}]
objectives:
  - key: odd-one
    title: "- starts with a dash: and has a colon"
    cycle: q1
    owner: odd
    description: "two\\nlines with trailing space \\n"
    key_results:
      - {key: m, title: "#hash", kind: milestone, steps: ["1.0", "a, b", "@at"], owner: odd}
"""
    )
    text = plan_dump(plan)
    again = plan_load(text)

    assert again.model_dump() == plan.model_dump()
    assert plan_dump(plan_from_db(plan_apply(again).organisation)) == text
