"""Refuse the NUL character (U+0000) in any input, naming where it was.

No one types it, and PostgreSQL cannot store it in text (SQLite can): left alone, it would
reach the database and fail there as a server error. Query parameters, posted forms and
JSON bodies are looked through before any view runs; the API answers 422 in its error
envelope, a page 400. A body too large or not JSON is left to the view, which says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

NUL = "\x00"


def _in_json(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if NUL in value:
            yield path or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                yield name
            yield from _in_json(item, name)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _in_json(item, f"{path}[{i}]")


def nul_field(request: HttpRequest) -> str | None:
    """The first input of the request holding a NUL character, or None."""
    for key, values in request.GET.lists():
        if NUL in key or any(NUL in v for v in values):
            return key.replace(NUL, "")
    try:
        if request.content_type == "application/json":
            if b"\\u0000" not in request.body:  # JSON writes NUL only as this escape
                return None
            return next(_in_json(json.loads(request.body), ""), None)
        if request.method == "POST":
            for key, values in request.POST.lists():
                if NUL in key or any(NUL in v for v in values):
                    return key.replace(NUL, "")
    except (RequestDataTooBig, ValueError):
        return None
    return None


class RefuseNulCharacters:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        field = nul_field(request)
        if field is None:
            return self.get_response(request)
        why = "must not contain the NUL character (U+0000)"
        if request.path.startswith("/api/"):
            from lockstep.api import envelope

            message = f"{field}: {why}"
            return envelope(
                request, 422, "validation_error", message, [{"field": field, "message": why}]
            )
        return HttpResponseBadRequest(
            f"{field}: {why}; nothing was saved.", content_type="text/plain"
        )
