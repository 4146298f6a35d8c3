"""Users and provisioning: the rules a client meets on every write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from emulator_http import Api, error_of

from reconciler.emulator import Emulator

USERS = "/public/v1/user"


@pytest.fixture
def api(emulator: Emulator) -> Iterator[Api]:
    client = Api(emulator)
    yield client
    client.close()


def _tenant(users: list[dict[str, Any]], products: list[dict[str, Any]]) -> dict[str, Any]:
    return {"users": users, "products": products, "provisioning": {}, "audit": []}


def _user(n: int, status: str = "Active", last_login: str | None = "2026-01-01T00:00:00Z"):
    return {
        "id": f"u-{n}",
        "email": f"user{n}@example.com",
        "firstName": "U",
        "lastName": str(n),
        "role": "User",
        "passwordRequired": False,
        "status": status,
        "lastLogin": last_login,
    }


def test_create_invites_a_pending_user_keeping_the_email_case(api: Api) -> None:
    made = api.create_user("New.Person@Example.COM", role="Administrator")
    assert made["status"] == "Pending" and made["lastLogin"] is None
    assert made["email"] == "New.Person@Example.COM" and made["role"] == "Administrator"
    assert api.get(f"{USERS}/{made['id']}").json() == made


def test_emails_are_unique_case_insensitively(api: Api) -> None:
    api.create_user("dup@example.com")
    reply = api.post(USERS, {"email": "DUP@example.com", "firstName": "A", "lastName": "B"})
    assert error_of(reply) == (409, "UserExists")


@pytest.mark.parametrize(
    "body",
    [
        {"firstName": "A", "lastName": "B"},
        {"email": "not-an-email", "firstName": "A", "lastName": "B"},
        {"email": "a@example.com", "firstName": "", "lastName": "B"},
        {"email": "a@example.com", "firstName": "A", "lastName": "B", "role": "Owner"},
        {"email": "a@example.com", "firstName": "A", "lastName": "B", "status": "Active"},
        {"email": "a@example.com", "firstName": "A", "lastName": "B", "passwordRequired": "no"},
        ["a@example.com"],
    ],
)
def test_invalid_creates_are_refused_and_change_nothing(api: Api, body: Any) -> None:
    before = api.emulator.state()
    assert error_of(api.post(USERS, body)) == (400, "ValidationError")
    assert api.emulator.state() == before


def test_invalid_json_is_a_validation_error(api: Api) -> None:
    reply = api.request(
        "POST", USERS, content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert error_of(reply) == (400, "ValidationError")


def test_patch_changes_only_the_editable_fields(api: Api) -> None:
    made = api.create_user("patch.me@example.com")
    reply = api.patch(f"{USERS}/{made['id']}", {"lastName": "Renamed", "passwordRequired": True})
    assert reply.status_code == 200
    assert reply.json()["lastName"] == "Renamed" and reply.json()["passwordRequired"] is True
    for forbidden in ({"email": "x@example.com"}, {"status": "Active"}, {"role": "Boss"}):
        assert error_of(api.patch(f"{USERS}/{made['id']}", forbidden)) == (400, "ValidationError")


def test_unknown_user_is_not_found(api: Api) -> None:
    assert error_of(api.get(f"{USERS}/u-nobody")) == (404, "NotFound")
    assert error_of(api.patch(f"{USERS}/u-nobody", {"lastName": "X"})) == (404, "NotFound")
    assert error_of(api.post(f"{USERS}/u-nobody/deactivate")) == (404, "NotFound")
    assert error_of(api.delete(f"{USERS}/u-nobody")) == (404, "NotFound")


def test_deactivate_is_idempotent(api: Api) -> None:
    made = api.create_user("leaver@example.com")
    first = api.post(f"{USERS}/{made['id']}/deactivate")
    second = api.post(f"{USERS}/{made['id']}/deactivate")
    assert first.status_code == second.status_code == 200
    assert second.json()["status"] == "Deactivated"


def test_reactivate_gives_active_only_to_users_who_signed_in(
    emulator_factory: Callable[..., Emulator],
) -> None:
    state = _tenant([_user(1, "Deactivated"), _user(2, "Deactivated", last_login=None)], [])
    api = Api(emulator_factory(state=state))
    assert api.post(f"{USERS}/u-1/reactivate").json()["status"] == "Active"
    assert api.post(f"{USERS}/u-2/reactivate").json()["status"] == "Pending"


def test_delete_is_permanent_and_drops_provisioning(api: Api) -> None:
    made = api.create_user("gone@example.com")
    product = api.get("/public/v1/product").json()["Resources"][0]["id"]
    assert api.post(f"/public/v1/product/{product}/user", {"userId": made["id"]}).status_code == 201
    assert api.delete(f"{USERS}/{made['id']}").status_code == 204
    assert error_of(api.get(f"{USERS}/{made['id']}")) == (404, "NotFound")
    holders = api.all_pages(f"/public/v1/product/{product}/user", 1000)
    assert made["id"] not in [p["userId"] for p in holders]
    assert made["id"] not in api.emulator.state()["provisioning"][product]
    # The email is free again.
    api.create_user("GONE@example.com")


def test_grant_and_revoke(api: Api) -> None:
    made = api.create_user("grantee@example.com")
    product = api.get("/public/v1/product").json()["Resources"][0]["id"]
    path = f"/public/v1/product/{product}/user"
    granted = api.post(path, {"userId": made["id"]})
    assert granted.status_code == 201
    assert granted.json() == {"userId": made["id"], "email": "grantee@example.com"}
    assert error_of(api.post(path, {"userId": made["id"]})) == (409, "AlreadyProvisioned")
    assert api.delete(f"{path}/{made['id']}").status_code == 204
    assert error_of(api.delete(f"{path}/{made['id']}")) == (404, "NotFound")


def test_unknown_product_is_not_found(api: Api) -> None:
    made = api.create_user("p@example.com")
    assert error_of(api.get("/public/v1/product/p-nothing/user")) == (404, "NotFound")
    reply = api.post("/public/v1/product/p-nothing/user", {"userId": made["id"]})
    assert error_of(reply) == (404, "NotFound")


def test_a_deactivated_user_cannot_be_provisioned(api: Api) -> None:
    made = api.create_user("inactive@example.com")
    api.post(f"{USERS}/{made['id']}/deactivate")
    product = api.get("/public/v1/product").json()["Resources"][0]["id"]
    reply = api.post(f"/public/v1/product/{product}/user", {"userId": made["id"]})
    assert error_of(reply) == (400, "UserDeactivated")


def test_seats_refuse_provisioning_past_the_licence_count(
    emulator_factory: Callable[..., Emulator],
) -> None:
    product = {
        "id": "p-ap",
        "name": "AgilePlace Production",
        "type": "AgilePlace",
        "environment": "Production",
        "seats": 2,
    }
    state = _tenant([_user(1), _user(2, "Pending", None), _user(3), _user(4)], [product])
    api = Api(emulator_factory(state=state))
    path = "/public/v1/product/p-ap/user"
    assert api.post(path, {"userId": "u-1"}).status_code == 201
    assert api.post(path, {"userId": "u-2"}).status_code == 201  # pending holds a seat too
    assert error_of(api.post(path, {"userId": "u-3"})) == (409, "NoSeatsAvailable")
    # A deactivated holder gives up their seat; reactivating would need one again.
    api.post(f"{USERS}/u-1/deactivate")
    assert api.post(path, {"userId": "u-3"}).status_code == 201
    assert error_of(api.post(path, {"userId": "u-4"})) == (409, "NoSeatsAvailable")
    # Revoking frees a seat as well.
    assert api.delete(f"{path}/u-3").status_code == 204
    assert api.post(path, {"userId": "u-4"}).status_code == 201
    assert {p["userId"] for p in api.all_pages(path, 10)} == {"u-1", "u-2", "u-4"}


def test_unlimited_products_take_everyone(emulator_factory: Callable[..., Emulator]) -> None:
    product = {"id": "p-x", "name": "X", "type": None, "environment": None, "seats": None}
    api = Api(emulator_factory(state=_tenant([_user(n) for n in range(30)], [product])))
    for n in range(30):
        assert api.post("/public/v1/product/p-x/user", {"userId": f"u-{n}"}).status_code == 201


def test_unknown_routes_and_methods_answer_in_the_error_shape(api: Api) -> None:
    assert error_of(api.get("/public/v1/nothing")) == (404, "NotFound")
    assert error_of(api.request("PUT", USERS)) == (405, "MethodNotAllowed")
