"""Who created the unlisted users a plan removes: their histories are read at once,
within --concurrency (the server sees them overlap, never more than that at a time),
one request each as before, naming the same creators as reading them one by one; a
failed read fails as reading that history alone fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from support.backends import backend_for
from support.cli import run_against

from reconciler.drift.audit import read_creators
from reconciler.emulator import Emulator
from reconciler.errors import ReconcilerError

SYNC = {"kind": "system", "name": "Product sync"}
# far more live users than removals: the per-user histories are the cheaper way
MANY_LIVE = 100_000


def history_reads(emulator: Emulator) -> int:
    counts = emulator.stats()["requests"]
    return sum(n for key, n in counts.items() if key.endswith("/audit") and "/user/" in key)


def log_reads(emulator: Emulator) -> int:
    return int(emulator.stats()["requests"].get("GET /public/v1/audit", 0))


def created_out_of_band(emulator: Emulator, count: int) -> tuple[list[tuple[str, str]], str]:
    """`count` users, every third created by the product sync, the rest by an admin;
    returns their (id, email) pairs and the admin's email."""
    admin = next(
        u["email"]
        for u in emulator.state()["users"]
        if u["status"] == "Active" and u["role"] == "Administrator"
    )
    for n in range(count):
        actor: dict[str, Any] | str = SYNC if n % 3 == 0 else {"kind": "person", "email": admin}
        emulator.out_of_band(
            "create", email=f"unlisted{n}@example.com", firstName="Un", lastName="Listed",
            status="Active", actor=actor,
        )  # fmt: skip
    by_email = {u["email"]: u["id"] for u in emulator.state()["users"]}
    emails = [f"unlisted{n}@example.com" for n in range(count)]
    users = [(by_email[email], email) for email in emails]
    return users, admin


def test_histories_overlap_within_concurrency_and_name_the_same_creators(
    emulator_factory: Any,
) -> None:
    emulator = emulator_factory(users=25, products=3, seed=4, latency=0.1)
    users, admin = created_out_of_band(emulator, 9)
    expected = {
        email: ("system", "Product sync") if n % 3 == 0 else ("person", admin)
        for n, (_, email) in enumerate(users)
    }
    found = {}
    for concurrency in (1, 3):
        with backend_for(emulator, concurrency=concurrency) as backend:
            backend.stats()  # the token is fetched before the counters are reset
            emulator.reset_stats()
            found[concurrency] = read_creators(backend, users, MANY_LIVE)
        stats = emulator.stats()
        # one request per history, as reading them one by one costs; no customer log
        assert history_reads(emulator) == len(users), stats["requests"]
        assert log_reads(emulator) == 0
        in_flight = stats["max_in_flight"]
        if concurrency == 1:
            assert in_flight == 1
        else:
            # the server held several at once, never more than --concurrency
            assert 2 <= in_flight <= concurrency, in_flight
    assert found[1] == found[3] == expected


class FailHistory(httpx.HTTPTransport):
    """Answers 500 to one user's audit history; everything else is the emulator's."""

    def __init__(self, user_id: str) -> None:
        super().__init__()
        self.path = f"/public/v1/user/{user_id}/audit"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self.path:
            return httpx.Response(
                500, json={"status": 500, "code": "ServerError", "detail": "broken history"}
            )
        return super().handle_request(request)


def test_a_failed_history_fails_as_reading_it_alone_does(emulator_factory: Any) -> None:
    emulator = emulator_factory(users=25, products=3, seed=4, latency=0.02)
    users, _ = created_out_of_band(emulator, 6)
    failing = users[4][0]
    with backend_for(emulator, FailHistory(failing), concurrency=3, retries=1) as backend:
        with pytest.raises(ReconcilerError) as alone:
            list(backend.user_audit(failing))
        with pytest.raises(ReconcilerError) as together:
            read_creators(backend, users, MANY_LIVE)
    assert type(together.value) is type(alone.value)
    assert str(together.value) == str(alone.value)
    assert "broken history" in str(together.value) or "500" in str(together.value)


def test_plan_names_every_creator_with_one_history_read_each(
    emulator_factory: Any, tmp_path: Path
) -> None:
    # 400 live users: the customer log would take 3 pages, so 3 removals read their
    # own histories; the plan is the same at any concurrency.
    emulator = emulator_factory(users=400, products=3, seed=4, latency=0.01)
    desired = tmp_path / "tenant.yaml"
    assert run_against(emulator, "export", "--out", str(desired)).code == 0
    users, admin = created_out_of_band(emulator, 3)
    outputs = []
    for concurrency in ("1", "4"):
        emulator.reset_stats()
        run = run_against(emulator, "plan", "--concurrency", concurrency, str(desired))
        assert run.code == 0, run.stderr
        assert history_reads(emulator) == 3
        assert log_reads(emulator) == 0
        outputs.append(run.stdout)
    lines = outputs[1].splitlines()
    for n, (_, email) in enumerate(users):
        line = next(line for line in lines if email in line)
        creator = "Product sync, system" if n % 3 == 0 else f"{admin}, person"
        assert f"(created by {creator})" in line
    # the plan text differs only in when it was made
    strip = [[line for line in out.splitlines() if "made" not in line] for out in outputs]
    assert strip[0] == strip[1]
