"""The out-of-band route acts as a person, an API client or the service itself, and the
audit log (as the API serves it) says which."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from emulator_http import Api

from reconciler.emulator import Emulator, EmulatorError


@pytest.fixture
def api(emulator: Emulator) -> Iterator[Api]:
    client = Api(emulator)
    yield client
    client.http.close()


def _last_event(api: Api, user_id: str) -> dict[str, Any]:
    reply = api.get(f"/public/v1/user/{user_id}/audit", count=200)
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["Resources"][-1])


def test_the_product_sync_creates_users_as_the_system(api: Api) -> None:
    created = api.emulator.out_of_band(
        "create",
        email="synced.user@example.com",
        firstName="Synced",
        lastName="User",
        actor={"kind": "system", "name": "Product sync"},
    )
    event = _last_event(api, created["id"])
    assert event["action"] == "user.created"
    assert event["actor"] == {
        "type": "system",
        "id": "product-sync",
        "email": None,
        "name": "Product sync",
    }


def test_an_api_client_and_a_person_are_told_apart(api: Api) -> None:
    users = [u for u in api.emulator.state()["users"] if u["status"] == "Active"]
    admin = next(u for u in users if u["role"] == "Administrator")
    target = next(u for u in users if u["role"] == "User")
    api.emulator.out_of_band(
        "update", email=target["email"], lastName="ByClient",
        actor={"kind": "api_client", "name": "hr-feed"},
    )  # fmt: skip
    assert _last_event(api, target["id"])["actor"] == {
        "type": "client",
        "id": "hr-feed",
        "email": None,
    }
    api.emulator.out_of_band(
        "update", email=target["email"], lastName="ByPerson",
        actor={"kind": "person", "email": admin["email"]},
    )  # fmt: skip
    assert _last_event(api, target["id"])["actor"] == {
        "type": "user",
        "id": admin["id"],
        "email": admin["email"],
    }


def test_the_http_route_takes_the_actor_and_refuses_a_bad_one(emulator: Emulator) -> None:
    target = next(u for u in emulator.state()["users"] if u["status"] == "Active")
    with httpx.Client(base_url=emulator.url, timeout=10) as http:
        done = http.post(
            "/_emulator/out-of-band",
            json={"op": "deactivate", "email": target["email"],
                  "actor": {"kind": "system", "name": "Nightly cleanup"}},
        )  # fmt: skip
        assert done.status_code == 200, done.text
        refused = http.post(
            "/_emulator/out-of-band",
            json={"op": "reactivate", "email": target["email"], "actor": {"kind": "robot"}},
        )
    assert refused.status_code == 400
    assert "person, api_client or system" in refused.json()["detail"]
    event = emulator.state()["audit"][-1]
    assert event["action"] == "user.deactivated"
    assert event["actor"]["type"] == "system" and event["actor"]["name"] == "Nightly cleanup"


def test_a_person_has_no_name_and_a_system_no_email(emulator: Emulator) -> None:
    email = emulator.state()["users"][0]["email"]
    with pytest.raises(EmulatorError, match=r"actor\.email"):
        emulator.out_of_band("deactivate", email=email, actor={"kind": "person", "name": "x"})
    with pytest.raises(EmulatorError, match="has no email"):
        emulator.out_of_band(
            "deactivate", email=email, actor={"kind": "system", "email": "a@example.com"}
        )


def test_a_saved_state_keeps_system_actors(emulator: Emulator) -> None:
    emulator.out_of_band(
        "create", email="s@example.com", firstName="S", lastName="Y",
        actor={"kind": "system"},
    )  # fmt: skip
    state = emulator.state()
    emulator.load_state(state)
    assert emulator.state()["audit"][-1]["actor"]["name"] == "Product sync"
    state["audit"][-1]["actor"]["type"] = "robot"
    with pytest.raises(EmulatorError, match="'user', 'client' or 'system'"):
        emulator.load_state(state)
