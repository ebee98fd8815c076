"""The JSON API under /api/v1: one NinjaAPI, one router per domain, one error envelope."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import django_auth

from lockstep.errors import LockstepError
from lockstep.trust.tokens import TokenAuth

api = NinjaAPI(
    title="Lockstep API",
    version="1",
    description="Shared Micro-OKRs across departments. Errors always use the ErrorOut envelope.",
    # A bearer token (lockstep.trust.tokens) when the request carries one, else the session.
    auth=[TokenAuth(), django_auth],
    urls_namespace="api",
)


def envelope(
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    fields: list[dict[str, str]] | None = None,
) -> HttpResponse:
    return api.create_response(
        request,
        {"error": {"code": code, "message": message, "fields": fields or []}},
        status=status,
    )


def _field_path(loc: list[Any]) -> str:
    # ninja reports ("body", "payload", "target"); people want "target".
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path"}:
        parts = parts[1:]
        if len(parts) > 1 and parts[0] in {"payload", "filters", "page"}:
            parts = parts[1:]
    return ".".join(parts) or "body"


@api.exception_handler(NinjaValidationError)
def _on_validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    fields = [
        # pydantic prefixes messages of our own validators with "Value error, ".
        {
            "field": _field_path(e.get("loc", [])),
            "message": e.get("msg", "invalid").removeprefix("Value error, "),
        }
        for e in exc.errors
    ]
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "invalid request"
    return envelope(request, 422, "validation_error", message, fields)


@api.exception_handler(LockstepError)
def _on_domain_error(request: HttpRequest, exc: LockstepError) -> HttpResponse:
    fields = [{"field": f.field, "message": f.message} for f in exc.fields]
    return envelope(request, exc.status, exc.code, exc.message, fields)


@api.exception_handler(RequestDataTooBig)
def _on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return envelope(request, 413, "too_large", f"the request body is over {limit // 1024} KB")


@api.exception_handler(AuthenticationError)
def _on_auth(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    # ninja's own refusal says "Unauthorized"; a refused token says why.
    message = str(exc) if str(exc) != "Unauthorized" else "sign in first"
    return envelope(request, 401, "unauthenticated", message)


@api.exception_handler(PermissionDenied)
def _on_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return envelope(request, 403, "forbidden", str(exc) or "not allowed")


@api.exception_handler(Http404)
def _on_404(request: HttpRequest, exc: Http404) -> HttpResponse:
    return envelope(request, 404, "not_found", str(exc) or "not found")


@api.exception_handler(HttpError)
def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return envelope(request, exc.status_code, "http_error", str(exc))


def register_routers() -> None:
    from lockstep.activity.api import router as activity_router
    from lockstep.alignment.api import router as alignment_router
    from lockstep.dashboard.api import router as dashboard_router
    from lockstep.goals.api import router as goals_router
    from lockstep.org.api import router as org_router
    from lockstep.trust.api import router as trust_router

    api.add_router("/", org_router)
    api.add_router("/", goals_router)
    api.add_router("/", alignment_router)
    api.add_router("/", dashboard_router)
    api.add_router("/", trust_router)
    api.add_router("/", activity_router)


register_routers()
