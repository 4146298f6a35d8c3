"""Reading the tenant concurrently: same answers as reading it one page at a time,
reads at the paging minimum without read-ahead, all or nothing, and invalid files
that stop the reads started while they loaded."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support.backends import backend_for
from support.cli import run_against

from reconciler.collect import collect_live, start_collect
from reconciler.emulator import Emulator
from reconciler.errors import TransportError
from reconciler.validate import load_desired

Factory = Callable[..., Emulator]
USERS = "/public/v1/user"
PAGES = {"users": 7, "product_users": 4, "products": 2}
WRITES = ("POST", "PATCH", "DELETE", "PUT")


def desired_file(emulator: Emulator, path: Path) -> Path:
    """The tenant as exported, with changes: one name edited, one user left out,
    one user added, so the plan has something of each kind to compare."""
    assert run_against(emulator, "export", "--out", str(path)).code == 0
    document = yaml.safe_load(path.read_text())
    users = document["users"]
    users[0]["lastName"] = "Edited"
    del users[1]
    users.append(
        {"email": "new.person@example.com", "firstName": "New", "lastName": "Person",
         "products": [next(iter(document["products"]))]}
    )  # fmt: skip
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def api_reads(emulator: Emulator) -> int:
    """Listing reads: the audit reads a plan spends to name who created the unlisted
    users it removes are not pages of a listing, and are counted by their own tests."""
    stats = emulator.stats()["requests"]
    return sum(
        n for key, n in stats.items() if key.startswith("GET /public/") and "audit" not in key
    )


def writes(emulator: Emulator) -> int:
    stats = emulator.stats()["requests"]
    return sum(n for key, n in stats.items() if key.split(" ")[0] in WRITES and "/public/" in key)


def minimum_reads(emulator: Emulator, product_ids: list[str]) -> int:
    """Pages a complete read needs at these page sizes: each listing ends with the
    first page shorter than the page size (an empty one if the last page is full)."""
    state = emulator.state()
    pages = len(state["users"]) // PAGES["users"] + 1
    pages += len(state["products"]) // PAGES["products"] + 1
    pages += sum(len(state["provisioning"][p]) // PAGES["product_users"] + 1 for p in product_ids)
    return pages


def changes(plan_json: str) -> Any:
    plan = json.loads(plan_json)
    return plan["changes"], plan["counts"], plan["safety"]


def test_a_concurrent_plan_is_the_serial_plan(emulator_factory: Factory, tmp_path: Path) -> None:
    emulator = emulator_factory(users=120, products=6, seed=3, page_max=PAGES)
    desired = desired_file(emulator, tmp_path / "users.yaml")
    serial = run_against(emulator, "plan", "--format", "json", "--concurrency", "1", str(desired))
    concurrent = run_against(
        emulator, "plan", "--format", "json", "--concurrency", "6", str(desired)
    )
    assert serial.code == concurrent.code == 0, serial.stderr + concurrent.stderr
    assert changes(serial.stdout) == changes(concurrent.stdout)
    counts = json.loads(serial.stdout)["counts"]
    assert counts["create"] == 1 and counts["update"] == 1


def test_without_read_ahead_reads_are_the_paging_minimum(emulator_factory: Factory) -> None:
    emulator = emulator_factory(users=61, products=5, seed=2, page_max=PAGES)
    with backend_for(emulator, concurrency=6, read_ahead=False) as backend:
        live = backend.read_live()
        stats = backend.stats()
    assert len(live.users) == 61 and len(live.products) == 5
    assert api_reads(emulator) == minimum_reads(emulator, list(live.products))
    assert stats.wasted_reads == 0


def test_read_ahead_wastes_at_most_concurrency_minus_one_per_listing_and_says_so(
    emulator_factory: Factory,
) -> None:
    emulator = emulator_factory(users=61, products=5, seed=2, page_max=PAGES)
    with backend_for(emulator, concurrency=4) as backend:
        live = backend.read_live()
        stats = backend.stats()
    state = emulator.state()
    assert sorted(live.users) == sorted(u["email"].casefold() for u in state["users"])
    assert live.provisioning == {p: frozenset(ids) for p, ids in state["provisioning"].items()}
    minimum = minimum_reads(emulator, list(live.products))
    listings = 2 + len(live.products)
    extra = api_reads(emulator) - minimum
    assert extra == stats.wasted_reads
    assert 0 <= extra <= listings * (4 - 1)
    if extra:
        assert f"{extra} page" in stats.summary()


def managed_ids(path: Path) -> list[str]:
    document = yaml.safe_load(path.read_text())
    return [product["id"] for product in document["products"].values()]


def test_plan_with_no_read_ahead_reads_exactly_the_paging_minimum(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    emulator = emulator_factory(users=61, products=5, seed=2, page_max=PAGES)
    desired = desired_file(emulator, tmp_path / "users.yaml")
    emulator.reset_stats()
    run = run_against(
        emulator, "plan", "--format", "json", "--concurrency", "6", "--no-read-ahead",
        str(desired),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert api_reads(emulator) == minimum_reads(emulator, managed_ids(desired))
    assert "read ahead" not in run.stderr


def test_plan_reads_ahead_by_default_within_concurrency_minus_one_per_listing(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    emulator = emulator_factory(users=61, products=5, seed=2, page_max=PAGES)
    desired = desired_file(emulator, tmp_path / "users.yaml")
    minimum = minimum_reads(emulator, managed_ids(desired))
    listings = 2 + len(managed_ids(desired))
    outputs = []
    for flags in ((), ("--read-ahead",)):
        emulator.reset_stats()
        run = run_against(
            emulator, "plan", "--format", "json", "--concurrency", "6", *flags, str(desired)
        )
        assert run.code == 0, run.stderr
        extra = api_reads(emulator) - minimum
        assert 0 <= extra <= listings * (6 - 1)
        if extra:  # every page wasted is reported on the stats line
            assert f"{extra} page" in run.stderr
        outputs.append(changes(run.stdout))
    no_ahead = run_against(emulator, "plan", "--format", "json", "--no-read-ahead", str(desired))
    assert outputs[0] == outputs[1] == changes(no_ahead.stdout)


def test_collect_reads_only_managed_provisioning(emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(
        "version: 1\n"
        "products:\n  ap: {id: p-agileplace-prod}\n"
        "users:\n  - {email: a.person@example.com, firstName: A, lastName: Person,"
        " products: [ap]}\n"
    )
    desired = load_desired([path])
    recording = Recording()
    with backend_for(emulator, recording, concurrency=4) as backend:
        live = collect_live(backend, desired)
    assert set(live.provisioning) == {"p-agileplace-prod"}
    read = {r.url.path for r in recording.sent if r.url.path.startswith("/public/v1/product/")}
    assert read == {"/public/v1/product/p-agileplace-prod/user"}


class Recording(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return super().handle_request(request)


class FailOne(httpx.HTTPTransport):
    """Answers 500 for one product's provisioning listing; the rest is real."""

    def __init__(self, failing: str) -> None:
        super().__init__()
        self.failing = failing

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/public/v1/product/{self.failing}/user":
            return httpx.Response(
                500, json={"status": 500, "code": "ServerError", "detail": "broken listing"}
            )
        return super().handle_request(request)


