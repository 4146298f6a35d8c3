"""A scripted Planview Admin API on httpx.MockTransport, for pure client tests.

Nothing here opens a socket: requests go to a handler in the test process.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from reconciler.backends.planview import ClientSettings, PlanviewBackend

SECRET = "s3cret-client-secret-value"
TOKEN_PATH = "/io/v1/oauth2/token"


def make_jwt(exp: float | None, extra: str = "") -> str:
    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims: dict[str, Any] = {"sub": "client", "jti": extra or str(time.monotonic_ns())}
    if exp is not None:
        claims["exp"] = exp
    return f"{part({'alg': 'HS256'})}.{part(claims)}.c2lnbmF0dXJl"


class FakeApi:
    """Routes: the token endpoint, then `routes[(method, path)]` handlers."""

    def __init__(self, token_lifetime: float = 3600.0) -> None:
        self.token_lifetime = token_lifetime
        self.tokens: list[str] = []
        self.requests: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]] = {}
        self.remaining = 1000

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == TOKEN_PATH:
            token = make_jwt(time.time() + self.token_lifetime)
            self.tokens.append(token)
            return httpx.Response(200, json={"id_token": token, "token_type": "Bearer"})
        handler = self.routes.get((request.method, request.url.path))
        if handler is None:
            return httpx.Response(404, json={"status": 404, "code": "NotFound", "detail": "?"})
        response = handler(request)
        if "X-Rate-Limit-Remaining" not in response.headers and response.status_code < 400:
            self.remaining -= 1
            response.headers["X-Rate-Limit-Remaining"] = str(self.remaining)
        return response

    def api_requests(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]

    def backend(self, **settings: Any) -> PlanviewBackend:
        options: dict[str, Any] = {"backoff_base": 0.001, "retries": 3, **settings}
        return PlanviewBackend(
            ClientSettings(
                url="http://127.0.0.1:9", client_id="client", client_secret=SECRET, **options
            ),
            transport=httpx.MockTransport(self.handle),
        )


def page(start: int, items_per_page: int, resources: list[dict[str, Any]]) -> httpx.Response:
    return httpx.Response(
        200,
        json={"startIndex": start, "itemsPerPage": items_per_page, "Resources": resources},
    )


def user(n: int) -> dict[str, Any]:
    return {
        "id": f"u-{n}",
        "email": f"user{n}@example.com",
        "firstName": "User",
        "lastName": str(n),
        "role": "User",
        "passwordRequired": False,
        "status": "Active",
    }
