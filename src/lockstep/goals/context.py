"""Template context every page gets: which key results the viewer may not see named."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from lockstep.goals.access import objective_visible
from lockstep.goals.models import KeyResult


def _hidden_krs(request: HttpRequest) -> frozenset[int]:
    person = getattr(request.user, "person", None) if request.user.is_authenticated else None
    if person is None or person.is_org_admin:
        return frozenset()
    return frozenset(
        KeyResult.objects.filter(organisation=person.organisation, objective__private=True)
        .exclude(objective_visible(person, "objective__"))
        .values_list("pk", flat=True)
    )


def private_krs(request: HttpRequest) -> dict[str, Any]:
    """`hidden_krs`: ids of the private objectives' KRs the viewer may not see. A page that
    names another unit's KR (a dependency's two sides) shows "a private key result" for
    these. Read only when a template asks (one query)."""
    return {"hidden_krs": SimpleLazyObject(lambda: _hidden_krs(request))}
