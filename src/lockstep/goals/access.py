"""Permission-checked fetches for goal objects, shared by pages and API."""

from __future__ import annotations

from lockstep.goals.models import KPI, Cycle, Initiative, KeyResult, Objective
from lockstep.org.access import access_in_org
from lockstep.org.models import Membership, Person


def may_check_in(person: Person, kr: KeyResult) -> bool:
    """Whether `person` may check in on `kr`: an admin, its owner, or one of its units' people.

    Its units are the owner unit and the co-owner units; leaders and members both count.
    """
    if person.is_org_admin or kr.owner_person_id == person.pk:
        return True
    units = [u.pk for u in kr.co_owners.all()]
    if kr.owner_unit_id is not None:
        units.append(kr.owner_unit_id)
    return Membership.objects.filter(person=person, unit_id__in=units).exists()


def access_cycle(person: Person, pk: int) -> Cycle:
    return access_in_org(Cycle, person.organisation, pk)


def access_objective(person: Person, pk: int) -> Objective:
    return access_in_org(Objective, person.organisation, pk)


def access_key_result(person: Person, pk: int) -> KeyResult:
    return access_in_org(KeyResult, person.organisation, pk)


def access_initiative(person: Person, pk: int) -> Initiative:
    return access_in_org(Initiative, person.organisation, pk)


def access_kpi(person: Person, pk: int) -> KPI:
    return access_in_org(KPI, person.organisation, pk)
