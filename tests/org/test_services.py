"""The org services the admin pages write through: each validates, then records one event."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from lockstep.activity.models import ActivityEvent
from lockstep.errors import Conflict, ValidationFailed
from lockstep.goals import services as goals
from lockstep.org import services
from lockstep.org.models import Membership, Person


def events(verb: str) -> list[ActivityEvent]:
    return list(ActivityEvent.objects.filter(verb=verb).order_by("id"))


def field_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> str:
    return exc.value.fields[0].field


# ---- people and their sign-in accounts -------------------------------------------------


def test_person_create_with_an_account_and_memberships(org, units, person):
    grace = services.person_create(
        organisation=org,
        actor=person,
        name="Grace Hopper",
        email="Grace@Example.com",
        memberships=[(units["marketing"], "leader"), (units["support"], "member")],
        username="grace",
        password="cobol-compiler-1959",
    )
    assert grace.user is not None and grace.user.username == "grace"
    assert grace.user.check_password("cobol-compiler-1959")
    assert {(m.unit.key, m.role) for m in grace.memberships.all()} == {
        ("marketing", "leader"),
        ("support", "member"),
    }
    (event,) = events("person.created")[-1:]
    assert event.actor == person
    assert event.after["username"] == "grace"
    assert "cobol-compiler-1959" not in str(event.after)


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [
        ("grace", "short", "password"),
        ("grace", "password123", "password"),  # too common
        ("grace", "1234567890123", "password"),  # all digits
        ("grace", "grace-hopper-x", "password"),  # too like the username / e-mail
        ("grace", None, "password"),
        (None, "cobol-compiler-1959", "username"),
        ("has space", "cobol-compiler-1959", "username"),
        ("ada", "cobol-compiler-1959", "username"),  # Ada's account has it
    ],
)
def test_person_create_refuses_a_bad_account_and_writes_nothing(
    org, units, person, unchanged, username, password, field
):
    with unchanged(), pytest.raises(ValidationFailed) as exc:
        services.person_create(
            organisation=org,
            actor=person,
            name="Grace Hopper",
            email="grace.hopper@example.com",
            username=username,
            password=password,
        )
    assert field_of(exc) == field
    assert not get_user_model().objects.filter(username="grace").exists()


def test_person_create_refuses_an_archived_unit(org, units, person, unchanged):
    services.unit_archive(unit=units["support"], actor=person)
    with unchanged(), pytest.raises(ValidationFailed) as exc:
        services.person_create(
            organisation=org,
            actor=person,
            name="Grace",
            email="grace@example.com",
            memberships=[(units["support"], "member")],
        )
    assert field_of(exc) == "memberships" and "archived" in exc.value.message


def test_person_update_gives_an_account_later_and_changes_its_password(org, units, person):
    grace = services.person_create(
        organisation=org, actor=person, name="Grace", email="grace@example.com"
    )
    services.person_update(
        person=grace, actor=person, username="grace", password="cobol-compiler-1959"
    )
    grace.refresh_from_db()
    assert grace.user is not None
    services.person_update(person=grace, actor=person, password="flow-matic-1955")
    grace.user.refresh_from_db()
    assert grace.user.username == "grace" and grace.user.check_password("flow-matic-1955")
    last = events("person.updated")[-1]
    assert last.after == {"password": "changed"}


def test_person_update_refuses_a_half_account_and_changes_nothing(org, person, unchanged):
    grace = services.person_create(
        organisation=org, actor=person, name="Grace", email="grace@example.com"
    )
    with unchanged(), pytest.raises(ValidationFailed) as exc:
        services.person_update(person=grace, actor=person, name="Grace H.", username="grace")
    assert field_of(exc) == "password"
    grace.refresh_from_db()
    assert grace.name == "Grace" and grace.user is None


def test_person_update_refuses_a_bad_membership_before_touching_the_others(
    org, units, person, unchanged
):
    services.unit_archive(unit=units["support"], actor=person)
    with unchanged(), pytest.raises(ValidationFailed):
        services.person_update(
            person=person,
            actor=None,
            memberships=[(units["marketing"], "leader"), (units["support"], "member")],
        )
    assert list(person.memberships.values_list("unit__key", "role")) == [("product", "leader")]


def test_an_admin_cannot_drop_their_own_admin_role_or_archive_themselves(person, unchanged):
    with unchanged(), pytest.raises(ValidationFailed) as exc:
        services.person_update(person=person, actor=person, is_org_admin=False)
    assert field_of(exc) == "is_org_admin"
    with unchanged(), pytest.raises(Conflict):
        services.person_archive(person=person, actor=person)
    person.refresh_from_db()
    assert person.is_org_admin and person.archived_at is None


def test_person_archive_ends_memberships_and_records_one_event(org, units, person):
    grace = services.person_create(
        organisation=org,
        actor=person,
        name="Grace",
        email="grace@example.com",
        memberships=[(units["marketing"], "member")],
    )
    before = ActivityEvent.objects.count()
    services.person_archive(person=grace, actor=person)
    assert ActivityEvent.objects.count() == before + 1
    assert not Membership.objects.filter(person=grace).exists()
    assert Person.objects.get(pk=grace.pk).archived_at is not None


# ---- units -----------------------------------------------------------------------------


def test_unit_move_refuses_a_cycle_and_an_archived_parent(org, units, person, unchanged):
    web = services.unit_create(organisation=org, actor=None, name="Web", parent=units["product"])
    squad = services.unit_create(organisation=org, actor=None, name="Squad", parent=web)
    with unchanged(), pytest.raises(ValidationFailed) as exc:
        services.unit_update(unit=units["product"], actor=person, parent=squad)
    assert field_of(exc) == "parent" and "below itself" in exc.value.message
    spare = services.unit_create(organisation=org, actor=person, name="Spare", parent=None)
    services.unit_archive(unit=spare, actor=person)
    with unchanged(), pytest.raises(ValidationFailed) as exc:
        services.unit_update(unit=web, actor=person, parent=spare)
    assert field_of(exc) == "parent" and "archived" in exc.value.message


def test_unit_archive_refuses_while_it_owns_live_objectives(org, units, cycle, person, unchanged):
    goals.objective_create(
        organisation=org, actor=person, cycle=cycle, title="Refresh", owner_unit=units["support"]
    )
    with unchanged(), pytest.raises(Conflict) as exc:
        services.unit_archive(unit=units["support"], actor=person)
    assert "objectives it owns" in exc.value.message


# ---- organisation settings --------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "  "}, "name"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"answer_window_days": 0}, "answer_window_days"),
        ({"low_confidence": 11}, "low_confidence"),
        ({"max_objectives_per_unit": 2.5}, "max_objectives_per_unit"),
        ({"single_point_min_units": 1}, "single_point_min_units"),
        ({"task_share": 1.0}, "task_share"),
        ({"on_track_margin": -0.1}, "on_track_margin"),
        ({"on_track_margin": 0.3, "at_risk_margin": 0.2}, "at_risk_margin"),
    ],
)
def test_organisation_update_names_the_wrong_field_and_changes_nothing(
    org, person, unchanged, changes, field
):
    with unchanged(), pytest.raises(ValidationFailed) as exc:
        services.organisation_update(
            organisation=org, actor=person, **{"name": "Acme Two", **changes}
        )
    assert field_of(exc) == field
    # A refused change leaves the object in memory as it was, too.
    assert org.name == "Acme" and org.on_track_margin == 0.10
    org.refresh_from_db()
    assert org.name == "Acme"


def test_organisation_update_saves_thresholds_with_one_event(org, person):
    before = ActivityEvent.objects.count()
    services.organisation_update(
        organisation=org,
        actor=person,
        name="Acme Corp",
        timezone="Europe/Berlin",
        answer_window_days=7,
        low_confidence=4,
        task_share=0.6,
    )
    org.refresh_from_db()
    assert (org.name, org.timezone, org.answer_window_days, org.low_confidence) == (
        "Acme Corp",
        "Europe/Berlin",
        7,
        4,
    )
    assert ActivityEvent.objects.count() == before + 1
    assert events("organisation.updated")[-1].after["answer_window_days"] == 7
