"""Writing the activity log. Every other service calls `event_record` once per change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.db import models
from django.utils import timezone

from lockstep.activity.models import ActivityEvent
from lockstep.org.models import Organisation, Person


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def snapshot(obj: models.Model, *, m2m: tuple[str, ...] = ()) -> dict[str, Any]:
    """The object's stored fields (and the named many-to-many keys) as JSON-safe values."""
    data: dict[str, Any] = {}
    for f in obj._meta.concrete_fields:
        if f.name in {"created_at", "updated_at"}:
            continue
        data[f.attname] = _json_value(getattr(obj, f.attname))
    for name in m2m:
        data[name] = sorted(getattr(obj, name).values_list("pk", flat=True))
    return data


Subscriber = Callable[[ActivityEvent], None]
_subscribers: list[tuple[str, Subscriber]] = []


def subscribe(verb_prefix: str, handler: Subscriber) -> None:
    """Call `handler` with every event whose verb starts with `verb_prefix`.

    Handlers run inside the writing service's transaction, so what they store (findings,
    for one) commits or rolls back with the change that caused it.
    """
    if (verb_prefix, handler) not in _subscribers:
        _subscribers.append((verb_prefix, handler))


def event_record(
    *,
    organisation: Organisation,
    actor: Person | None,
    verb: str,
    obj: models.Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> ActivityEvent:
    """Record one change; call inside the service's transaction so both commit together."""
    if before is not None and after is not None:
        # Keep only what changed, so the log reads as a diff rather than two full copies.
        changed = {k for k in after if before.get(k) != after.get(k)}
        before = {k: v for k, v in before.items() if k in changed}
        after = {k: v for k, v in after.items() if k in changed}
    event = ActivityEvent.objects.create(
        organisation=organisation,
        actor=actor,
        at=at or timezone.now(),
        verb=verb,
        object_type=obj._meta.model_name or "",
        object_id=obj.pk,
        object_label=str(obj)[:300],
        before=before,
        after=after,
    )
    for prefix, handler in _subscribers:
        if verb.startswith(prefix):
            handler(event)
    return event
