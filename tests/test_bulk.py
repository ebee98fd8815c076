"""The bulk path: plain rows straight to the driver, read back as the ORM wrote them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from lockstep.bulk import bulk_insert, ids_reserve
from lockstep.goals.models import CheckIn, Cycle, KeyResult, Objective
from lockstep.org.models import Unit

AT = dt.datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=dt.UTC)


def test_rows_read_back_as_the_orm_writes_them(org, units, cycle):
    objective = Objective.objects.create(organisation=org, cycle=cycle, key="o", title="O")
    with transaction.atomic():
        first = ids_reserve(KeyResult)
        written = bulk_insert(
            KeyResult,
            (
                {
                    "id": first + i,
                    "organisation_id": org.pk,
                    "objective_id": objective.pk,
                    "key": f"kr-{i}",
                    "title": f"KR {i}",
                    "kind": "milestone",
                    "target": 3,
                    "steps": ["draft", "review", "ship"],
                    "due": dt.date(2026, 11, 25),
                    "last_checkin_at": AT,
                }
                for i in range(2)
            ),
        )
    assert written == 2
    kr = KeyResult.objects.get(pk=first + 1)
    assert (kr.key, kr.steps, kr.due, kr.last_checkin_at) == (
        "kr-1",
        ["draft", "review", "ship"],
        dt.date(2026, 11, 25),
        AT,
    )
    # Left-out columns take the field defaults, auto_now_add included.
    assert kr.weight == 1.0 and kr.cadence_days == 7 and kr.checkin_count == 0
    assert kr.created_at is not None and kr.measure == ""
    # The next row the ORM creates gets an id past the reserved block (PostgreSQL: sequence).
    later = KeyResult.objects.create(
        organisation=org, objective=objective, key="later", title="Later", target=1
    )
    assert later.pk > first + 1


def test_rows_without_ids_are_numbered_by_the_database(org, units, cycle):
    objective = Objective.objects.create(organisation=org, cycle=cycle, key="o", title="O")
    kr = KeyResult.objects.create(
        organisation=org, objective=objective, key="k", title="K", target=10
    )
    with transaction.atomic():
        n = bulk_insert(
            CheckIn,
            (
                {
                    "organisation_id": org.pk,
                    "key_result_id": kr.pk,
                    "at": AT + dt.timedelta(hours=h),
                    "value": float(h),
                    "confidence": 7,
                }
                for h in range(3)
            ),
        )
    assert n == 3
    assert list(
        CheckIn.objects.filter(key_result=kr).order_by("at").values_list("value", "at")
    ) == [(float(h), AT + dt.timedelta(hours=h)) for h in range(3)]
    assert bulk_insert(CheckIn, iter(())) == 0


def test_a_missing_required_value_or_a_broken_row_writes_nothing(org, units):
    before = Unit.objects.count()
    with pytest.raises(ValueError, match=r"Cycle\.start needs a value"), transaction.atomic():
        bulk_insert(Cycle, [{"organisation_id": org.pk, "key": "q", "name": "Q"}])
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert(
            Unit,
            [
                {"organisation_id": org.pk, "key": "new", "name": "New"},
                {"organisation_id": org.pk, "key": "new", "name": "Same key"},
            ],
        )
    assert Unit.objects.count() == before


def test_the_bulk_path_refuses_to_run_outside_a_transaction(transactional_db, org):
    with pytest.raises(RuntimeError, match="transaction"):
        bulk_insert(Unit, [{"organisation_id": org.pk, "key": "x", "name": "X"}])
    with pytest.raises(RuntimeError, match="transaction"):
        ids_reserve(Unit)
