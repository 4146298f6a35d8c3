"""A thin HTTP client for the emulator tests: real sockets, no project client code."""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.emulator import Emulator


def token(emulator: Emulator, client: httpx.Client | None = None) -> str:
    with client or httpx.Client(base_url=emulator.url) as http:
        reply = http.post(
            "/io/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(emulator.client_id, emulator.client_secret),
        )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["id_token"])


class Api:
    """An authenticated keep-alive client of one emulator."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.http = httpx.Client(base_url=emulator.url, timeout=10)
        self.token = token(emulator)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.request("POST", path, json=body)

    def patch(self, path: str, body: Any) -> httpx.Response:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> httpx.Response:
        return self.request("DELETE", path)

    def create_user(self, email: str, **fields: Any) -> dict[str, Any]:
        body = {"email": email, "firstName": "Test", "lastName": "User", **fields}
        reply = self.post("/public/v1/user", body)
        assert reply.status_code == 201, reply.text
        return dict(reply.json())

    def all_pages(self, path: str, count: int, **params: Any) -> list[dict[str, Any]]:
        """Every record, following the published stop rule."""
        records: list[dict[str, Any]] = []
        start = 1
        while True:
            page = self.get(path, startIndex=start, count=count, **params).json()
            records += page["Resources"]
            if not page["Resources"] or len(page["Resources"]) < page["itemsPerPage"]:
                return records
            start += page["itemsPerPage"]

    def close(self) -> None:
        self.http.close()


def error_of(reply: httpx.Response) -> tuple[int, str]:
    body = reply.json()
    assert set(body) == {"status", "code", "detail"}, body
    assert body["status"] == reply.status_code
    assert body["detail"]
    return reply.status_code, str(body["code"])
