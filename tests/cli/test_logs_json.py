"""--log-format json: every stderr line is one JSON event a log pipeline can rely on,
stdout is what text mode prints, and secrets stay masked."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from support.buggy import LEAKY_SECRET, install_buggy_command
from support.cli import Run, emulator_env, run_against, run_inprocess

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DESIRED = FIXTURES / "e2e" / "desired.yaml"
TENANT = json.loads((FIXTURES / "e2e" / "tenant.json").read_text())
BAD = FIXTURES / "desired" / "bad" / "user-bad-email.yaml"
# Plan headers and drift reports say when they were made: the only bytes that may differ.
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
# Two emulators (apply needs a fresh tenant per run) listen on different ports.
LOCAL_URL = re.compile(r"http://127\.0\.0\.1:\d+")


def events(run: Run) -> list[dict[str, Any]]:
    """Every stderr line as its JSON object; a line that is not one fails the test."""
    parsed = []
    for line in run.stderr.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line on stderr: {line!r}\n{run.stderr}") from None
        assert isinstance(record, dict), line
        assert {"ts", "level", "event", "message"} <= record.keys(), line
        assert record["level"] in ("debug", "info", "warning", "error"), line
        moment = datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))
        assert moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0
        parsed.append(record)
    return parsed


def named(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == event]


def json_run(emulator: Any, *args: str) -> tuple[Run, list[dict[str, Any]]]:
    run = run_against(emulator, "--log-format", "json", *args)
    return run, events(run)


def masked(text: str) -> str:
    return LOCAL_URL.sub("<url>", TIMESTAMP.sub("<time>", text))


@pytest.fixture
def tenant(emulator_factory: Any) -> Any:
    return emulator_factory(state=TENANT)


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_validate_problems_are_events_with_their_place() -> None:
    run = run_inprocess({"NO_COLOR": "1"}, "--log-format", "json", "validate", str(BAD))
    records = events(run)
    assert run.code == 1
    (problem,) = named(records, "validate.problem")
    assert problem["level"] == "error"
    assert problem["file"].endswith("user-bad-email.yaml")
    assert isinstance(problem["line"], int) and isinstance(problem["column"], int)
    (failed,) = named(records, "validate.failed")
    assert failed["errors"] == 1
    assert run.stdout == ""


def test_validate_json_format_still_gives_json_lines_only() -> None:
    # --format json used to print an indented document on stderr: with JSON logs the
    # problems are events like every other line.
    run = run_inprocess(
        {"NO_COLOR": "1"}, "--log-format", "json", "validate", "--format", "json", str(BAD)
    )
    assert run.code == 1
    assert named(events(run), "validate.problem")


def test_environment_variable_chooses_json() -> None:
    run = run_inprocess(
        {"NO_COLOR": "1", "RECONCILER_LOG_FORMAT": "json"}, "validate", str(BAD)
    )
    assert run.code == 1
    assert named(events(run), "validate.failed")


def test_plan_stdout_is_the_same_and_the_summary_is_an_event(tenant: Any) -> None:
    text = run_against(tenant, "plan", str(DESIRED))
    run, records = json_run(tenant, "plan", str(DESIRED))

    assert run.code == text.code == 0
    assert masked(run.stdout) == masked(text.stdout)
    assert "frank.new@example.com" in run.stdout
    (summary,) = named(records, "api.summary")
    stats = text.client_stats()
    assert summary["requests"] == stats["requests"] > 0
    assert (summary["throttled"], summary["retries"]) == (0, 0)
    assert isinstance(summary["wait_seconds"], (int, float))
    assert summary["message"].startswith("API: ")


def test_plan_out_emits_plan_saved_with_the_apply_command(tenant: Any, tmp_path: Path) -> None:
    run, records = json_run(tenant, "plan", str(DESIRED), "--out", "plan.json")
    assert run.code == 0
    (saved,) = named(records, "plan.saved")
    digest = json.loads((tmp_path / "plan.json").read_text())["digest"]
    assert saved["path"] == "plan.json"
    assert saved["digest"] == digest
    assert saved["apply_command"].startswith("reconciler apply --plan plan.json ")
    assert f"--expect-digest {digest}" in saved["apply_command"]
    assert saved["level"] == "info"


def test_plan_warnings_and_blocked_plan_are_events(tenant: Any, tmp_path: Path) -> None:
    guarded = tmp_path / "guarded.yaml"
    guarded.write_text(
        DESIRED.read_text().replace(
            "  unmanagedUsers: deactivate\n",
            "  unmanagedUsers: delete\n  safety:\n    maxRemovals: 1\n",
        )
    )
    run, records = json_run(tenant, "plan", str(guarded))
    assert run.code == 3
    (warning,) = named(records, "plan.warning")
    assert "needs --allow-delete" in warning["message"]
    assert warning["level"] == "warning"
    (blocked,) = named(records, "plan.blocked")
    assert (blocked["removals"], blocked["limit"]) == (2, 1)
    assert "BLOCKED" in run.stdout  # the plan itself stays on stdout


def test_apply_reports_progress_and_keeps_stdout(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("apply", str(DESIRED), "--auto-approve", "--journal", "j.jsonl")
    (tmp_path / "text").mkdir()
    (tmp_path / "json").mkdir()
    monkeypatch.chdir(tmp_path / "text")
    text = run_against(emulator_factory(state=TENANT), *args)
    monkeypatch.chdir(tmp_path / "json")
    run, records = json_run(emulator_factory(state=TENANT), *args)

    assert run.code == text.code == 0
    assert masked(run.stdout) == masked(text.stdout)
    progress = named(records, "apply.progress")
    assert progress, run.stderr
    assert progress[-1]["done"] == progress[-1]["total"] == 8
    assert progress[-1]["failed"] == 0
    assert len(progress) <= 11
    assert named(records, "api.summary")


def test_drift_stdout_is_the_same(tenant: Any) -> None:
    text = run_against(tenant, "drift", str(DESIRED))
    run, records = json_run(tenant, "drift", str(DESIRED))
    assert run.code == text.code == 2
    assert masked(run.stdout) == masked(text.stdout)
    assert named(records, "api.summary")


def test_export_warnings_and_result_are_events(tenant: Any) -> None:
    run, records = json_run(tenant, "export", "--domain", "example.com")
    assert run.code == 0, run.stderr
    (done,) = named(records, "export.done")
    assert (done["users"], done["products"]) == (5, 3)
    assert done["path"] is None
    assert "ann.lee@example.com" in run.stdout.casefold()


def test_a_usage_error_is_a_json_line() -> None:
    run = run_inprocess({"NO_COLOR": "1"}, "--log-format", "json", "plan", "--no-such-option")
    assert run.code == 1
    (error,) = events(run)
    assert error["event"] == "error"
    assert error["exit_code"] == 1
    assert error["error_type"] == "NoSuchOption"
    assert "--no-such-option" in error["message"]


def test_a_bad_global_option_is_a_json_line_too() -> None:
    run = run_inprocess({"NO_COLOR": "1"}, "--log-format", "json", "--no-such-option", "plan")
    assert run.code == 1
    (error,) = events(run)
    assert error["event"] == "error"


def test_an_invalid_file_in_plan_lists_the_problems(tenant: Any) -> None:
    run, records = json_run(tenant, "plan", str(BAD))
    assert run.code == 1
    (error,) = named(records, "error")
    assert error["error_type"] == "InputError"
    (problem,) = error["problems"]
    assert problem["file"].endswith("user-bad-email.yaml") and problem["line"]


def test_a_connection_failure_is_an_error_event(emulator_factory: Any) -> None:
    tenant = emulator_factory(state=TENANT)
    env = emulator_env(tenant)
    tenant.stop()  # nothing listens there any more
    run = run_inprocess(env, "--log-format", "json", "plan", str(DESIRED), "--max-wait", "1")
    records = events(run)
    assert tenant.client_secret not in run.output
    assert run.code == 1
    (error,) = named(records, "error")
    assert error["exit_code"] == 1
    assert error["error_type"] in ("TransportError", "ApiError", "ConfigError")
    assert named(records, "api.summary")


def test_logging_records_are_log_events(tenant: Any) -> None:
    run, records = json_run(tenant, "-v", "drift", str(DESIRED))
    logs = named(records, "log")
    assert logs, run.stderr
    assert all(r["logger"].startswith("reconciler") for r in logs)
    assert {r["level"] for r in logs} <= {"debug", "info", "warning", "error"}


# --------------------------------------------------------------------------- internal errors

@pytest.fixture
def buggy_command(monkeypatch: pytest.MonkeyPatch) -> str:
    return install_buggy_command(monkeypatch)


def test_internal_error_at_vv_carries_the_masked_traceback(buggy_command: str) -> None:
    run = run_inprocess({"NO_COLOR": "1"}, "--log-format", "json", "-vv", buggy_command)
    assert run.code == 1
    (error,) = named(events(run), "error")
    assert error["error_type"] == "internal"
    assert "internal error: RuntimeError: a bug while holding ***" in error["message"]
    assert "Traceback (most recent call last)" in error["traceback"]
    assert LEAKY_SECRET not in run.stderr


def test_text_mode_is_unchanged(tenant: Any) -> None:
    run = run_against(tenant, "plan", str(DESIRED), "--out", "plan.json")
    assert run.code == 0
    assert run.stderr.startswith("Saved the plan to plan.json (digest sha256:")
    assert "{" not in run.stderr
    assert run.stderr.rstrip().splitlines()[-1].startswith("API: ")


def test_every_event_the_code_emits_is_in_the_documented_table() -> None:
    # Log pipelines rely on the table in docs/cli.md: it must name exactly the events.
    root = Path(__file__).resolve().parents[2]
    code = "\n".join(p.read_text() for p in (root / "reconciler" / "cli").glob("*.py"))
    emitted = set(re.findall(r'emit(?:_json_only)?\(\s*"([a-z_.]+)"', code))
    emitted |= {"error", "log"}  # output.error() and the logging formatter
    doc = (root / "docs" / "cli.md").read_text()
    section = doc.split("## Structured logs", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `\"([a-z_.]+)\"` \|", section, re.M))
    assert emitted == documented


def test_a_blocked_apply_is_an_error_event_with_exit_3(tenant: Any, tmp_path: Path) -> None:
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        DESIRED.read_text().replace(
            "  unmanagedUsers: deactivate\n",
            "  unmanagedUsers: deactivate\n  safety:\n    maxRemovals: 1\n",
        )
    )
    run, records = json_run(tenant, "apply", str(strict), "--auto-approve")
    assert run.code == 3
    (error,) = named(records, "error")
    assert (error["error_type"], error["exit_code"]) == ("SafetyBlocked", 3)


def test_the_confirmation_question_is_an_event(
    tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.cli import apply_cmd

    monkeypatch.setattr(apply_cmd, "stdin_is_tty", lambda: True)
    before = tenant.state()
    run = run_against(tenant, "--log-format", "json", "apply", str(DESIRED), input="no\n")
    # The test runner echoes the typed answer into stderr, where a terminal would show it.
    assert "\nno\n" in run.stderr
    records = events(Run(run.code, run.stdout, run.stderr.replace("\nno\n", "\n", 1)))
    assert run.code == 1
    (question,) = named(records, "apply.confirm")
    assert question["changes"] == 8
    assert "Only 'yes' will be accepted" in question["message"]
    assert "apply cancelled" in named(records, "error")[0]["message"]
    assert tenant.state() == before
