"""Helpers for client tests against the real emulator (127.0.0.1 only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx


class Recording(httpx.HTTPTransport):
    """A real HTTP transport that remembers what it sent and can run a hook after
    each answer (to change the tenant between two pages, say)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []
        self.after: Callable[[httpx.Request], None] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = super().handle_request(request)
        if self.after is not None:
            response.read()
            self.after(request)
        return response

    def tokens(self) -> set[str]:
        headers = (r.headers.get("authorization", "") for r in self.sent)
        return {h.removeprefix("Bearer ") for h in headers if h.startswith("Bearer ")}

    def pages(self, path: str) -> list[int]:
        return [int(r.url.params["startIndex"]) for r in self.sent if r.url.path == path]


def emails(state: dict[str, Any]) -> list[str]:
    return [u["email"].casefold() for u in state["users"]]
