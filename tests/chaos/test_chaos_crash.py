"""A killed apply and two applies at once: the journal stays readable, the next run
converges, and no user is ever created twice.

`reconciler apply` runs as a real subprocess against the emulator in this process and
is killed with SIGKILL at a seeded random moment: while it starts, reads, or writes.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.audit import check_audit
from support.cli import (
    emulator_env,
    reconciler_command,
    run_inprocess,
    sigint_as_usual,
    subprocess_env,
)
from support.scenarios import bootstrap

pytestmark = pytest.mark.chaos

USERS = 40
KILL_SEEDS = [1, 2, 3, 4, 5, 6]


def kill_point(seed: int, changes: int) -> tuple[str, float]:
    """Where seed `seed` kills the run: odd seeds after a random time (start-up, the
    reads, or early writes), even seeds once the journal has a random number of lines
    (certainly mid-writes)."""
    rng = random.Random(seed)
    if seed % 2:
        return "seconds", rng.uniform(0.3, 1.5)
    return "lines", float(rng.randrange(1, changes - 10))


def kill_at(
    process: subprocess.Popen[str],
    journal: Path,
    point: tuple[str, float],
    sig: signal.Signals = signal.SIGKILL,
) -> int:
    """Send `sig` to `process` at `point`; the number of journal lines written by then."""
    what, value = point
    deadline = time.monotonic() + (value if what == "seconds" else 60.0)
    while process.poll() is None and time.monotonic() < deadline:
        if what == "lines" and journal.exists() and journal.read_bytes().count(b"\n") >= value:
            break
        time.sleep(0.005)
    if process.poll() is None:
        process.send_signal(sig)
    process.wait(timeout=30)
    return journal.read_bytes().count(b"\n") if journal.exists() else 0


def report(figures: dict[str, Any]) -> None:
    target = os.environ.get("CHAOS_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(figures) + "\n")


def plan_json(env: dict[str, str], desired: Path) -> dict[str, Any]:
    run = run_inprocess(env, "plan", str(desired), "--format", "json")
    assert run.code == 0, run.output
    return json.loads(run.stdout)


def start_apply(env: dict[str, str], desired: Path, journal: Path) -> subprocess.Popen[str]:
    command = reconciler_command("apply", str(desired), "--auto-approve", "--journal", str(journal))
    return subprocess.Popen(
        command,
        env=subprocess_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_as_usual,  # the test interrupts it with SIGINT
    )


def journal_records(journal: Path) -> list[dict[str, Any]]:
    """Every line of a journal, which must be whole JSON lines (no torn last line)."""
    if not journal.exists():
        return []
    text = journal.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), f"torn last line: {text[-200:]!r}"
    return [json.loads(line) for line in text.splitlines()]


def assert_converges(
    emulator: Any, desired: Path, first_plan: dict[str, Any], audit_before: int
) -> None:
    env = emulator_env(emulator)
    rerun = run_inprocess(env, "apply", str(desired), "--auto-approve", "--journal", "re.jsonl")
    assert rerun.code == 0, rerun.output
    assert run_inprocess(env, "plan", str(desired), "--detailed-exitcode").code == 0
    state = emulator.state()
    problems = check_audit(
        [first_plan], state["audit"], after=audit_before, final_users=state["users"]
    )
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_sigkill_at_a_random_point_leaves_whole_journal_lines_and_a_rerun_converges(
    seed: int, emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    scenario = bootstrap(USERS)
    # Latency stretches the run (over a second of writes) so the kill lands anywhere in it.
    emulator = emulator_factory(state=scenario.tenant, latency=0.04, jitter=0.01)
    desired = scenario.write(tmp_path)
    env = emulator_env(emulator)
    first_plan = plan_json(env, desired)
    audit_before = len(emulator.state()["audit"])
    journal = tmp_path / "killed.jsonl"

    point = kill_point(seed, len(first_plan["changes"]))
    process = start_apply(env, desired, journal)
    try:
        lines_at_kill = kill_at(process, journal, point)
    finally:
        if process.poll() is None:
            process.kill()
        _, stderr = process.communicate(timeout=30)
    assert "Traceback" not in stderr, stderr
    report(
        {"kill_seed": seed, "point": point, "journal_lines": lines_at_kill,
         "killed": process.returncode == -signal.SIGKILL}
    )  # fmt: skip
    if point[0] == "lines":
        assert process.returncode == -signal.SIGKILL  # it was killed mid-writes
        assert lines_at_kill >= point[1]

    records = journal_records(journal)
    planned = {c["id"]: c for c in first_plan["changes"]}
    for record in records:
        # each line describes a change of the plan, with an outcome
        assert record["change_id"] in planned
        assert record["kind"] == planned[record["change_id"]]["kind"]
        assert record["outcome"] in ("ok", "failed", "skipped")

    assert_converges(emulator, desired, first_plan, audit_before)


def test_two_applies_of_the_same_state_at_once_both_end_and_create_no_one_twice(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    scenario = bootstrap(100)
    emulator = emulator_factory(state=scenario.tenant, latency=0.002, jitter=0.002)
    desired = scenario.write(tmp_path)
    env = emulator_env(emulator)
    audit_before = len(emulator.state()["audit"])

    # Both append to one journal, as two CI jobs in one workspace would.
    shared = tmp_path / "shared.jsonl"
    processes = [start_apply(env, desired, shared) for _ in (1, 2)]
    outcomes = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        outcomes.append((process.returncode, stdout, stderr))

    for code, stdout, stderr in outcomes:
        assert "Traceback" not in stderr and "internal error" not in stderr, stderr
        # Each saw the other's creates and grants as conflicts that match: success.
        assert code == 0, stdout + stderr
    assert run_inprocess(env, "plan", str(desired), "--detailed-exitcode").code == 0
    # one shared journal, two writers: still whole lines, every change of both runs
    applied = [re.search(r"Apply complete: (\d+) succeeded", out) for _, out, _ in outcomes]
    assert all(applied), outcomes
    records = journal_records(shared)
    assert len(records) == sum(int(found[1]) for found in applied if found)
    assert Counter(r["outcome"] for r in records) == {"ok": len(records)}

    state = emulator.state()
    emails = [u["email"].casefold() for u in state["users"]]
    assert len(emails) == len(set(emails)) == 100
    created = [
        e["userEmail"].casefold()
        for e in state["audit"][audit_before:]
        if e["action"] == "user.created"
    ]
    assert sorted(created) == sorted(set(created)) and len(created) == 100
    granted = [
        (e["userEmail"].casefold(), e["productId"])
        for e in state["audit"][audit_before:]
        if e["action"] == "product.provisioned"
    ]
    assert len(granted) == len(set(granted)) == scenario.expected_counts["grant"]
    assert all(e["action"] in ("user.created", "product.provisioned")
               for e in state["audit"][audit_before:])  # fmt: skip


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_cancelled_apply_accounts_for_every_change_and_a_rerun_converges(
    sig: signal.Signals, emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a CI job's cancel button sends: the run stops politely, mid-writes.
    monkeypatch.chdir(tmp_path)
    scenario = bootstrap(USERS)
    emulator = emulator_factory(state=scenario.tenant, latency=0.04)
    desired = scenario.write(tmp_path)
    env = emulator_env(emulator)
    first_plan = plan_json(env, desired)
    audit_before = len(emulator.state()["audit"])
    journal = tmp_path / "cancelled.jsonl"

    process = start_apply(env, desired, journal)
    try:
        lines_at_signal = kill_at(process, journal, ("lines", 10.0), sig)
    finally:
        if process.poll() is None:
            process.kill()
        stdout, stderr = process.communicate(timeout=30)

    assert process.returncode == 1, stdout + stderr
    assert "Traceback" not in stderr
    assert "Apply interrupted" in stderr and "Run apply again" in stderr
    records = journal_records(journal)
    # every change of the plan has its line: done, or skipped as not started
    assert sorted(r["change_id"] for r in records) == sorted(c["id"] for c in first_plan["changes"])
    skipped = [r for r in records if r["outcome"] == "skipped"]
    assert skipped and lines_at_signal >= 10
    assert all(r["outcome"] in ("ok", "skipped") for r in records)

    assert_converges(emulator, desired, first_plan, audit_before)
