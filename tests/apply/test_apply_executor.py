"""The executor against an in-memory backend: ordering, dependencies, failures, journal."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from apply_builders import PlanBuilder, product, user
from apply_memory_backend import MemoryBackend, transport_failure

from reconciler.apply import execute, read_journal
from reconciler.errors import ApiError
from reconciler.model import LiveUser
from reconciler.plan.model import Plan


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend(
        users=[
            user("u1", "ann.lee@example.com"),
            user("u2", "bob.ray@example.com"),
            user("u3", "cat.day@example.com", status="deactivated"),
            user("u4", "dan.fox@example.com"),
        ],
        products=[product("p-ap", seats=2), product("p-pf")],
        provisioning={"p-ap": {"u1", "u2"}, "p-pf": {"u4"}},
    )


def test_every_kind_is_applied(backend: MemoryBackend, tmp_path: Path) -> None:
    b = PlanBuilder(backend)
    create = b.create("eve.new@example.com", "Eve", "New")
    b.grant("p-pf", after=create, email="eve.new@example.com")
    b.update("u1", role="Administrator", last_name="Lee-Smith")
    b.deactivate("u2")
    b.reactivate("u3")
    b.delete("u4")
    b.revoke("p-ap", "u1")
    b.grant("p-pf", "u1")

    result = execute(b.plan(), backend, journal_path=tmp_path / "j.jsonl", concurrency=3)

    assert result.ok, [r.describe() for r in result.results]
    assert len(result.succeeded) == 8
    eve = backend.by_email("eve.new@example.com")
    assert eve is not None and eve.first_name == "Eve"
    assert backend.provisioning["p-pf"] == {eve.id, "u1"}
    assert backend.users["u1"].role == "Administrator"
    assert backend.users["u1"].last_name == "Lee-Smith"
    assert backend.users["u2"].status == "deactivated"
    assert backend.users["u3"].status == "active"
    assert "u4" not in backend.users
    assert backend.provisioning["p-ap"] == set()


def test_removals_run_before_grants_so_seats_are_freed(
    backend: MemoryBackend, tmp_path: Path
) -> None:
    # p-ap has 2 seats, both taken. The plan lists the grant first; the executor must
    # still revoke first or the grant finds no seat.
    b = PlanBuilder(backend)
    b.grant("p-ap", "u4")
    b.revoke("p-ap", "u2")

    result = execute(b.plan(), backend, concurrency=4)

    assert result.ok, [r.describe() for r in result.results]
    assert backend.provisioning["p-ap"] == {"u1", "u4"}
    kinds = [w[0] for w in backend.writes]
    assert kinds == ["revoke", "grant"]


def test_failed_create_skips_its_grants_and_others_proceed(
    backend: MemoryBackend, tmp_path: Path
) -> None:
    backend.faults[("create_user", "zed.bad@example.com")] = ApiError(
        "refused", status=400, code="ValidationError", detail="firstName is too long"
    )
    b = PlanBuilder(backend)
    bad = b.create("zed.bad@example.com")
    b.grant("p-pf", after=bad, email="zed.bad@example.com")
    b.grant("p-ap", after=bad, email="zed.bad@example.com")
    good = b.create("amy.ok@example.com")
    b.grant("p-pf", after=good, email="amy.ok@example.com")
    b.deactivate("u2")
    journal = tmp_path / "j.jsonl"

    result = execute(b.plan(), backend, journal_path=journal)

    assert not result.ok
    assert [r.change.id for r in result.failed] == ["c1"]
    assert sorted(r.change.id for r in result.skipped) == ["c2", "c3"]
    assert len(result.succeeded) == 3
    amy = backend.by_email("amy.ok@example.com")
    assert amy is not None and amy.id in backend.provisioning["p-pf"]
    assert backend.by_email("zed.bad@example.com") is None

    lines = {r["change_id"]: r for r in read_journal(journal)}
    assert lines["c1"]["outcome"] == "failed"
    assert lines["c1"]["status"] == 400
    assert lines["c1"]["code"] == "ValidationError"
    assert lines["c1"]["detail"] == "firstName is too long"
    assert lines["c2"]["outcome"] == "skipped"
    assert "depends on c1" in lines["c2"]["detail"]
    assert lines["c5"]["outcome"] == "ok" and lines["c5"]["user_id"] == amy.id
    assert "which failed" in result.skipped[0].describe()


def test_transport_failure_is_a_failed_change_not_a_crash(
    backend: MemoryBackend, tmp_path: Path
) -> None:
    backend.faults[("deactivate_user", "u2")] = transport_failure()
    b = PlanBuilder(backend)
    b.deactivate("u2")
    b.update("u1", first_name="Annie")

    result = execute(b.plan(), backend)

    assert [r.change.id for r in result.failed] == ["c1"]
    assert "connection reset" in (result.failed[0].detail or "")
    assert backend.users["u1"].first_name == "Annie"


def test_journal_is_owner_only_json_lines_with_plan_identity(
    backend: MemoryBackend, tmp_path: Path
) -> None:
    b = PlanBuilder(backend)
    b.update("u1", first_name="Annie")
    b.revoke("p-pf", "u4")
    plan = b.plan()
    journal = tmp_path / "deeper" / "dir" / "journal.jsonl"

    result = execute(plan, backend, journal_path=journal)

    assert stat.S_IMODE(os.stat(journal).st_mode) == 0o600
    raw = journal.read_text().splitlines()
    assert len(raw) == 2
    records = [json.loads(line) for line in raw]
    for record in records:
        assert record["plan_digest"] == result.plan_digest
        assert record["target"] == backend.target
        assert record["outcome"] == "ok"
        assert {"time", "change_id", "kind", "email", "product", "duration_s"} <= set(record)
    assert {r["kind"] for r in records} == {"update", "revoke"}


def test_journal_appends_and_tightens_an_existing_file(
    backend: MemoryBackend, tmp_path: Path
) -> None:
    journal = tmp_path / "j.jsonl"
    journal.write_text('{"earlier": true}\n')
    os.chmod(journal, 0o644)
    b = PlanBuilder(backend)
    b.update("u1", first_name="Annie")

    execute(b.plan(), backend, journal_path=journal)

    assert stat.S_IMODE(os.stat(journal).st_mode) == 0o600
    records = read_journal(journal)
    assert records[0] == {"earlier": True}
    assert records[1]["change_id"] == "c1"


def test_secrets_never_reach_the_journal(backend: MemoryBackend, tmp_path: Path) -> None:
    from reconciler.redact import register_secret

    secret = "s3cr3t-token-value-0123456789"
    register_secret(secret)
    backend.faults[("update_user", "u1")] = ApiError(
        "bad", status=401, code="Unauthorized", detail=f"token {secret} expired"
    )
    b = PlanBuilder(backend)
    b.update("u1", first_name="Annie")
    journal = tmp_path / "j.jsonl"

    result = execute(b.plan(), backend, journal_path=journal)

    assert secret not in journal.read_text()
    assert secret not in (result.failed[0].detail or "")


def test_interrupt_journals_unstarted_changes_and_a_rerun_converges(
    backend: MemoryBackend, tmp_path: Path
) -> None:
    b = PlanBuilder(backend)
    for n in range(6):
        b.create(f"new{n}@example.com")
    plan = b.plan()
    journal = tmp_path / "j.jsonl"
    seen: list[str] = []

    def stop_after_two(result: object) -> None:
        seen.append("x")
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(plan, backend, journal_path=journal, concurrency=1, progress=stop_after_two)

    records = read_journal(journal)
    assert len(records) == 6  # every change accounted for, every line complete
    done = [r for r in records if r["outcome"] == "ok"]
    assert 2 <= len(done) < 6
    assert all(r["detail"] == "not started: interrupted" for r in records if r["outcome"] != "ok")

    # Re-run only what is still missing (what a fresh plan would contain).
    rest = PlanBuilder(backend)
    for n in range(6):
        if backend.by_email(f"new{n}@example.com") is None:
            rest.create(f"new{n}@example.com")
    execute(rest.plan(), backend)
    assert all(backend.by_email(f"new{n}@example.com") for n in range(6))


def test_malformed_plan_is_refused_before_any_write(backend: MemoryBackend) -> None:
    from dataclasses import replace

    from reconciler.plan.model import PlanFormatError

    b = PlanBuilder(backend)
    b.deactivate("u2")
    b.grant("p-pf", after="c99", email="x@example.com")
    plan = b.plan()
    with pytest.raises(PlanFormatError, match="unknown change 'c99'"):
        execute(plan, backend)
    assert backend.writes == []

    plan = replace(plan, changes=plan.changes[:1] + plan.changes[:1])
    with pytest.raises(PlanFormatError, match="more than once"):
        execute(plan, backend)
    assert backend.writes == []


class MeetingBackend(MemoryBackend):
    """update_user waits until `parties` updates are in flight at the same time."""

    def __init__(self, parties: int, timeout: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.barrier = threading.Barrier(parties, timeout=timeout)

    def update_user(self, user_id: str, fields: Mapping[str, Any]) -> LiveUser:
        self.barrier.wait()
        return super().update_user(user_id, fields)


def renames(backend: MemoryBackend, count: int) -> Plan:
    b = PlanBuilder(backend)
    for n in range(count):
        b.update(f"u{n}", first_name=f"Renamed{n}")
    return b.plan()


def test_changes_of_a_phase_run_concurrently() -> None:
    people = [user(f"u{n}", f"user{n}@example.com") for n in range(3)]
    backend = MeetingBackend(3, timeout=30, users=people)

    result = execute(renames(backend, 3), backend, concurrency=3)

    assert result.ok  # all three met at the barrier: they were in flight together


def test_concurrency_one_runs_changes_one_at_a_time() -> None:
    people = [user(f"u{n}", f"user{n}@example.com") for n in range(2)]
    backend = MeetingBackend(2, timeout=0.5, users=people)

    result = execute(renames(backend, 2), backend, concurrency=1)

    # Never two updates in flight, so the first waits in vain and fails.
    assert "BrokenBarrierError" in (result.failed[0].detail or "")
