"""The audit trail pages: browse with filters, export as CSV or JSON Lines (admins only)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from lockstep.activity.models import ActivityEvent
from lockstep.activity.selectors import (
    EXPORT_COLUMNS,
    AuditFilters,
    audit_page,
    audit_query,
    export_rows,
    object_types,
)
from lockstep.goals.selectors import day_start, org_tz
from lockstep.org.models import Person
from lockstep.org.roles import require_admin
from lockstep.plans.csvio import guard
from lockstep.web.views import page_context, person_page

PAGE_SIZE = 50
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 200 else text[:199] + "…"


def _changes(e: ActivityEvent) -> list[Change]:
    before, after = e.before or {}, e.after or {}
    return [
        Change(k, _shown(before[k]) if k in before else "", _shown(after[k]) if k in after else "")
        for k in sorted({*before, *after})
    ]


def _int(data: QueryDict, name: str, errors: dict[str, str]) -> int | None:
    raw = data.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        errors[name] = "must be a whole number"
        return None


def _day(data: QueryDict, name: str, errors: dict[str, str]) -> dt.date | None:
    raw = data.get(name, "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors[name] = "must be a date like 2026-11-21"
        return None


def _filters(me: Person, data: QueryDict) -> tuple[AuditFilters, dict[str, str]]:
    errors: dict[str, str] = {}
    tz = org_tz(me.organisation)
    since, until = _day(data, "since", errors), _day(data, "until", errors)
    if since and until and until < since:
        errors["until"] = "must not be before the first day"
    filters = AuditFilters(
        actor_id=_int(data, "actor", errors),
        object_type=data.get("type", "").strip(),
        object_id=_int(data, "object", errors),
        verb=data.get("verb", "").strip(),
        since=day_start(since, tz) if since else None,
        # `until` is the last day shown, so the window ends at the start of the next one.
        until=day_start(until + dt.timedelta(days=1), tz) if until else None,
    )
    return filters, errors


def _cursor_text(cursor: tuple[dt.datetime, int]) -> str:
    # Microseconds since the epoch and the id: URL-safe as it is, and exact.
    at, pk = cursor
    return f"{(at - EPOCH) // dt.timedelta(microseconds=1)}-{pk}"


def _cursor(raw: str, errors: dict[str, str]) -> tuple[dt.datetime, int] | None:
    if not raw:
        return None
    try:
        micros, pk = raw.split("-")
        return EPOCH + dt.timedelta(microseconds=int(micros)), int(pk)
    except (ValueError, OverflowError):
        errors["after"] = "is not a position in the trail; start again from the newest"
        return None


@person_page
def audit_log(request: HttpRequest, me: Person) -> HttpResponse:
    require_admin(me, "read the audit trail")  # refused: person_page's 403 page
    filters, errors = _filters(me, request.GET)
    after = _cursor(request.GET.get("after", ""), errors)
    rows: list[ActivityEvent] = []
    next_cursor = None
    if not errors:
        rows, next_cursor = audit_page(
            audit_query(me.organisation, filters), after=after, limit=PAGE_SIZE
        )
    query = request.GET.copy()
    query.pop("after", None)
    context = page_context(
        me,
        "audit",
        events=[(e, _changes(e)) for e in rows],
        errors=errors,
        form=request.GET,
        people=Person.objects.filter(organisation=me.organisation).order_by("name"),
        object_types=object_types(me.organisation),
        next_after=_cursor_text(next_cursor) if next_cursor else "",
        query=query.urlencode(),
        first_page=after is None,
    )
    return render(request, "activity/audit.html", context, status=422 if errors else 200)


def _csv_lines(rows: Iterator[dict[str, object]]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        # Text a person or an import typed could start with "=": keep spreadsheets from
        # running it (see plans.csvio.guard); ids and times are ours and need no guard.
        for column in ("actor", "verb", "object_type", "object_label"):
            row[column] = guard(str(row[column]))
        writer.writerow(row)
        if buf.tell() > 64_000:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


@person_page
def audit_export(request: HttpRequest, me: Person) -> HttpResponse:
    require_admin(me, "read the audit trail")  # refused: person_page's 403 page
    filters, errors = _filters(me, request.GET)
    fmt = request.GET.get("format", "csv")
    if fmt not in {"csv", "jsonl"}:
        errors["format"] = "must be csv or jsonl"
    if errors:
        text = "; ".join(f"{k}: {v}" for k, v in errors.items())
        return HttpResponse(text, status=422, content_type="text/plain; charset=utf-8")
    rows = export_rows(audit_query(me.organisation, filters))
    stamp = timezone.localdate().isoformat()
    if fmt == "csv":
        body: Iterator[str] = _csv_lines(rows)
        content_type = "text/csv; charset=utf-8"
    else:
        body = (json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        content_type = "application/x-ndjson; charset=utf-8"
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="lockstep-activity-{me.organisation.slug}-{stamp}.{fmt}"'
    )
    # person_page is typed for plain responses; a streamed one passes through it unchanged.
    return cast(HttpResponse, response)
