"""Permission-checked fetches for alignment objects, shared by pages and API."""

from __future__ import annotations

from lockstep.alignment.models import AskOffer, Dependency, Review
from lockstep.org.access import access_in_org
from lockstep.org.models import Person


def access_dependency(person: Person, pk: int) -> Dependency:
    return access_in_org(Dependency, person.organisation, pk)


def access_review(person: Person, pk: int) -> Review:
    return access_in_org(Review, person.organisation, pk)


def access_ask_offer(person: Person, pk: int) -> AskOffer:
    return access_in_org(AskOffer, person.organisation, pk)
