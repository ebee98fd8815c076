"""Schemas shared by every domain's API router: the error envelope and pagination."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django.db.models import QuerySet
from ninja import Schema
from pydantic import Field

T = TypeVar("T")
Row = TypeVar("Row")


class FieldErrorOut(Schema):
    field: str
    message: str


class ErrorBody(Schema):
    code: str
    message: str
    fields: list[FieldErrorOut] = []


class ErrorOut(Schema):
    """The one error envelope every API error uses."""

    error: ErrorBody


ERRORS: dict[int, type[Schema]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
}


class PageParams(Schema):
    limit: int = Field(50, ge=1, le=500, description="page size")
    offset: int = Field(0, ge=0, description="rows to skip")


class Page(Schema, Generic[T]):
    """One page of a list: the rows, and how many match in all."""

    count: int
    limit: int
    offset: int
    items: list[T]


def paginate(
    rows: QuerySet[Any, Row] | Sequence[Row],
    page: PageParams,
    render: Callable[[list[Row]], list[Any]],
) -> dict[str, Any]:
    """Slice rows (a queryset or list) and render only the slice, in bulk."""
    count = rows.count() if isinstance(rows, QuerySet) else len(rows)
    window = rows[page.offset : page.offset + page.limit]
    return page_of(count, page, render(list(window)))


def page_of(count: int, page: PageParams, items: list[Any]) -> dict[str, Any]:
    """The Page envelope around items a caller has already sliced and rendered."""
    return {"count": count, "limit": page.limit, "offset": page.offset, "items": items}


def sent_fields(payload: Schema) -> dict[str, Any]:
    """The top-level fields the client sent (PATCH leaves the others alone), nested defaults kept."""
    full = payload.model_dump()
    return {name: full[name] for name in payload.model_fields_set}
