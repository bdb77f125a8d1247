"""A small paged JSON catalog API, served on loopback, that the example drivers read.

Wire format::

    POST /v1/auth      {"username", "password"} -> 201 {"token", "expires_in"}; 401 when refused
    GET  /v1/regions   -> {"regions": [...]}                      (Authorization: Bearer <token>)
    GET  /v1/items?kind=&region=&limit=&marker= -> {"items": [...], "next": <marker> | null}

Faults honoured besides the server's own: ``fail_auth``, ``token_ttl``, ``page_limit``.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any, ClassVar

from werkzeug.wrappers import Request, Response

from cloudcat.testing import MockPlatform, json_response

USERNAME = "kit-user"
PASSWORD = "s3cr3t-Kit-Passw0rd"
DEFAULT_PAGE = 100


class CatalogMock(MockPlatform):
    """The example catalog API."""

    name = "kit-catalog"
    fixtures: ClassVar[dict[str, Path]] = {"default": Path(__file__).with_name("catalog.json")}

    def reset(self) -> None:
        """Load regions and items from the fixture; forget tokens."""
        self.regions: list[dict[str, Any]] = list(self.fixture.get("regions", []))
        self.items: list[dict[str, Any]] = list(self.fixture.get("items", []))
        self.tokens: dict[str, float] = {}

    def backend(self) -> dict[str, Any]:
        """Options that reach this mock."""
        return {"driver": "kit-good",
                "options": {"url": self.base_url, "username": USERNAME, "password": PASSWORD}}

    def state(self) -> dict[str, Any]:
        """Number of live tokens."""
        return {"tokens": len(self.tokens)}

    def dispatch(self, request: Request) -> Response:
        """Route one request."""
        if request.path == "/v1/auth" and request.method == "POST":
            return self._auth(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.lock:
            expires = self.tokens.get(token)
        if expires is None or expires < time.monotonic():
            return json_response({"error": "invalid or expired token"}, status=401)
        if request.path == "/v1/regions" and request.method == "GET":
            return json_response({"regions": self.regions})
        if request.path == "/v1/items" and request.method == "GET":
            return self._items(request)
        return json_response({"error": f"no such endpoint {request.path}"}, status=404)

    def _auth(self, request: Request) -> Response:
        body = request.get_json(force=True, silent=True) or {}
        if self.faults.fail_auth or body.get("username") != USERNAME or body.get("password") != PASSWORD:
            return json_response({"error": "authentication refused"}, status=401)
        token = secrets.token_hex(16)
        ttl = self.faults.token_ttl or 3600.0
        with self.lock:
            self.tokens[token] = time.monotonic() + ttl
        return json_response({"token": token, "expires_in": ttl}, status=201)

    def _items(self, request: Request) -> Response:
        kind, region = request.args.get("kind"), request.args.get("region")
        try:
            limit = int(request.args.get("limit", DEFAULT_PAGE))
        except ValueError:
            return json_response({"error": "limit must be an integer"}, status=400)
        if self.faults.page_limit:
            limit = min(limit, self.faults.page_limit)
        rows = [i for i in self.items if i["kind"] == kind and i["region"] == region]
        marker = request.args.get("marker")
        start = 0
        if marker:
            names = [r["name"] for r in rows]
            if marker not in names:
                return json_response({"error": f"unknown marker {marker}"}, status=400)
            start = names.index(marker) + 1
        page = rows[start:start + limit]
        more = start + limit < len(rows)
        return json_response({"items": page, "next": page[-1]["name"] if more and page else None})
