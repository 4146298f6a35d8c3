"""`reconciler import-csv`: HR and IdP CSV exports to a desired state that validates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.cli import Run, run_inprocess

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "csv"


def run(*args: str) -> Run:
    result = run_inprocess({"NO_COLOR": "1"}, *args)
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def work(tmp_path: Path) -> Path:
    for fixture in FIXTURES.iterdir():
        shutil.copy(fixture, tmp_path / fixture.name)
    return tmp_path


def imported(work: Path, *args: str) -> str:
    out = work / "out.yaml"
    result = run("import-csv", *args, "--out", str(out))
    assert result.code == 0, result.output
    validated = run("validate", str(out))
    assert validated.code == 0, validated.output
    return out.read_text(encoding="utf-8")


def test_merge_keeps_settings_products_groups_and_replaces_users(work: Path) -> None:
    text = imported(work, str(work / "basic.csv"), "--merge", str(work / "existing.yaml"))
    assert "leaver@example.com" not in text
    assert "  safety:\n    maxRemovals: 5\n" in text
    assert "    products: [ap, pf]\n" in text  # the ops group, kept
    emails = [line.split(": ", 1)[1] for line in text.splitlines() if "- email:" in line]
    assert emails == ["alice@example.com", "Bob@example.com", "zoe@example.com"]
    # a BOM, an Excel-quoted comma and a quoted line break all read as the cell's text
    assert 'lastName: "Smith, Jr"' in text
    assert "lastName: Van Dyke" in text
    assert "    active: false\n    products: [ap]" in text
    assert "    groups: [eng, ops]\n    products: [pf]" in text
    header = text.splitlines()[1]
    assert header.startswith("# Imported from basic.csv (3 users) at 20")


def test_output_is_deterministic_without_a_timestamp(work: Path) -> None:
    first = imported(work, str(work / "basic.csv"), "--merge", str(work / "existing.yaml"),
                     "--no-timestamp")  # fmt: skip
    second = imported(work, str(work / "basic.csv"), "--merge", str(work / "existing.yaml"),
                      "--no-timestamp")  # fmt: skip
    assert first == second
    assert "# Imported from basic.csv (3 users) by `reconciler import-csv`." in first


def test_semicolon_separated_files_are_detected(work: Path) -> None:
    text = imported(work, str(work / "semicolon.csv"))
    assert 'lastName: "Lopez; Garcia"' in text


def test_a_map_renames_columns_and_translates_values(work: Path) -> None:
    text = imported(
        work, str(work / "hr-export.csv"), "--map", str(work / "hr-map.yaml"),
        "--merge", str(work / "existing.yaml"),
    )  # fmt: skip
    carl = text[text.index("- email: carl@example.com") :]
    assert carl.startswith(
        "- email: carl@example.com\n    firstName: Carl\n    lastName: Jung\n"
        "    role: Administrator\n    groups: [eng]\n"
    )
    dora = text[text.index("- email: dora@example.com") :]
    assert "    role: User\n    active: false\n    groups: [eng, ops]" in dora
    assert "# Columns and values mapped by hr-map.yaml." in text


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_written(work: Path) -> None:
    out = work / "out.yaml"
    result = run("import-csv", str(work / "bad-rows.csv"), "--merge",
                 str(work / "existing.yaml"), "--out", str(out))  # fmt: skip
    assert result.code == 1
    assert not out.exists()
    name = str(work / "bad-rows.csv")
    expected = [
        f"{name}:2: email: missing",
        f"{name}:3: email: 'not-an-email' is not a valid email address",
        f"{name}:4: role: 'Boss' is not Administrator or User",
        f"{name}:4: active: 'maybe' is not true or false",
        # the row above spans lines 4 and 5: Excel shows this one on line 6
        f"{name}:6: email: 'ANN@example.com' is already on line 4",
        f"{name}:7: groups: 'unknown-group' is not defined in the --merge file",
    ]
    for message in expected:
        assert message in result.stderr, (message, result.stderr)
    assert result.stderr.index(expected[0]) < result.stderr.index(expected[-1])


def test_a_bad_map_is_refused_with_every_problem(work: Path) -> None:
    result = run("import-csv", str(work / "hr-export.csv"), "--map", str(work / "bad-map.yaml"),
                 "--out", str(work / "out.yaml"))  # fmt: skip
    assert result.code == 1
    assert "'mail' is not a field" in result.stderr
    assert "'email' is not a field whose values can be mapped" in result.stderr
    assert "unknown section 'extra'" in result.stderr
    assert "bad-map.yaml:2:" in result.stderr
    assert not (work / "out.yaml").exists()


def test_a_map_column_missing_from_the_file_is_an_error(work: Path) -> None:
    (work / "map.yaml").write_text("columns:\n  Department: groups\n", encoding="utf-8")
    result = run("import-csv", str(work / "plain.csv"), "--map", str(work / "map.yaml"),
                 "--out", str(work / "out.yaml"))  # fmt: skip
    assert result.code == 1
    assert f"{work / 'plain.csv'}:1: Department: the map names a column the file does not" in (
        result.stderr
    )


def test_an_existing_out_file_is_untouched_on_error(work: Path) -> None:
    out = work / "existing.yaml"
    before = out.read_bytes()
    result = run("import-csv", str(work / "bad-rows.csv"), "--merge", str(out),
                 "--out", str(out))  # fmt: skip
    assert result.code == 1
    assert out.read_bytes() == before


def test_a_file_that_is_not_utf8_is_refused(work: Path) -> None:
    result = run("import-csv", str(work / "latin1.csv"), "--out", str(work / "out.yaml"))
    assert result.code == 1
    assert "latin1.csv:2: not UTF-8" in result.stderr


def test_an_invalid_merge_file_reports_its_positions(work: Path) -> None:
    broken = work / "broken.yaml"
    broken.write_text("version: 1\nsettings:\n  unmanagedUsers: sometimes\n", encoding="utf-8")
    result = run("import-csv", str(work / "plain.csv"), "--merge", str(broken),
                 "--out", str(work / "out.yaml"))  # fmt: skip
    assert result.code == 1
    assert f"{broken}:3:" in result.stderr


def test_an_email_outside_the_merge_files_scope_is_an_error(work: Path) -> None:
    (work / "other.csv").write_text("email,firstName,lastName\na@elsewhere.org,A,B\n")
    result = run("import-csv", str(work / "other.csv"), "--merge", str(work / "existing.yaml"),
                 "--out", str(work / "out.yaml"))  # fmt: skip
    assert result.code == 1
    assert "other.csv:2: email: 'a@elsewhere.org' is outside settings.scope.emailDomains" in (
        result.stderr
    )
