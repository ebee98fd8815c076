"""Who may write what. Every service checks these, so pages, API and imports agree.

Roles come from two places: `Person.is_org_admin` (may do anything in the organisation)
and each `Membership.role` in a unit:

- leader: edits the unit's objectives, key results, initiatives and KPIs, answers the
  dependency requests addressed to the unit and endorses reviews for it;
- member: checks in on the unit's key results, records its KPI values, asks other units
  for things and comments;
- viewer: reads the unit's work, private objectives included, and writes nothing.

An actor of None is the system itself (the demo loader, plan apply, imports run by an
operator on the command line); it is never refused.
"""

from __future__ import annotations

from collections.abc import Iterable

from lockstep.errors import Forbidden
from lockstep.org.models import Membership, Person, Unit

WRITERS = (Membership.Role.LEADER, Membership.Role.MEMBER)


def _units(unit_ids: Iterable[int | None]) -> list[int]:
    return [pk for pk in unit_ids if pk is not None]


def leads_any(person: Person | None, unit_ids: Iterable[int | None]) -> bool:
    """Whether the person is an admin or a leader of one of the units."""
    if person is None or person.is_org_admin:
        return True
    return Membership.objects.filter(
        person=person, unit_id__in=_units(unit_ids), role=Membership.Role.LEADER
    ).exists()


def works_in_any(person: Person | None, unit_ids: Iterable[int | None]) -> bool:
    """Whether the person is an admin, or a leader or member (not a viewer) of one of them."""
    if person is None or person.is_org_admin:
        return True
    return Membership.objects.filter(
        person=person, unit_id__in=_units(unit_ids), role__in=WRITERS
    ).exists()


def require_admin(person: Person | None, what: str) -> None:
    if person is not None and not person.is_org_admin:
        raise Forbidden(f"only an organisation admin may {what}")


def require_leader(person: Person | None, units: Iterable[Unit | None], what: str) -> None:
    """Refuse unless the person leads one of `units` (None entries are skipped)."""
    found = [u for u in units if u is not None]
    if not found:
        require_admin(person, what)
    elif not leads_any(person, (u.pk for u in found)):
        names = " or ".join(u.name for u in found)
        raise Forbidden(f"only leaders of {names} may {what}")


def require_worker(person: Person | None, units: Iterable[Unit | None], what: str) -> None:
    """Refuse unless the person is a leader or member of one of `units`."""
    found = [u for u in units if u is not None]
    if not found:
        require_admin(person, what)
    elif not works_in_any(person, (u.pk for u in found)):
        names = " or ".join(u.name for u in found)
        raise Forbidden(f"only people of {names} may {what}")
