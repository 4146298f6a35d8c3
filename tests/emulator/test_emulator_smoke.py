"""The fixtures start a real server that a plain HTTP client can use."""

from __future__ import annotations

import httpx

from reconciler.emulator import Emulator


def test_fixture_serves_the_generated_tenant_over_http(emulator: Emulator) -> None:
    with httpx.Client(base_url=emulator.url) as client:
        token = client.post(
            "/io/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(emulator.client_id, emulator.client_secret),
        ).json()["id_token"]
        reply = client.get("/public/v1/user", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200
    emails = [user["email"] for user in reply.json()["Resources"]]
    assert emails == [user["email"] for user in emulator.state()["users"]]
    assert len(emails) == 25
