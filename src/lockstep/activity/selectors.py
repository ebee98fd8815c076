"""Reads of the audit trail: filtered, newest first, paged by a cursor, exported as rows."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet

from lockstep.activity.models import ActivityEvent
from lockstep.org.models import Organisation

EXPORT_COLUMNS = [
    "at",
    "actor",
    "verb",
    "object_type",
    "object_id",
    "object_label",
    "before",
    "after",
]


@dataclass(frozen=True)
class AuditFilters:
    """What a reader narrows the trail to; every field optional."""

    actor_id: int | None = None
    object_type: str = ""
    object_id: int | None = None
    verb: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def audit_query(organisation: Organisation, filters: AuditFilters) -> QuerySet[ActivityEvent]:
    """The organisation's events matching `filters`, newest first (by time, then id)."""
    qs = ActivityEvent.objects.filter(organisation=organisation).select_related("actor")
    if filters.actor_id is not None:
        qs = qs.filter(actor_id=filters.actor_id)
    if filters.object_type:
        qs = qs.filter(object_type=filters.object_type)
    if filters.object_id is not None:
        qs = qs.filter(object_id=filters.object_id)
    if filters.verb:
        qs = qs.filter(verb__startswith=filters.verb)
    if filters.since is not None:
        qs = qs.filter(at__gte=filters.since)
    if filters.until is not None:
        qs = qs.filter(at__lt=filters.until)
    return qs.order_by("-at", "-id")


def audit_page(
    qs: QuerySet[ActivityEvent], *, after: tuple[dt.datetime, int] | None, limit: int
) -> tuple[list[ActivityEvent], tuple[dt.datetime, int] | None]:
    """One page older than the cursor `after` (at, id), and the cursor of the next page.

    A cursor rather than an offset: the trail only grows, an offset would shift under a
    reader as events arrive, and counting millions of rows to number pages costs seconds.
    """
    if after is not None:
        at, pk = after
        qs = qs.filter(Q(at__lt=at) | Q(at=at, id__lt=pk))
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, ((rows[-1].at, rows[-1].pk) if more and rows else None)


def object_types(organisation: Organisation) -> list[str]:
    """The kinds of object the organisation's trail mentions, for the filter."""
    return sorted(
        ActivityEvent.objects.filter(organisation=organisation)
        .values_list("object_type", flat=True)
        .distinct()
    )


def _json(value: object) -> str:
    return "" if value is None else json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True)


def export_rows(qs: QuerySet[ActivityEvent]) -> Iterator[dict[str, object]]:
    """Every event of `qs` as a flat row (before/after as JSON text), read in chunks."""
    for e in qs.iterator(chunk_size=2000):
        yield {
            "at": e.at.isoformat(),
            "actor": e.actor.name if e.actor is not None else "",
            "verb": e.verb,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "object_label": e.object_label,
            "before": _json(e.before),
            "after": _json(e.after),
        }
