"""API for the audit trail (admins only; thin: parse, call, render)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import field_validator

from lockstep.activity.models import ActivityEvent
from lockstep.activity.selectors import AuditFilters, audit_query
from lockstep.apischema import ERRORS, Id, Page, PageParams, paginate
from lockstep.org.access import current_person
from lockstep.org.roles import require_admin

router = Router(tags=["audit trail"])


class ActivityFilters(Schema):
    actor_id: Id | None = None
    object_type: str = ""
    object_id: Id | None = None
    verb: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    @field_validator("since", "until")
    @classmethod
    def _in_utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        # Python takes offsets up to ±24 h, PostgreSQL refuses past ±15:59 (a 500 that
        # Schemathesis found): the same moment in UTC is what the query needs anyway.
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(dt.UTC)


class ActivityOut(Schema):
    id: int
    at: dt.datetime
    actor_id: int | None
    actor: str | None
    verb: str
    object_type: str
    object_id: int
    object_label: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _out(e: ActivityEvent) -> dict[str, Any]:
    return {
        "id": e.pk,
        "at": e.at,
        "actor_id": e.actor_id,
        "actor": e.actor.name if e.actor is not None else None,
        "verb": e.verb,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "object_label": e.object_label,
        "before": e.before,
        "after": e.after,
    }


@router.get("/activity", response={200: Page[ActivityOut], **ERRORS})
def activity_list(
    request: HttpRequest, filters: Query[ActivityFilters], page: Query[PageParams]
) -> dict[str, Any]:
    me = current_person(request)
    require_admin(me, "read the audit trail")
    qs = audit_query(me.organisation, AuditFilters(**filters.model_dump()))
    return paginate(qs, page, lambda rows: [_out(e) for e in rows])
