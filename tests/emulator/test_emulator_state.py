"""The admin routes: state round trips, seeds, stats, and who may use them."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
from emulator_http import Api, error_of

from reconciler.emulator import Emulator, EmulatorConfig, EmulatorError
from reconciler.emulator.api import Application


def test_state_round_trips_through_the_admin_route(emulator: Emulator) -> None:
    api = Api(emulator)
    api.create_user("extra@example.com")
    state = emulator.state()
    with httpx.Client(base_url=emulator.url) as admin:
        fetched = admin.get("/_emulator/state").json()
        assert fetched == state
        emulator.load_state({"users": [], "products": []})
        assert emulator.state()["users"] == []
        assert admin.put("/_emulator/state", json=fetched).status_code == 200
    assert emulator.state() == state
    # Audit numbering continues after a reload.
    api.create_user("after.reload@example.com")
    last = emulator.state()["audit"][-1]["id"]
    assert int(last.removeprefix("a-")) == len(state["audit"]) + 1


def test_a_seed_spec_replaces_the_tenant(emulator: Emulator) -> None:
    with httpx.Client(base_url=emulator.url) as admin:
        reply = admin.put("/_emulator/state", json={"users": 7, "products": 2, "seed": 3})
    assert reply.json() == {"users": 7, "products": 2}
    assert emulator.state() == Emulator(users=7, products=2, seed=3).state()


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ({"users": "many"}, "state.users must be a list"),
        (
            {
                "users": [
                    {"id": "u-1", "email": "a@x.io", "firstName": "A", "lastName": "B"},
                    {"id": "u-2", "email": "A@X.IO", "firstName": "C", "lastName": "D"},
                ]
            },
            "duplicate email",
        ),
        ({"products": [{"id": "p", "name": "P"}], "provisioning": {"p": ["u-9"]}}, "unknown user"),
        ({"provisioning": {"p-none": []}}, "unknown product"),
        ({"users": [], "colour": "red"}, "colour"),
        ({"users": 5}, "state.users must be a list"),
    ],
)
def test_an_invalid_state_is_refused_and_nothing_changes(
    emulator: Emulator, state: dict[str, object], problem: str
) -> None:
    before = emulator.state()
    with httpx.Client(base_url=emulator.url) as admin:
        reply = admin.put("/_emulator/state", json=state)
    assert error_of(reply) == (400, "ValidationError")
    assert problem in reply.json()["detail"]
    assert emulator.state() == before
    with pytest.raises(EmulatorError):
        emulator.load_state(state)  # type: ignore[arg-type]


def test_the_same_seed_gives_the_same_tenant() -> None:
    one = Emulator(users=60, products=6, seed=42).state()
    two = Emulator(users=60, products=6, seed=42).state()
    other = Emulator(users=60, products=6, seed=43).state()
    assert one == two
    assert one["users"] != other["users"]


def test_generated_tenant_is_realistic() -> None:
    state = Emulator(users=400, products=8, seed=5).state()
    users = state["users"]
    assert len(users) == 400 and len(state["products"]) == 8
    assert len({u["email"].casefold() for u in users}) == 400
    assert len({u["email"].split("@")[1].lower() for u in users}) >= 3
    assert {u["role"] for u in users} == {"Administrator", "User"}
    statuses = Counter(u["status"] for u in users)
    assert set(statuses) == {"Active", "Pending", "Deactivated"}
    assert statuses["Active"] > statuses["Pending"] + statuses["Deactivated"]
    assert all(u["lastLogin"] is None for u in users if u["status"] == "Pending")
    assert {p["environment"] for p in state["products"]} == {"Production", "Sandbox"}
    assert {"AgilePlace", "Portfolios", "AdaptiveWork"} <= {p["type"] for p in state["products"]}
    per_user = Counter(uid for holders in state["provisioning"].values() for uid in holders)
    assert 1.2 <= statistics.mean(per_user.values()) <= 1.8
    assert max(per_user.values()) >= 2
    limited = [p for p in state["products"] if p["seats"] is not None]
    assert limited
    seat_holders = {u["id"] for u in users if u["status"] != "Deactivated"}
    for product in limited:
        used = len(set(state["provisioning"][product["id"]]) & seat_holders)
        assert used < product["seats"]  # headroom to provision a few more
    actions = Counter(e["action"] for e in state["audit"])
    assert {"user.created", "product.provisioned", "user.deactivated"} <= set(actions)


def test_stats_count_requests_per_path_template(emulator: Emulator) -> None:
    api = Api(emulator)
    emulator.reset_stats()
    ids = [u["id"] for u in emulator.state()["users"][:3]]
    for user_id in ids:
        api.get(f"/public/v1/user/{user_id}")
    api.get("/public/v1/user")
    with httpx.Client(base_url=emulator.url) as admin:
        stats = admin.get("/_emulator/stats").json()
    assert stats["requests"] == {"GET /public/v1/user/{id}": 3, "GET /public/v1/user": 1}
    assert stats["requests_total"] == 4
    assert stats["responses"] == {"200": 4}
    assert stats["rate_limited"] == 0
    assert stats["lowest_remaining"] is not None
    assert stats["faults"] == {"5xx": 0, "reset_before": 0, "reset_after": 0}


def test_config_route_changes_settings(emulator: Emulator) -> None:
    with httpx.Client(base_url=emulator.url) as admin:
        changed = admin.put("/_emulator/config", json={"rate_limit_points": 7}).json()
        assert changed["rate_limit_points"] == 7
        refused = admin.put("/_emulator/config", json={"latency": -1})
        assert error_of(refused) == (400, "ValidationError")
        assert admin.get("/_emulator/config").json()["latency"] == 0


def test_admin_routes_answer_loopback_peers_only() -> None:
    app = Application(EmulatorConfig(users=2))
    refused = app.handle("GET", "/_emulator/state", {}, b"", loopback=False)
    assert refused.status == 403
    assert app.handle("GET", "/_emulator/state", {}, b"", loopback=True).status == 200
    open_app = Application(EmulatorConfig(users=2, admin_from_anywhere=True))
    assert open_app.handle("GET", "/_emulator/state", {}, b"", loopback=False).status == 200


def test_config_values_that_cannot_work_are_refused() -> None:
    for bad in (
        {"rate_limit_points": -1},
        {"rate_limit_window": 0},
        {"page_max": {"everything": 5}},
        {"fault_5xx": 0.6, "fault_reset_after": 0.6},
        {"client_id": "a:b"},
    ):
        with pytest.raises(ValueError):
            EmulatorConfig(**bad)  # type: ignore[arg-type]


def test_emulators_are_independent(emulator_factory: Callable[..., Emulator]) -> None:
    one, two = emulator_factory(users=2), emulator_factory(users=2)
    assert one.url != two.url and one.client_secret != two.client_secret
    Api(one).create_user("only.here@example.com")
    assert "only.here@example.com" not in {u["email"] for u in two.state()["users"]}
