from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client


class Api:
    """A thin JSON client for /api/v1 that returns (status, body)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> tuple[int, Any]:
        fn = getattr(self.client, method)
        url = "/api/v1" + path
        if body is None:
            r = fn(url, params) if method == "get" else fn(url)
        else:
            r = fn(url, json.dumps(body), content_type="application/json")
        return r.status_code, (r.json() if r.content else None)

    def get(self, path: str, **params: Any) -> tuple[int, Any]:
        return self._call("get", path, **params)

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        return self._call("post", path, body)

    def patch(self, path: str, body: Any) -> tuple[int, Any]:
        return self._call("patch", path, body)

    def delete(self, path: str) -> tuple[int, Any]:
        return self._call("delete", path)


@pytest.fixture
def api(client_in) -> Api:
    return Api(client_in)


def field_error(body: dict[str, Any], field: str) -> str:
    """The message the error envelope gives for `field` (fails if the field is not named)."""
    assert set(body) == {"error"}, body
    fields = {f["field"]: f["message"] for f in body["error"]["fields"]}
    assert field in fields, body
    return fields[field]
