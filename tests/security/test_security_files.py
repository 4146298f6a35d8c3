"""Files that hold a tenant's user list are the owner's alone, whatever the umask;
the emulator listens on loopback unless told otherwise."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.cli import emulator_env, reconciler_command, subprocess_env
from support.scenarios import bootstrap

from reconciler.emulator import Emulator, EmulatorConfig


def run_with_umask(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A run under umask 000: any file it makes without an explicit mode is 0666."""
    return subprocess.run(
        reconciler_command(*args),
        env=subprocess_env(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0),
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def setup(emulator_factory: Any, tmp_path: Path) -> tuple[dict[str, str], Path]:
    scenario = bootstrap(3)
    emulator = emulator_factory(state=scenario.tenant)
    return emulator_env(emulator), scenario.write(tmp_path)


def test_saved_plans_are_owner_only_even_under_umask_000(
    setup: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, desired = setup
    done = run_with_umask(env, "plan", str(desired), "--out", "plan.json", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert mode(tmp_path / "plan.json") == 0o600


def test_a_saved_plan_replacing_a_world_readable_file_is_owner_only(
    setup: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, desired = setup
    old = tmp_path / "plan.json"
    old.write_text("{}")
    old.chmod(0o644)

    done = run_with_umask(env, "plan", str(desired), "--out", "plan.json", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert mode(old) == 0o600


def test_journals_and_their_default_folder_are_owner_only_even_under_umask_000(
    setup: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, desired = setup
    done = run_with_umask(env, "apply", str(desired), "--auto-approve", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    folder = tmp_path / ".reconciler"
    assert mode(folder) == 0o700
    (journal,) = folder.glob("journal-*.jsonl")
    assert mode(journal) == 0o600


def test_an_existing_world_readable_journal_is_made_owner_only(
    setup: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, desired = setup
    journal = tmp_path / "shared.jsonl"
    journal.write_text("")
    journal.chmod(0o666)

    done = run_with_umask(
        env, "apply", str(desired), "--auto-approve", "--journal", str(journal), cwd=tmp_path
    )

    assert done.returncode == 0, done.stderr
    assert mode(journal) == 0o600
    assert journal.read_text().count("\n") == 7  # 3 creates, 4 grants


def listening_addresses(port: int) -> set[str]:
    """Local addresses of sockets listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


LOOPBACK_V4 = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it


def test_the_in_process_emulator_listens_on_loopback_only() -> None:
    with Emulator(EmulatorConfig(users=1)) as emulator:
        assert emulator.url.startswith("http://127.0.0.1:")
        if Path("/proc/net/tcp").exists():
            assert listening_addresses(emulator.port) == {LOOPBACK_V4}


def test_the_emulator_admin_routes_refuse_peers_off_loopback() -> None:
    emulator = Emulator(EmulatorConfig(users=1))
    reply = emulator.app.handle("GET", "/_emulator/state", {}, b"", loopback=False)
    assert reply.status == 403
    assert emulator.app.handle("GET", "/_emulator/state", {}, b"", loopback=True).status == 200


def test_the_emulator_command_listens_on_loopback_by_default(tmp_path: Path) -> None:
    process = subprocess.Popen(
        reconciler_command("emulator", "--port", "0", "--users", "2"),
        env=subprocess_env({}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = re.search(r"listening on http://([\d.]+):(\d+)", first)
        assert found, first
        assert found[1] == "127.0.0.1"
        if Path("/proc/net/tcp").exists():
            assert listening_addresses(int(found[2])) == {LOOPBACK_V4}
    finally:
        # (its exit code is not the point: a SIGTERM this early may beat its handler)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
