"""What every domain's API router shares: the error envelope, pagination, idempotent POSTs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Header, Schema
from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from lockstep.keys import MAX_ID
from lockstep.org.models import Person
from lockstep.trust.services import request_hash, run_once

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
    412: ErrorOut,
    413: ErrorOut,
    422: ErrorOut,
}


# Ids are positive 64-bit integers in every database Lockstep runs on; a larger number in
# a path, query or body is refused (422, naming the field) before any query could fail on it.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class PageParams(Schema):
    limit: int = Field(50, ge=1, le=500, description="page size")
    offset: int = Field(0, ge=0, le=MAX_ID, description="rows to skip")


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


def _null_only_where_allowed(schema: dict[str, Any], cls: type) -> None:
    # The document says what the validator below enforces: null only where it clears a value.
    nullable: frozenset[str] = getattr(cls, "nullable", frozenset())
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if name in nullable or not options:
            continue
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            del prop["anyOf"]
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept


class PatchSchema(Schema):
    """A PATCH body: a field left out stays as it is; null is refused except in `nullable`.

    Null would otherwise reach the services as a value for fields that cannot be empty
    (a title, a time zone); where null means something (a KR's due date back to the cycle's
    end, a unit moved to the top), the schema names the field in `nullable`.
    """

    nullable: ClassVar[frozenset[str]] = frozenset()
    model_config = ConfigDict(json_schema_extra=_null_only_where_allowed)

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_allowed(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("may not be null: leave the field out to keep it as it is")
        return value


def sent_fields(payload: Schema) -> dict[str, Any]:
    """The top-level fields the client sent (PATCH leaves the others alone), nested defaults kept."""
    full = payload.model_dump()
    return {name: full[name] for name in payload.model_fields_set}


IDEMPOTENCY_KEY = Header(
    None,
    alias="Idempotency-Key",
    description="a key of your choosing (1-255 printable characters): a retry with the same "
    "key and body within 24 hours returns the first answer and changes nothing",
)


IF_MATCH = Header(
    None,
    alias="If-Match",
    description="the ETag of the version you edit (from GET): if the row changed since, "
    "the edit is refused with 412 edit_conflict and nothing is saved",
)


def idempotent(
    request: HttpRequest,
    person: Person,
    key: str | None,
    response: HttpResponse,
    work: Callable[[], tuple[int, Any]],
) -> tuple[int, Any]:
    """Run a POST's `work` once per `Idempotency-Key` (lockstep.trust.services.run_once).

    Without a key the work simply runs. A replayed answer carries `Idempotent-Replayed:
    true`, so a client can tell a retry that changed nothing from a first success.
    """
    if key is None:
        return work()
    answer = run_once(
        person=person,
        key=key,
        endpoint=f"{request.method} {request.path}",
        digest=request_hash(request.method or "", request.path, request.body),
        work=work,
    )
    if answer.replayed:
        response["Idempotent-Replayed"] = "true"
    return answer.status, answer.body
