"""`reconciler validate` and `reconciler schema` as a user or a CI job sees them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from validate_cli_helpers import run_cli

ROOT = Path(__file__).parents[2]
BASIC = ROOT / "examples" / "basic" / "users.yaml"
TEAMS = ROOT / "examples" / "teams"
BAD_ROLE = ROOT / "tests" / "fixtures" / "desired" / "bad" / "user-bad-role.yaml"


def test_valid_files_print_a_one_line_summary(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "validate", str(TEAMS))
    assert result.code == 0
    assert result.out == "Valid: 4 users, 4 products, 3 groups in 3 files.\n"
    assert result.err == ""


def test_json_format_for_tools(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "validate", "--format", "json", str(BASIC))
    assert result.code == 0
    summary = json.loads(result.out)
    assert summary["valid"] is True and summary["users"] == 4 and len(summary["digest"]) == 64

    result = run_cli(capsys, "validate", "--format", "json", str(BAD_ROLE))
    assert result.code == 1
    report = json.loads(result.err)
    assert report["valid"] is False
    (error,) = report["errors"]
    assert error["file"] == str(BAD_ROLE) and error["line"] == 7 and error["column"] == 11
    assert error["path"] == "users[0].role"


def test_github_annotations(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "validate", "--format", "github", str(BAD_ROLE))
    assert result.code == 1
    assert result.err.startswith(f"::error file={BAD_ROLE},line=7,col=11::'Admin' is not one of")


def test_no_colour_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "validate", str(BAD_ROLE))
    assert "\x1b[" not in result.err


def test_no_color_is_respected_even_when_colour_is_possible(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconciler.cli.output as output

    monkeypatch.setattr(output.sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    assert output.colour_enabled(sys.stderr) is False
    result = run_cli(capsys, "validate", str(BAD_ROLE))
    assert "\x1b[" not in result.err


def test_colour_on_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconciler.cli.output as output

    monkeypatch.setattr(output.sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    result = run_cli(capsys, "validate", str(BAD_ROLE))
    assert "\x1b[" in result.err
    assert "'Admin' is not one of" in result.err


def test_real_process_exit_codes_and_no_traceback() -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    ok = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", str(BASIC)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "Valid: 4 users, 2 products, 2 groups in 1 file."
    bad = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", str(BAD_ROLE), str(BASIC)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert bad.returncode == 1
    assert f"{BAD_ROLE}:7:11: error: 'Admin' is not one of: Administrator, User" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_validate_needs_a_path(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "validate")
    assert result.code != 0
    assert "Missing argument" in result.err


def test_schema_prints_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "schema")
    assert result.code == 0
    printed = json.loads(result.out)
    on_disk = json.loads((ROOT / "schemas" / "desired-state.schema.json").read_text("utf-8"))
    assert printed == on_disk
    Draft202012Validator.check_schema(printed)
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _fields(node: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """Every schema describing a field: properties, $defs, items, additionalProperties."""
    found: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(node, dict):
        return found
    for name, sub in node.get("properties", {}).items():
        found.append((f"{where}.{name}", sub))
        found += _fields(sub, f"{where}.{name}")
    for name, sub in node.get("$defs", {}).items():
        found.append((f"$defs.{name}", sub))
        found += _fields(sub, f"$defs.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found.append((f"{where}.{key}", node[key]))
            found += _fields(node[key], f"{where}.{key}")
    return found


def test_every_field_has_a_title_and_description() -> None:
    schema = json.loads((ROOT / "schemas" / "desired-state.schema.json").read_text("utf-8"))
    missing = [
        where
        for where, sub in [("(root)", schema), *_fields(schema, "")]
        if set(sub) != {"$ref"} and not (sub.get("title") and sub.get("description"))
    ]
    assert missing == []


def test_help_explains_paths_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "validate", "--help")
    assert result.code == 0
    assert "*.yaml" in result.out and "exit 1" in result.out.lower()
