"""Permission-checked fetches for goal objects, shared by pages and API."""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Exists, Model, OuterRef, Q, QuerySet

from lockstep.errors import NotFound
from lockstep.goals.models import KPI, Cycle, Initiative, KeyResult, Objective, ObjectiveContributor
from lockstep.org.access import access_in_org
from lockstep.org.models import Membership, Person
from lockstep.org.roles import WRITERS, works_in_any

M = TypeVar("M", bound=Model)


def may_check_in(person: Person | None, kr: KeyResult) -> bool:
    """Whether `person` may check in on `kr`: its owner, or a leader or member of its owner
    unit or a co-owner unit (viewers only read); admins and the system always may."""
    if person is None or person.is_org_admin or kr.owner_person_id == person.pk:
        return True
    return works_in_any(person, [kr.owner_unit_id, *(u.pk for u in kr.co_owners.all())])


class CheckInRights:
    """`may_check_in` for many KRs of one page: the person's units are read once."""

    def __init__(self, person: Person) -> None:
        self.person = person
        self.everything = person.is_org_admin
        self.units = (
            set()
            if self.everything
            else set(
                Membership.objects.filter(person=person, role__in=WRITERS).values_list(
                    "unit_id", flat=True
                )
            )
        )

    def __call__(self, kr: KeyResult) -> bool:
        if self.everything or kr.owner_person_id == self.person.pk:
            return True
        # co_owners.all() is prefetched by the pages that list KRs.
        return kr.owner_unit_id in self.units or any(u.pk in self.units for u in kr.co_owners.all())


def objective_visible(person: Person, via: str = "") -> Q:
    """A filter for the objectives the person may see, or (`via`="objective__", ...) the rows
    under them: every public one, and a private one when the person belongs, in any role, to
    its owner unit or a contributing unit. Admins see everything."""
    if person.is_org_admin:
        return Q()
    units = Membership.objects.filter(person=person).values("unit_id")
    return (
        Q(**{f"{via}private": False})
        | Q(**{f"{via}owner_unit__in": units})
        | Q(
            Exists(
                ObjectiveContributor.objects.filter(
                    objective=OuterRef(via.removesuffix("__") or "pk"), unit__in=units
                )
            )
        )
    )


def hidden_objectives(person: Person, objectives: list[Objective]) -> set[int]:
    """Of these objectives, the ids of the private ones the person may not see (one query,
    none when none is private)."""
    private = [o.pk for o in objectives if o.private]
    if not private or person.is_org_admin:
        return set()
    seen = Objective.objects.filter(pk__in=private).filter(objective_visible(person))
    return set(private) - set(seen.values_list("pk", flat=True))


def _visible(qs: QuerySet[M], model: type[M], pk: int) -> M:
    found = qs.filter(pk=pk).first()
    if found is None:
        raise NotFound(f"{model._meta.verbose_name} {pk} not found")
    return found


def access_cycle(person: Person, pk: int) -> Cycle:
    return access_in_org(Cycle, person.organisation, pk)


def access_objective(person: Person, pk: int) -> Objective:
    """The objective, or 404 when it is another organisation's or private to other units."""
    qs = Objective.objects.filter(organisation=person.organisation)
    return _visible(qs.filter(objective_visible(person)), Objective, pk)


def access_key_result(person: Person, pk: int) -> KeyResult:
    qs = KeyResult.objects.filter(organisation=person.organisation)
    return _visible(qs.filter(objective_visible(person, "objective__")), KeyResult, pk)


def access_initiative(person: Person, pk: int) -> Initiative:
    return access_in_org(Initiative, person.organisation, pk)


def access_kpi(person: Person, pk: int) -> KPI:
    return access_in_org(KPI, person.organisation, pk)
