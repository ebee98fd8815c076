"""API for a person's own API tokens (thin: parse, call, render)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from lockstep.apischema import ERRORS, Id
from lockstep.errors import Forbidden
from lockstep.org.access import current_person
from lockstep.trust.models import ApiToken
from lockstep.trust.tokens import token_create, token_revoke

router = Router(tags=["API tokens"])


class TokenIn(Schema):
    name: str = Field(..., min_length=1, max_length=100, description="what the token is for")
    scope: ApiToken.Scope = ApiToken.Scope.READ


class TokenOut(Schema):
    id: int
    name: str
    scope: str
    hint: str = Field(..., description="the token's first characters, to recognise it")
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenCreated(TokenOut):
    token: str = Field(..., description="the token itself: shown this once, never again")


def _out(t: ApiToken) -> dict[str, Any]:
    return {
        "id": t.pk,
        "name": t.name,
        "scope": t.scope,
        "hint": t.hint,
        "created_at": t.created_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
    }


@router.get("/tokens", response={200: list[TokenOut], **ERRORS})
def token_list(request: HttpRequest) -> list[dict[str, Any]]:
    me = current_person(request)
    return [_out(t) for t in ApiToken.objects.filter(person=me).order_by("-created_at", "-pk")]


@router.post("/tokens", response={201: TokenCreated, **ERRORS})
def token_post(request: HttpRequest, payload: TokenIn) -> tuple[int, dict[str, Any]]:
    if getattr(request, "api_token", None) is not None:
        raise Forbidden("API tokens are created in a signed-in session, not with a token")
    token, text = token_create(
        person=current_person(request), name=payload.name, scope=payload.scope
    )
    return 201, {**_out(token), "token": text}


@router.delete("/tokens/{token_id}", response={200: TokenOut, **ERRORS})
def token_delete(request: HttpRequest, token_id: Id) -> dict[str, Any]:
    return _out(token_revoke(person=current_person(request), token_id=token_id))
