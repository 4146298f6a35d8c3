"""Running `reconciler` as a user or CI would: in this process, or as a real subprocess.

In-process runs are fast (no interpreter start) and fine when only the outcome matters.
Subprocess runs are what secret scans, crash tests and hang guards need: a fresh
process has no secret registered by an earlier test, can be killed, and a timeout
bounds it from the outside.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from reconciler.cli.main import main

STATS_LINE = re.compile(
    r"API: (?P<requests>\d+) requests?, (?P<throttled>\d+) rate-limited \(429\), "
    r"(?P<retries>\d+) retried, (?P<wait>[\d.]+)s waiting"
)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def client_stats(self) -> dict[str, float]:
        """The closing "API: ..." line of a command that used the API (zeros if none)."""
        found = STATS_LINE.search(self.stderr)
        if found is None:
            return {"requests": 0, "throttled": 0, "retries": 0, "wait": 0.0}
        return {
            "requests": int(found["requests"]),
            "throttled": int(found["throttled"]),
            "retries": int(found["retries"]),
            "wait": float(found["wait"]),
        }


def emulator_env(emulator: Any) -> dict[str, str]:
    return {
        "PLANVIEW_ADMIN_URL": emulator.url,
        "PLANVIEW_ADMIN_CLIENT_ID": emulator.client_id,
        "PLANVIEW_ADMIN_CLIENT_SECRET": emulator.client_secret,
        "NO_COLOR": "1",
    }


def run_inprocess(env: Mapping[str, str], *args: str, input: str | None = None) -> Run:
    """`reconciler ARGS` in this process, no TTY, with `env` added to the environment."""
    runner = CliRunner()
    with runner.isolation(input=input, env=dict(env)) as streams:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        stdout, stderr = streams[0].getvalue().decode(), streams[1].getvalue().decode()
    return Run(code, stdout, stderr)


def run_against(emulator: Any, *args: str, input: str | None = None) -> Run:
    """`reconciler ARGS` as CI runs it against `emulator`: credentials in the environment,
    no TTY. Any traceback or the client secret in the output fails the test."""
    run = run_inprocess(emulator_env(emulator), *args, input=input)
    assert "Traceback" not in run.output, run.stderr
    assert emulator.client_secret not in run.output
    return run


def subprocess_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The test's environment without any PLANVIEW_ADMIN_* setting of its own, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANVIEW_ADMIN_")}
    env.update(extra)
    env.setdefault("NO_COLOR", "1")
    return env


def sigint_as_usual() -> None:
    """For `preexec_fn` of a child a test interrupts with SIGINT: a job started in the
    background by a shell without job control (`.ci/run &`) ignores SIGINT, and the
    child would inherit that and never see the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def reconciler_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", *args]


def run_subprocess(
    env: Mapping[str, str], *args: str, timeout: float = 60.0, cwd: Path | None = None
) -> Run:
    """`reconciler ARGS` in a fresh interpreter. A run that outlives `timeout` is killed
    and fails the test: that is the guard against hangs and endless loops."""
    try:
        done = subprocess.run(
            reconciler_command(*args),
            env=subprocess_env(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"reconciler {' '.join(args)} did not finish within {timeout}s "
            f"(stderr so far: {exc.stderr!r})"
        ) from None
    return Run(done.returncode, done.stdout, done.stderr)


def assert_clean_failure(run: Run, *expected: str) -> None:
    """Exit 1 with a one-paragraph error a user can act on: no traceback, no internal error."""
    assert run.code == 1, f"exit {run.code}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    assert "Traceback" not in run.output, run.output
    assert "internal error" not in run.output, run.output
    assert "error" in run.stderr.lower(), run.stderr
    for text in expected:
        assert text in run.stderr, f"{text!r} not in stderr:\n{run.stderr}"
