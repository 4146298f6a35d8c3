"""The command group's conventions: exit codes CI can rely on, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reconciler.cli.main import COMMANDS


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "--format", "yaml", "x.yaml"],
        ["drift", "--no-such-option"],
        ["no-such-command"],
        ["validate"],  # PATH is required
    ],
)
def test_usage_errors_exit_1_not_2(args: list[str]) -> None:
    # 2 means "changes" (plan --detailed-exitcode) or "drift": a typo must not look like it.
    result = run(*args)
    assert result.returncode == 1, result.stderr
    assert "Error" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_in_the_table_loads_and_has_help() -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    for name in COMMANDS:
        assert name in result.stdout
        sub = run(name, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "Usage: reconciler " + name in sub.stdout
