"""Every bad file gets exit 1, a message naming its file and line, and no traceback.

Each fixture under tests/fixtures/desired/bad/ starts with `# expect: LINE: text`;
the few that cannot carry a comment (empty, not UTF-8) are listed here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from validate_cli_helpers import run_cli

BAD = Path(__file__).parents[1] / "fixtures" / "desired" / "bad"
MULTI = Path(__file__).parents[1] / "fixtures" / "desired" / "multi-bad"
NO_COMMENT = {
    "empty.yaml": (1, "the file is empty"),
    "blank.yaml": (1, "the file is empty"),
    "not-utf8.yaml": (4, "not valid UTF-8"),
    "utf16.yaml": (1, "UTF-16; save it as UTF-8"),
}


def _expectation(path: Path) -> tuple[int, str]:
    if path.name in NO_COMMENT:
        return NO_COMMENT[path.name]
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.match(r"# expect: (\d+): (.+)$", first)
    assert match, f"{path.name} has no '# expect: LINE: text' header"
    return int(match.group(1)), match.group(2)


CASES = sorted(BAD.glob("*.yaml"))


def test_the_corpus_covers_at_least_30_scenarios() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_file_is_refused_at_the_right_line(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line, text = _expectation(path)
    result = run_cli(capsys, "validate", str(path))
    assert result.code == 1
    assert result.out == ""
    assert "Traceback" not in result.err and "internal error" not in result.err
    expected = [
        entry
        for entry in result.err.splitlines()
        if entry.startswith(f"{path}:{line}:") and text in entry
    ]
    assert expected, f"no '{path}:{line}:...{text}' in:\n{result.err}"


def test_duplicate_email_across_files_names_both_places(
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = MULTI / "dup-email"
    result = run_cli(capsys, "validate", str(folder))
    assert result.code == 1
    first, second = folder / "a.yaml", folder / "b.yaml"
    assert f"{second}:6:12: error: user 'ALICE@example.com' is already listed at {first}:3:12" in (
        result.err
    )
    assert "(at users[1].email)" in result.err


def test_definitions_repeated_across_files_name_both_places(
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = MULTI / "dup-definitions"
    result = run_cli(capsys, "validate", str(folder))
    assert result.code == 1
    a, b = folder / "a.yaml", folder / "b.yaml"
    assert f"{b}:4:3: error: setting 'unmanagedUsers' is already defined at {a}:3:3" in result.err
    assert f"{b}:6:3: error: product alias 'agileplace' is already defined at {a}:5:3" in (
        result.err
    )
    assert f"{b}:8:3: error: group 'eng' is already defined at {a}:7:3" in result.err
    # safety is set once only, so it is not an error
    assert "safety" not in result.err
    assert "3 errors in the desired state" in result.err


def test_every_error_is_reported_not_only_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "version: 1\n"
        "users:\n"
        "  - email: not-an-email\n"
        "    firstName: A\n"
        "    lastName: B\n"
        "  - email: b@example.com\n"
        "    firstName: B\n"
        "    lastName: C\n"
        "    role: Boss\n"
        "  - email: c@example.com\n"
        "    firstName: C\n"
        "    groups: [nope]\n",
        encoding="utf-8",
    )
    result = run_cli(capsys, "validate", str(path))
    assert result.code == 1
    lines = [entry for entry in result.err.splitlines() if entry.startswith(str(path))]
    assert [entry.split(": error")[0] for entry in lines] == [
        f"{path}:3:12",
        f"{path}:9:11",
        f"{path}:10:5",
        f"{path}:12:14",
    ]
    assert "4 errors in the desired state" in result.err


def test_a_broken_file_does_not_hide_errors_in_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text("version: 1\nusers: [\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        "version: 1\nusers:\n  - {email: x@example.com, firstName: X}\n", encoding="utf-8"
    )
    result = run_cli(capsys, "validate", str(tmp_path))
    assert result.code == 1
    assert f"{tmp_path / 'a.yaml'}:3:1: error: invalid YAML" in result.err
    assert f"{tmp_path / 'b.yaml'}:3:5: error: missing required field 'lastName'" in result.err


def test_missing_path_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "validate", str(tmp_path / "nope.yaml"))
    assert result.code == 1
    assert "nope.yaml: no such file or directory" in result.err
    assert "Traceback" not in result.err


def test_directory_without_yaml_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "README.md").write_text("hello", encoding="utf-8")
    result = run_cli(capsys, "validate", str(tmp_path))
    assert result.code == 1
    assert "no *.yaml or *.yml files in this directory" in result.err
