"""The command group's conventions: exit codes CI can rely on, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support.buggy import LEAKY_SECRET, install_buggy_command

from reconciler.cli.main import COMMANDS, main


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


# --------------------------------------------------------------------------- internal errors

@pytest.fixture
def buggy_command(monkeypatch: pytest.MonkeyPatch) -> str:
    return install_buggy_command(monkeypatch)


def run_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    code = exited.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


@pytest.mark.parametrize(
    "flags",
    [["-vv"], ["-v", "-v"], ["-vvv"], ["--verbose", "--verbose"], ["-v", "-vv"]],
    ids=" ".join,
)
def test_two_or_more_v_show_the_traceback_of_an_internal_error(
    buggy_command: str, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    code, err = run_in_process(capsys, *flags, buggy_command)
    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: a bug while holding" in err
    assert "internal error: RuntimeError" in err
    assert LEAKY_SECRET not in err  # the traceback is masked like every other line


@pytest.mark.parametrize("flags", [[], ["-v"]], ids=lambda f: " ".join(f) or "none")
def test_without_vv_an_internal_error_is_one_line_that_points_to_vv(
    buggy_command: str, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    code, err = run_in_process(capsys, *flags, buggy_command)
    assert code == 1
    assert "Traceback" not in err
    assert "internal error: RuntimeError: a bug while holding" in err
    assert "Run again with -vv for details." in err
    assert LEAKY_SECRET not in err
