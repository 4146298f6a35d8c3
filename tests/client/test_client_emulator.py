"""The client against the emulator: complete reads, paging, tokens, the rate limit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from client_emu import Recording, emails
from support.backends import backend_for

from reconciler.backends.base import NewUser
from reconciler.collect import collect_live
from reconciler.emulator import Emulator
from reconciler.errors import ApiError, PlanError, TransportError
from reconciler.model import DesiredState, ProductRef, Settings

USERS = "/public/v1/user"
Factory = Callable[..., Emulator]


def test_read_live_is_the_whole_tenant(emulator: Emulator) -> None:
    state = emulator.state()
    with backend_for(emulator) as backend:
        live = backend.read_live()
    assert sorted(live.users) == sorted(emails(state))
    assert set(live.products) == {p["id"] for p in state["products"]}
    assert live.provisioning == {pid: frozenset(ids) for pid, ids in state["provisioning"].items()}
    by_id = {u["id"]: u for u in state["users"]}
    for user in live.users.values():
        assert user.status == by_id[user.id]["status"].lower()
        assert user.role == by_id[user.id]["role"]


def test_server_capped_pages_cost_only_the_requests_the_rules_need(
    emulator_factory: Factory,
) -> None:
    emulator = emulator_factory(users=40, products=3, page_max={"users": 7, "product_users": 4})
    recording = Recording()
    # without read-ahead; tests/collect/ covers what read-ahead may spend
    with backend_for(emulator, recording, read_ahead=False) as backend:
        live = backend.read_live()
    state = emulator.state()
    assert len(live.users) == len(state["users"]) == 40
    assert recording.pages(USERS) == [1, 8, 15, 22, 29, 36]  # 40 = 5 full pages + a short one
    for pid, ids in state["provisioning"].items():
        assert live.provisioning[pid] == frozenset(ids)
        pages = recording.pages(f"/public/v1/product/{pid}/user")
        assert len(pages) == len(ids) // 4 + 1


def test_users_created_between_two_pages_are_read_once(emulator_factory: Factory) -> None:
    emulator = emulator_factory(users=20, products=1, page_max={"users": 6})
    recording = Recording()
    created: list[str] = []

    def create_after_first_page(request: Any) -> None:
        if request.url.path == USERS and not created:
            created.append("x")
            emulator.out_of_band(
                "create", email="late.comer@example.com", first_name="Late", last_name="Comer"
            )

    recording.after = create_after_first_page
    with backend_for(emulator, recording) as backend:
        live = backend.read_live()
    assert len(live.users) == 21
    assert "late.comer@example.com" in live.users


def test_a_user_deleted_between_pages_never_duplicates_another(emulator_factory: Factory) -> None:
    emulator = emulator_factory(users=20, products=1, page_max={"users": 6})
    first = emulator.state()["users"][0]
    recording = Recording()
    done: list[bool] = []

    def delete_after_first_page(request: Any) -> None:
        if request.url.path == USERS and not done:
            done.append(True)
            emulator.out_of_band("delete", user_id=first["id"])

    recording.after = delete_after_first_page
    with backend_for(emulator, recording) as backend:
        users = backend._list_users()
    ids = [u.id for u in users]
    assert len(ids) == len(set(ids))


def test_tokens_expire_mid_run_and_are_renewed(emulator_factory: Factory) -> None:
    emulator = emulator_factory(
        users=30, products=4, token_lifetime=0.25, latency=0.06, page_max={"users": 5}
    )
    with backend_for(emulator, concurrency=2) as backend:
        live = backend.read_live()
        emulator.revoke_tokens()  # a revoked token: 401, renewed once, retried
        assert backend.get_user(next(iter(live.users.values())).id) is not None
    assert len(live.users) == 30
    assert emulator.stats()["tokens_issued"] >= 3


def test_a_second_consumer_eating_points_does_not_stop_the_run(emulator_factory: Factory) -> None:
    emulator = emulator_factory(
        users=12, products=2, rate_limit_points=40, rate_limit_window=0.5, second_consumer_points=15
    )
    with backend_for(emulator, rate_reserve=5) as backend:
        ids = [u.id for u in backend.read_live().users.values()]
        with ThreadPoolExecutor(4) as pool:
            list(
                pool.map(
                    lambda i: backend.update_user(ids[i % len(ids)], {"last_name": f"L{i}"}),
                    range(90),
                )
            )
        stats = backend.stats()
    server = emulator.stats()
    assert stats.throttled == server["rate_limited"] <= 3
    assert stats.wait_seconds > 0
    assert {u["lastName"] for u in emulator.state()["users"]} >= {"L89"}


def test_a_429_storm_is_waited_out_not_hammered(emulator_factory: Factory) -> None:
    # no points at all for a while: every request is refused until the limit returns
    emulator = emulator_factory(users=3, products=2, rate_limit_points=0, rate_limit_window=0.5)
    restore = threading.Timer(1.5, lambda: emulator.configure(rate_limit_points=100))
    restore.start()
    try:
        with backend_for(emulator, max_throttled=20) as backend:
            live = backend.read_live()
            stats = backend.stats()
    finally:
        restore.cancel()
    assert len(live.users) == 3
    server = emulator.stats()
    assert stats.throttled == server["rate_limited"] >= 1
    # Retry-After is 1 s: all workers wait it out together, one request tries again
    assert server["rate_limited"] <= 3
    assert stats.wait_seconds >= 1.0


def test_a_retry_after_longer_than_max_wait_is_a_clear_error(emulator_factory: Factory) -> None:
    emulator = emulator_factory(users=3, products=1, rate_limit_points=1, rate_limit_window=120.0)
    with backend_for(emulator, rate_reserve=0, max_wait=5) as backend:
        backend.list_products()  # spends the only point
        with pytest.raises(TransportError, match=r"wait 1\d\ds .*longer than the 5s limit"):
            backend.list_products()


def test_5xx_bursts_on_reads_are_retried(emulator_factory: Factory) -> None:
    emulator = emulator_factory(
        users=40, products=4, fault_5xx=0.3, fault_seed=3, page_max={"users": 10}
    )
    with backend_for(emulator, retries=8) as backend:
        live = backend.read_live()
        stats = backend.stats()
    assert sorted(live.users) == sorted(emails(emulator.state()))
    assert stats.retries > 0 and stats.retries == emulator.stats()["faults"]["5xx"]


@pytest.mark.chaos
def test_resets_before_and_after_commit_never_create_a_user_twice(
    emulator_factory: Factory,
) -> None:
    # a quarter of all requests fail, half of those after the write was committed
    emulator = emulator_factory(
        users=5,
        products=2,
        fault_reset_before=0.1,
        fault_reset_after=0.1,
        fault_5xx=0.05,
        fault_seed=7,
    )
    product = emulator.state()["products"][0]["id"]
    wanted = [NewUser(f"new{i}@example.com", "New", str(i)) for i in range(24)]
    with backend_for(emulator, retries=8) as backend:

        def create_and_grant(user: NewUser) -> str:
            created = backend.create_user(user)
            backend.grant(product, created.id)
            return created.id

        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(create_and_grant, wanted))
    state = emulator.state()
    all_emails = emails(state)
    assert len(all_emails) == len(set(all_emails)) == 5 + 24
    assert set(ids) <= set(state["provisioning"][product])
    faults = emulator.stats()["faults"]
    assert faults["reset_before"] and faults["reset_after"]


@pytest.mark.chaos
def test_resets_on_revokes_and_deletes_still_finish(emulator_factory: Factory) -> None:
    emulator = emulator_factory(
        users=12, products=2, fault_reset_after=0.15, fault_reset_before=0.1, fault_seed=11
    )
    state = emulator.state()
    pid = next(p for p, ids in state["provisioning"].items() if ids)
    with backend_for(emulator, retries=8) as backend:
        for uid in state["provisioning"][pid]:
            backend.revoke(pid, uid)
        victims = [u["id"] for u in state["users"][:4]]
        for uid in victims:
            backend.delete_user(uid)
    after = emulator.state()
    assert after["provisioning"][pid] == []
    assert not {u["id"] for u in after["users"]} & set(victims)


def test_a_conflict_that_matches_is_success_one_that_differs_is_an_error(
    emulator: Emulator,
) -> None:
    existing = emulator.state()["users"][1]
    same = NewUser(
        existing["email"].upper(),
        existing["firstName"],
        existing["lastName"],
        existing["role"],
        existing["passwordRequired"],
    )
    with backend_for(emulator) as backend:
        assert backend.create_user(same).id == existing["id"]
        with pytest.raises(ApiError, match="409 UserExists") as caught:
            backend.create_user(NewUser(existing["email"], "Someone", "Else"))
        assert caught.value.status == 409
        with pytest.raises(ApiError) as missing:
            backend.update_user("u-does-not-exist", {"first_name": "X"})
        assert missing.value.status == 404 and missing.value.detail


def test_collect_reads_only_managed_products(emulator_factory: Factory) -> None:
    emulator = emulator_factory(users=10, products=4)
    products = emulator.state()["products"]
    desired = DesiredState(
        settings=Settings(),
        products={
            "one": ProductRef("one", name=products[0]["name"].upper()),
            "two": ProductRef("two", id=products[2]["id"]),
        },
        groups={},
        users=(),
    )
    recording = Recording()
    with backend_for(emulator, recording) as backend:
        live = collect_live(backend, desired)
    assert set(live.provisioning) == {products[0]["id"], products[2]["id"]}
    assert len(live.users) == 10
    product_reads = [r for r in recording.sent if r.url.path == "/public/v1/product"]
    assert len(product_reads) == 1


def test_collect_fails_on_an_unknown_alias_before_reading_provisioning(
    emulator: Emulator,
) -> None:
    # users and products are read at once, so the users listing may have begun
    desired = DesiredState(
        settings=Settings(), products={"x": ProductRef("x", name="Nope")}, groups={}, users=()
    )
    recording = Recording()
    with backend_for(emulator, recording) as backend, pytest.raises(PlanError, match="Nope"):
        collect_live(backend, desired)
    assert not [r for r in recording.sent if r.url.path.startswith("/public/v1/product/")]


def test_a_failed_listing_fails_the_whole_read(emulator_factory: Factory) -> None:
    emulator = emulator_factory(users=10, products=3, fault_5xx=1.0)
    with backend_for(emulator, retries=1) as backend, pytest.raises(TransportError):
        backend.read_live()
