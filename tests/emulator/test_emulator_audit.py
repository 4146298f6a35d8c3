"""Every write leaves an audit event naming who made it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from emulator_http import Api, error_of

from reconciler.emulator import Emulator, EmulatorError

USERS = "/public/v1/user"


@pytest.fixture
def api(emulator: Emulator) -> Iterator[Api]:
    client = Api(emulator)
    yield client
    client.close()


def _new_events(emulator: Emulator, known: int) -> list[dict[str, Any]]:
    return emulator.state()["audit"][known:]


def test_each_api_write_appends_an_event_by_the_client(api: Api) -> None:
    emulator = api.emulator
    known = len(emulator.state()["audit"])
    product = api.get("/public/v1/product").json()["Resources"][0]["id"]
    made = api.create_user("audited@example.com")
    user = f"{USERS}/{made['id']}"
    api.patch(user, {"role": "Administrator"})
    api.post(f"/public/v1/product/{product}/user", {"userId": made["id"]})
    api.delete(f"/public/v1/product/{product}/user/{made['id']}")
    api.post(f"{user}/deactivate")
    api.post(f"{user}/reactivate")
    api.delete(user)
    events = _new_events(emulator, known)
    assert [e["action"] for e in events] == [
        "user.created",
        "user.updated",
        "product.provisioned",
        "product.deprovisioned",
        "user.deactivated",
        "user.reactivated",
        "user.deleted",
    ]
    for event in events:
        assert event["actor"] == {"type": "client", "id": emulator.client_id, "email": None}
        assert event["userId"] == made["id"]
        assert event["userEmail"] == "audited@example.com"
    assert events[1]["changes"] == {"role": {"from": "User", "to": "Administrator"}}
    assert events[2]["productId"] == product
    assert events[4]["changes"] == {"status": {"from": "Pending", "to": "Deactivated"}}
    assert events[5]["changes"] == {"status": {"from": "Deactivated", "to": "Pending"}}


def test_writes_that_change_nothing_leave_no_event(api: Api) -> None:
    made = api.create_user("steady@example.com", lastName="Same")
    known = len(api.emulator.state()["audit"])
    api.patch(f"{USERS}/{made['id']}", {"lastName": "Same"})
    api.post(f"{USERS}/{made['id']}/reactivate")
    api.post(USERS, {"email": "STEADY@example.com", "firstName": "A", "lastName": "B"})
    assert _new_events(api.emulator, known) == []


def test_out_of_band_changes_are_made_by_a_person(api: Api) -> None:
    emulator = api.emulator
    state = emulator.state()
    admin = next(
        u for u in state["users"] if u["role"] == "Administrator" and u["status"] == "Active"
    )
    victim = next(u for u in state["users"] if u["role"] == "User" and u["status"] == "Active")
    known = len(state["audit"])
    emulator.out_of_band("update", email=victim["email"], lastName="Changed")
    emulator.out_of_band("deactivate", user_id=victim["id"])
    event = _new_events(emulator, known)
    assert [e["action"] for e in event] == ["user.updated", "user.deactivated"]
    assert event[0]["actor"] == {"type": "user", "id": admin["id"], "email": admin["email"]}
    other_admin = api.create_user("second.admin@example.com", role="Administrator")
    emulator.out_of_band("reactivate", userId=victim["id"], actor="Second.Admin@example.com")
    last = emulator.state()["audit"][-1]
    assert last["actor"] == {
        "type": "user",
        "id": other_admin["id"],
        "email": "second.admin@example.com",
    }


def test_out_of_band_ops_follow_the_api_rules(emulator: Emulator) -> None:
    made = emulator.out_of_band(
        "create", email="walk.in@example.com", firstName="W", lastName="I", status="Active"
    )
    assert made["status"] == "Active" and made["lastLogin"]
    product = emulator.state()["products"][0]["id"]
    assert emulator.out_of_band("provision", email="walk.in@example.com", productId=product) == {
        "userId": made["id"],
        "email": "walk.in@example.com",
    }
    with pytest.raises(EmulatorError) as refused:
        emulator.out_of_band("provision", userId=made["id"], productId=product)
    assert refused.value.code == "AlreadyProvisioned"
    emulator.out_of_band("deprovision", userId=made["id"], productId=product)
    emulator.out_of_band("delete", email="WALK.IN@example.com")
    assert "walk.in@example.com" not in {u["email"] for u in emulator.state()["users"]}
    with pytest.raises(EmulatorError, match="Unknown op"):
        emulator.out_of_band("explode")
    with pytest.raises(EmulatorError, match="does not take"):
        emulator.out_of_band("deactivate", userId=made["id"], colour="red")


def test_invited_user_signing_in_becomes_active_without_an_admin_event(emulator: Emulator) -> None:
    made = emulator.out_of_band("create", email="invitee@example.com", firstName="I", lastName="N")
    known = len(emulator.state()["audit"])
    signed = emulator.out_of_band("sign-in", userId=made["id"])
    assert signed["status"] == "Active" and signed["lastLogin"]
    assert _new_events(emulator, known) == []


def test_customer_audit_since_returns_events_at_or_after(api: Api) -> None:
    everything = api.all_pages("/public/v1/audit", 200)
    assert [e["id"] for e in everything] == [e["id"] for e in api.emulator.state()["audit"]]
    stamps = [e["timestamp"] for e in everything]
    assert stamps == sorted(stamps)
    middle = stamps[len(stamps) // 2]
    since = api.all_pages("/public/v1/audit", 200, since=middle)
    assert since == [e for e in everything if e["timestamp"] >= middle]
    assert api.all_pages("/public/v1/audit", 50, since="2999-01-01T00:00:00+00:00") == []
    made = api.create_user("recent@example.com")
    recent = api.all_pages("/public/v1/audit", 50, since=made["createdAt"])
    assert [e["action"] for e in recent] == ["user.created"]
    assert error_of(api.get("/public/v1/audit", since="yesterday")) == (400, "ValidationError")


def test_user_audit_lists_only_that_users_events(api: Api) -> None:
    made = api.create_user("history@example.com")
    api.patch(f"{USERS}/{made['id']}", {"firstName": "Hist"})
    events = api.all_pages(f"{USERS}/{made['id']}/audit", 1)
    assert [e["action"] for e in events] == ["user.created", "user.updated"]
    assert error_of(api.get(f"{USERS}/u-nobody/audit")) == (404, "NotFound")
