"""Optimistic concurrency: an edit names the version it was made against (ETag / If-Match).

Two people open the same objective, both change it, the second save would silently undo
the first. So every editable row has a version, its ETag: the row's id and the moment of
its last edit (`updated_at`, microseconds). GET answers carry it; an edit that sends it
back in `If-Match` (or a page form in a hidden field) is checked against the row locked
for update, in the edit's own transaction, so no other edit can slip in between the check
and the write. A stale version is refused with 412 and says who changed the row and when;
nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import models, transaction
from django.utils import timezone

from lockstep.activity.models import ActivityEvent
from lockstep.errors import LockstepError

M = TypeVar("M", bound=models.Model)


class EditConflict(LockstepError):
    status = 412
    code = "edit_conflict"


def etag_of(obj: models.Model) -> str:
    """The row's version as a strong ETag: `"<id>.<updated_at in microseconds>"`."""
    updated = obj.updated_at  # type: ignore[attr-defined]  # every versioned model has it
    return f'"{obj.pk}.{int(updated.timestamp() * 1_000_000)}"'


def etag_for(model: type[models.Model], pk: int) -> str:
    """The stored version of one row (after an edit, read back)."""
    return etag_of(model._default_manager.only("pk", "updated_at").get(pk=pk))


def _last_change(obj: models.Model) -> str:
    event = (
        ActivityEvent.objects.filter(object_type=obj._meta.model_name, object_id=obj.pk)
        .select_related("actor")
        .order_by("-at", "-pk")
        .first()
    )
    if event is None:
        return ""
    who = event.actor.name if event.actor is not None else "an import or the system"
    when = timezone.localtime(event.at).strftime("%Y-%m-%d %H:%M %Z")
    return f" by {who} at {when}"


@contextmanager
def edit_guard(model: type[M], pk: int, if_match: str | None) -> Iterator[M]:
    """Lock the row for an edit and give it back fresh, if it is still at `if_match`.

    The edit runs on the row read under the lock, never on a copy read before it, so two
    edits of different fields cannot undo each other either. Without `if_match` the version
    is not compared (the client never read it); `*` matches any version, as HTTP defines.
    """
    with transaction.atomic():
        row = model._default_manager.select_for_update().get(pk=pk)
        if if_match is not None:
            tags = {t.strip() for t in if_match.split(",")}
            if "*" not in tags and etag_of(row) not in tags:
                name = model._meta.verbose_name
                raise EditConflict(
                    f"this {name} was changed{_last_change(row)} after you opened it; "
                    f"nothing was saved: reload it and make your change again"
                )
        yield row
