"""apply when things go wrong: failed changes, faults, a killed run; then a re-run converges."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_plan_apply import (  # noqa: F401 (fast_retries is a fixture)
    DESIRED,
    FIXTURES,
    assert_converged,
    fast_retries,
    run_cli,
    tenant_state,
)

TENANT = json.loads((FIXTURES / "tenant.json").read_text())


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_failed_create_skips_its_grant_and_the_rest_proceed(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.backends.planview import PlanviewBackend

    tenant = emulator_factory(state=TENANT)
    real_create = PlanviewBackend.create_user

    def create_refused_by_the_server(self: Any, user: Any) -> Any:
        # Send the server a name it refuses (over 100 characters): a genuine 400.
        if user.email == "frank.new@example.com":
            user = replace(user, first_name="F" * 150)
        return real_create(self, user)

    monkeypatch.setattr(PlanviewBackend, "create_user", create_refused_by_the_server)

    failed = run_cli(tenant, "apply", str(DESIRED), "--auto-approve", "--journal", "j.jsonl")

    assert failed.code == 1
    assert "6 succeeded, 1 failed, 1 skipped" in failed.stdout
    assert "failed   c" in failed.stdout and "create frank.new@example.com" in failed.stdout
    assert "400 ValidationError" in failed.stdout
    assert "which failed" in failed.stdout  # the grant says why it was skipped
    state = tenant_state(tenant)
    assert "frank.new@example.com" not in state["users"]
    assert state["users"]["dan.fox@example.com"]["status"] == "Deactivated"
    assert "cat.day@example.com" in state["provisioning"]["p-ap"]

    records = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text().splitlines()]
    by_outcome = {r["outcome"]: [] for r in records}
    for record in records:
        by_outcome[record["outcome"]].append(record)
    (create,) = by_outcome["failed"]
    assert (create["kind"], create["email"], create["status"], create["code"]) == (
        "create",
        "frank.new@example.com",
        400,
        "ValidationError",
    )
    (grant,) = by_outcome["skipped"]
    assert (grant["kind"], grant["email"]) == ("grant", "frank.new@example.com")
    assert len(by_outcome["ok"]) == 6

    monkeypatch.setattr(PlanviewBackend, "create_user", real_create)
    retried = run_cli(tenant, "apply", str(DESIRED), "--auto-approve", "--journal", "j.jsonl")
    assert retried.code == 0, retried.stdout + retried.stderr
    assert "2 succeeded" in retried.stdout  # only the create and its grant were left
    assert_converged(tenant_state(tenant))
    assert len((tmp_path / "j.jsonl").read_text().splitlines()) == 10  # appended


@pytest.mark.chaos
@pytest.mark.usefixtures("fast_retries")
def test_apply_under_faults_then_rerun_converges(emulator_factory: Any, tmp_path: Path) -> None:
    # So many 5xx that the client's retries run out for some writes (which ones varies
    # with thread timing): the run must account for every change and exit 1.
    tenant = emulator_factory(state=TENANT, fault_5xx=0.7, fault_seed=5)

    first = run_cli(
        tenant, "apply", str(DESIRED), "--auto-approve", "--concurrency", "1", "--journal", "j"
    )

    assert first.code == 1
    if "Apply finished with errors" in first.stdout:  # planning got through the faults
        records = [json.loads(line) for line in (tmp_path / "j").read_text().splitlines()]
        assert len(records) == 8  # every change has its line
        failed = [r for r in records if r["outcome"] == "failed"]
        assert failed and all(r["detail"] for r in failed)
        for record in failed:
            assert f"{record['change_id']} {record['kind']} {record['email']}" in first.stdout

    tenant.configure(fault_5xx=0.0)
    second = run_cli(tenant, "apply", str(DESIRED), "--auto-approve")
    assert second.code == 0, second.stdout + second.stderr
    assert_converged(tenant_state(tenant))
    emails = [u["email"].casefold() for u in tenant.state()["users"]]
    assert emails.count("frank.new@example.com") == 1  # never created twice
    assert run_cli(tenant, "plan", str(DESIRED), "--detailed-exitcode").code == 0


@pytest.mark.chaos
@pytest.mark.usefixtures("fast_retries")
def test_apply_with_resets_after_commit_converges(emulator_factory: Any) -> None:
    # Writes that happen but whose answer is lost: a re-run must not redo them twice.
    tenant = emulator_factory(
        state=TENANT, fault_5xx=0.2, fault_reset_after=0.3, fault_reset_before=0.1, fault_seed=11
    )

    first = run_cli(tenant, "apply", str(DESIRED), "--auto-approve")
    assert first.code in (0, 1)

    tenant.configure(fault_5xx=0.0, fault_reset_after=0.0, fault_reset_before=0.0)
    second = run_cli(tenant, "apply", str(DESIRED), "--auto-approve")
    assert second.code == 0, second.stdout + second.stderr
    assert_converged(tenant_state(tenant))
    emails = [u["email"].casefold() for u in tenant.state()["users"]]
    assert emails.count("frank.new@example.com") == 1
    assert run_cli(tenant, "plan", str(DESIRED), "--detailed-exitcode").code == 0


@pytest.mark.chaos
def test_killed_apply_leaves_a_valid_journal_and_a_rerun_converges(
    emulator_factory: Any, tmp_path: Path
) -> None:
    tenant = emulator_factory(state=TENANT, latency=0.25)
    journal = tmp_path / "killed.jsonl"
    process = start_slow_apply(tenant, journal)
    try:
        wait_for_lines(process, journal, 2)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)

    lines = journal.read_text().splitlines()
    assert 2 <= len(lines) < 8
    for line in lines:
        assert json.loads(line)["outcome"] == "ok"

    tenant.configure(latency=0.0)
    rerun = run_cli(tenant, "apply", str(DESIRED), "--auto-approve")
    assert rerun.code == 0, rerun.stdout + rerun.stderr
    assert_converged(tenant_state(tenant))
    assert run_cli(tenant, "plan", str(DESIRED), "--detailed-exitcode").code == 0


def start_slow_apply(tenant: Any, journal: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PLANVIEW_ADMIN_URL": tenant.url,
        "PLANVIEW_ADMIN_CLIENT_ID": tenant.client_id,
        "PLANVIEW_ADMIN_CLIENT_SECRET": tenant.client_secret,
    }
    command = [sys.executable, "-m", "reconciler", "apply", str(DESIRED), "--auto-approve"]
    command += ["--concurrency", "1", "--journal", str(journal)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_lines(process: subprocess.Popen[bytes], journal: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)
    assert process.poll() is None, "apply finished before it could be interrupted"


@pytest.mark.chaos
def test_terminated_apply_journals_every_change_and_a_rerun_converges(
    emulator_factory: Any, tmp_path: Path
) -> None:
    tenant = emulator_factory(state=TENANT, latency=0.25)
    journal = tmp_path / "terminated.jsonl"
    process = start_slow_apply(tenant, journal)
    try:
        wait_for_lines(process, journal, 1)
        process.send_signal(signal.SIGTERM)  # what CI sends when a job is cancelled
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 1, stderr.decode()  # click reports an interrupt as aborted
    assert b"Apply interrupted" in stderr and b"Traceback" not in stderr
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert sorted(r["change_id"] for r in records) == sorted(f"c{n}" for n in range(1, 9))
    unstarted = [r for r in records if r["outcome"] == "skipped"]
    assert unstarted and all(r["detail"] == "not started: interrupted" for r in unstarted)
    assert all(r["outcome"] in ("ok", "skipped") for r in records)

    tenant.configure(latency=0.0)
    rerun = run_cli(tenant, "apply", str(DESIRED), "--auto-approve")
    assert rerun.code == 0, rerun.stdout + rerun.stderr
    assert f"{len(unstarted)} succeeded" in rerun.stdout
    assert_converged(tenant_state(tenant))


def test_grant_beyond_the_seats_fails_alone_with_the_servers_reason(
    emulator_factory: Any, tmp_path: Path
) -> None:
    # Two seats freed, two wanted; with one seat fewer, one grant cannot fit.
    state = json.loads(json.dumps(TENANT))
    state["products"][0]["seats"] = 2
    state["provisioning"]["p-ap"] = ["u-ann", "u-bob"]
    tenant = emulator_factory(state=state)

    applied = run_cli(tenant, "apply", str(DESIRED), "--auto-approve", "--journal", "j.jsonl")

    assert applied.code == 1
    assert "7 succeeded, 1 failed, 0 skipped" in applied.stdout
    assert "409 NoSeatsAvailable" in applied.stdout
    (failed,) = [
        json.loads(line)
        for line in (tmp_path / "j.jsonl").read_text().splitlines()
        if json.loads(line)["outcome"] == "failed"
    ]
    assert (failed["kind"], failed["product"], failed["code"]) == (
        "grant",
        "agileplace",
        "NoSeatsAvailable",
    )
    users = tenant_state(tenant)["users"]
    assert users["frank.new@example.com"]["status"] == "Pending"  # the create still happened
    assert users["dan.fox@example.com"]["status"] == "Deactivated"


@pytest.mark.slow
def test_apply_shares_a_small_rate_budget_without_failing(emulator_factory: Any) -> None:
    # 8 workers, 12 requests, 5 points per half second: the run must wait, not fail.
    tenant = emulator_factory(state=TENANT, rate_limit_points=5, rate_limit_window=0.5)

    applied = run_cli(
        tenant, "apply", str(DESIRED), "--auto-approve", "--concurrency", "8", "--rate-reserve", "1"
    )

    assert applied.code == 0, applied.stdout + applied.stderr
    assert "Apply complete: 8 succeeded" in applied.stdout
    assert_converged(tenant_state(tenant))