def test_a_failed_listing_fails_the_whole_collect(emulator: Emulator) -> None:
    failing = emulator.state()["products"][2]["id"]
    with (
        backend_for(emulator, FailOne(failing), concurrency=4, retries=1) as backend,
        pytest.raises(TransportError) as caught,
    ):
        backend.read_live()
    assert failing in str(caught.value) or "500" in str(caught.value)
    assert "stopped because another read failed" not in str(caught.value)


def test_a_failed_listing_makes_plan_exit_1_with_no_plan(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    emulator = emulator_factory(users=40, products=4, seed=5, page_max=PAGES)
    desired = desired_file(emulator, tmp_path / "users.yaml")
    # the users listing needs 6 pages: it fails, the other listings stop
    run = run_against(emulator, "plan", "--format", "json", "--max-pages", "2", str(desired))
    assert run.code == 1
    assert run.stdout == ""
    assert "still full pages after 2 pages" in run.stderr


@pytest.mark.parametrize(
    "command",
    [("plan", "--format", "json"), ("apply", "--auto-approve"), ("drift", "--format", "json")],
    ids=["plan", "apply", "drift"],
)
def test_invalid_files_while_reads_are_in_flight_exit_1_with_no_writes(
    emulator_factory: Factory, tmp_path: Path, command: tuple[str, ...]
) -> None:
    emulator = emulator_factory(users=300, products=4, seed=5, page_max=PAGES, latency=0.05)
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nusers:\n  - email: not-an-email\n    firstName: 3\n")
    run = run_against(emulator, *command, str(bad))
    assert run.code == 1
    assert run.stdout == ""
    assert "bad.yaml:4" in run.stderr  # the problem, with its place
    assert "API:" not in run.stderr  # nothing of the abandoned reads is shown
    assert writes(emulator) == 0
    # the reads stopped early: far fewer than the 43 pages of users alone
    assert api_reads(emulator) < 300 // PAGES["users"]


@pytest.mark.parametrize("command", ["apply", "drift"])
def test_apply_and_drift_that_read_while_loading_see_what_plan_sees(
    emulator_factory: Factory, tmp_path: Path, command: str
) -> None:
    emulator = emulator_factory(users=120, products=6, seed=3, page_max=PAGES, latency=0.01)
    desired = desired_file(emulator, tmp_path / "users.yaml")
    emulator.reset_stats()
    if command == "apply":
        run = run_against(emulator, "apply", "--auto-approve", str(desired))
        assert run.code == 0, run.stderr
        # the edited name, the new user and the left-out one's deactivation all landed
        after = run_against(emulator, "plan", "--detailed-exitcode", str(desired))
        assert after.code == 0, after.stdout
        assert writes(emulator) >= 3
    else:
        run = run_against(emulator, "drift", "--format", "json", str(desired))
        assert run.code == 2, run.stderr
        assert writes(emulator) == 0
        report = json.loads(run.stdout)
        assert "new.person@example.com" in json.dumps(report)


def test_abandoned_reads_are_stopped_and_finish_is_not_needed(emulator_factory: Factory) -> None:
    emulator = emulator_factory(users=200, products=3, page_max=PAGES, latency=0.02)
    with backend_for(emulator, concurrency=3) as backend:
        pending = start_collect(backend)
        pending.abandon()  # returns only once nothing is under way any more
        after = api_reads(emulator)
    assert api_reads(emulator) == after
    assert writes(emulator) == 0
