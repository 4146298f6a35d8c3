"""Measuring whole processes, as a user would run them.

Every figure the harness reports comes from a child process: its wall time from
spawn to exit, and its peak resident set size from the kernel's own accounting
(`wait4`'s `ru_maxrss`), so interpreter start-up, imports and the garbage the run
leaves behind all count, exactly as they do in a CI job.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any


@dataclass(frozen=True, slots=True)
class ProcessRun:
    argv: tuple[str, ...]
    exit_code: int | None  # None when it was stopped at the timeout
    wall_seconds: float
    peak_rss_mb: float
    cpu_seconds: float  # user + system of the child
    stdout: str
    stderr: str
    timed_out: bool = False

    def tail(self, lines: int = 8) -> str:
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return "\n".join(text[-lines:])


def reconciler_argv() -> list[str]:
    """The `reconciler` console script a user runs, or the module form as a fallback."""
    script = shutil.which("reconciler")
    # The script found on PATH must belong to this interpreter's installation, or we
    # would measure some other copy of the tool.
    if script and Path(script).parent == Path(sys.executable).parent:
        return [script]
    return [sys.executable, "-m", "reconciler"]


def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    cwd: str | Path | None = None,
) -> ProcessRun:
    """Run `argv` to completion (or `timeout`), returning its wall time and peak RSS."""
    # Output goes to files, not pipes: a chatty child must never block on a full pipe
    # while we sit in wait4().
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        request = {
            "argv": list(argv),
            "env": dict(env) if env is not None else dict(os.environ),
            "cwd": str(cwd) if cwd is not None else None,
            "timeout": timeout,
            "stdout": str(out),
            "stderr": str(err),
        }
        if _launcher is not None:
            reply = _launcher.run(request)
        else:
            with out.open("wb") as out_file, err.open("wb") as err_file:
                reply = spawn_and_wait(
                    request["argv"], request["env"], request["cwd"], timeout, out_file, err_file
                )
        exit_code = os.waitstatus_to_exitcode(reply["status"])
        return ProcessRun(
            argv=tuple(argv),
            exit_code=None if reply["timed_out"] else exit_code,
            wall_seconds=reply["wall"],
            peak_rss_mb=reply["maxrss_kb"] / 1024,  # Linux reports kilobytes
            cpu_seconds=reply["cpu"],
            stdout=out.read_bytes().decode(errors="replace"),
            stderr=err.read_bytes().decode(errors="replace"),
            timed_out=reply["timed_out"],
        )


def spawn_and_wait(
    argv: list[str],
    env: dict[str, str],
    cwd: str | None,
    timeout: float | None,
    out: IO[bytes],
    err: IO[bytes],
) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        env=env,
        cwd=cwd,
        start_new_session=True,  # so a timeout can stop the whole process group
    )
    status, usage, timed_out = _wait_with_timeout(proc.pid, timeout)
    wall = time.perf_counter() - started
    # We reaped the child ourselves; tell Popen so it never waits on a stale pid.
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "status": status,
        "maxrss_kb": usage.ru_maxrss,
        "cpu": usage.ru_utime + usage.ru_stime,
        "wall": wall,
        "timed_out": timed_out,
    }


class Launcher:
    """A small process that spawns the measured children (see bench/launcher.py)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.launcher"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the launcher process exited ({self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


_launcher: Launcher | None = None


def start_launcher() -> None:
    """Spawn measured processes from a small helper from now on. Call it before the
    harness grows: a child's peak RSS starts at its spawner's high-water mark."""
    global _launcher
    if _launcher is None:
        _launcher = Launcher()


def stop_launcher() -> None:
    global _launcher
    if _launcher is not None:
        _launcher.close()
        _launcher = None


def _wait_with_timeout(pid: int, timeout: float | None) -> tuple[int, os.struct_rusage, bool]:
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.002
    while True:
        waited, status, usage = os.wait4(pid, os.WNOHANG)
        if waited == pid:
            return status, usage, False
        if deadline is not None and time.monotonic() >= deadline:
            os.killpg(pid, signal.SIGTERM)
            try:
                _, status, usage = _wait_blocking(pid, 5.0)
            except TimeoutError:
                os.killpg(pid, signal.SIGKILL)
                _, status, usage = os.wait4(pid, 0)
            return status, usage, True
        # Short polls first so sub-second commands are timed to the millisecond.
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _wait_blocking(pid: int, seconds: float) -> tuple[int, int, os.struct_rusage]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        waited, status, usage = os.wait4(pid, os.WNOHANG)
        if waited == pid:
            return waited, status, usage
        time.sleep(0.05)
    raise TimeoutError


# --------------------------------------------------------------------------- machine


@dataclass(frozen=True, slots=True)
class Machine:
    cpu_model: str
    cores: int
    ram_gb: float
    python: str
    os: str
    date: str
    commit: str

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("CPU", self.cpu_model),
            ("Cores", str(self.cores)),
            ("RAM", f"{self.ram_gb:.1f} GB"),
            ("Python", self.python),
            ("OS", self.os),
            ("Date (UTC)", self.date),
            ("Commit", self.commit),
        ]


def describe_machine(repo: Path) -> Machine:
    return Machine(
        cpu_model=_cpu_model(),
        cores=os.cpu_count() or 0,
        ram_gb=_ram_bytes() / 1024**3,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        os=f"{platform.system()} {platform.release()}",
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        commit=_git_commit(repo),
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _git_commit(repo: Path) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"
