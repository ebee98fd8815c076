"""Every write records one activity event with who, what, and the changed fields."""

from __future__ import annotations

from lockstep.activity.models import ActivityEvent
from lockstep.goals import services as goals


def test_update_records_only_the_changed_fields(org, units, cycle, person):
    objective = goals.objective_create(
        organisation=org,
        actor=person,
        cycle=cycle,
        title="Ship",
        level="unit",
        owner_unit=units["product"],
    )
    kr = goals.key_result_create(
        objective=objective,
        actor=person,
        title="Visits",
        kind="increase",
        target=100,
        owner_unit=units["product"],
    )
    goals.key_result_update(key_result=kr, actor=person, target=150)
    event = ActivityEvent.objects.filter(verb="key_result.updated").get()
    assert event.actor == person and event.organisation == org
    assert event.object_type == "keyresult" and event.object_id == kr.pk
    assert event.before == {"target": 100.0} and event.after == {"target": 150.0}


def test_checkin_event_carries_the_value(org, units, cycle, person):
    objective = goals.objective_create(
        organisation=org,
        actor=person,
        cycle=cycle,
        title="Ship",
        level="unit",
        owner_unit=units["product"],
    )
    kr = goals.key_result_create(
        objective=objective,
        actor=person,
        title="Visits",
        kind="increase",
        target=100,
        owner_unit=units["product"],
    )
    checkin = goals.checkin_record(key_result=kr, actor=person, value=40, confidence=6)
    event = ActivityEvent.objects.filter(verb="checkin.recorded").get()
    assert event.before["current_value"] is None
    assert event.after["current_value"] == 40 and event.after["checkin_id"] == checkin.pk


def test_failed_service_records_no_event(org, units, cycle, person):
    from lockstep.errors import ValidationFailed

    before = ActivityEvent.objects.count()
    objective = goals.objective_create(
        organisation=org,
        actor=person,
        cycle=cycle,
        title="Ship",
        level="unit",
        owner_unit=units["product"],
    )
    try:
        goals.key_result_create(
            objective=objective, actor=person, title="Bad", kind="increase", start=5, target=5
        )
    except ValidationFailed as exc:
        assert exc.fields[0].field == "target"
    else:
        raise AssertionError("a KR whose target equals its start must be refused")
    assert ActivityEvent.objects.count() == before + 1  # only the objective
