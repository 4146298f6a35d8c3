"""Raw access to one tenant of a running scim2-server, for the SCIM tests: the
backend under test is opened from it, and out-of-band changes go around the backend."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from reconciler.backends.scim import ScimBackend, ScimSettings, open_scim_backend

TOKEN = "scim-test-token-0123456789abcdef"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


@dataclass
class ScimServer:
    """One tenant of a running scim2-server, with raw access for out-of-band changes."""

    url: str

    def settings(self, **options: Any) -> ScimSettings:
        options.setdefault("backoff_base", 0.01)
        return ScimSettings(url=self.url, token=TOKEN, **options)

    def backend(self, **options: Any) -> ScimBackend:
        transport = options.pop("transport", None)
        return open_scim_backend(self.settings(**options), transport=transport)

    # ---- raw access, not through the backend under test
    def call(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> httpx.Response:
        content = json.dumps(body).encode() if body is not None else None
        response = httpx.request(
            method,
            self.url + path,
            params=params,
            content=content,
            headers={
                "Authorization": f"Bearer {TOKEN}",
                "Content-Type": "application/scim+json",
            },
            timeout=10.0,
        )
        assert response.status_code < 400, response.text
        return response

    def add_user(
        self, user_name: str, first: str = "First", last: str = "Last", **extra: Any
    ) -> str:
        body = {
            "schemas": [USER_SCHEMA],
            "userName": user_name,
            "name": {"givenName": first, "familyName": last},
            "active": True,
            **extra,
        }
        return str(self.call("POST", "/Users", body).json()["id"])

    def add_group(self, name: str, members: tuple[str, ...] = ()) -> str:
        body: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "displayName": name}
        if members:
            body["members"] = [{"value": m} for m in members]
        return str(self.call("POST", "/Groups", body).json()["id"])

    def user(self, user_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/Users/{user_id}").json())

    def group_members(self, group_id: str) -> set[str]:
        group = self.call("GET", f"/Groups/{group_id}").json()
        return {m["value"] for m in group.get("members", [])}

    def users_named(self, user_name: str) -> list[dict[str, Any]]:
        listing = self.call(
            "GET", "/Users", params={"filter": f"userName eq {json.dumps(user_name)}"}
        )
        return list(listing.json().get("Resources", []))

    def rename_user(self, user_id: str, family_name: str) -> None:
        """An out-of-band change: read the user and PUT it back with another family
        name (PUT works whether or not the server announces PATCH)."""
        resource = self.user(user_id)
        resource.pop("meta")
        resource["name"]["familyName"] = family_name
        self.call("PUT", f"/Users/{user_id}", resource)

    def state(self) -> dict[str, list[dict[str, Any]]]:
        """Every user and group as the server holds them, meta (and so version) included:
        equal before and after a run only if the run wrote nothing."""
        found: dict[str, list[dict[str, Any]]] = {}
        for kind in ("Users", "Groups"):
            listing = self.call("GET", f"/{kind}", params={"count": "1000"}).json()
            found[kind] = sorted(listing.get("Resources", []), key=lambda r: str(r["id"]))
        return found

    def set_active(self, user_id: str, active: bool) -> None:
        resource = self.user(user_id)
        resource.pop("meta")
        resource["active"] = active
        self.call("PUT", f"/Users/{user_id}", resource)
