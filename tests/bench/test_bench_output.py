"""Which file a benchmark run writes: only a full run given --publish may replace the
committed docs/benchmarks.md; a quick look (or any other run) writes under bench/out/."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench import run  # noqa: E402
from bench.measure import Machine  # noqa: E402
from bench.report import Results  # noqa: E402

PUBLISHED = REPO / "docs" / "benchmarks.md"


def test_the_published_report_is_the_committed_docs_file() -> None:
    assert run.PUBLISHED == PUBLISHED


def test_a_quick_run_writes_a_git_ignored_file_not_the_committed_report() -> None:
    report = run.parse_args(["--quick"]).report
    assert report is not None and report.resolve() != PUBLISHED
    assert report.name == "benchmarks-quick.md"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(report.relative_to(REPO))], cwd=REPO, check=False
    )
    assert ignored.returncode == 0, f"{report} would show up in git status"


def test_a_full_run_without_publish_leaves_the_committed_report_alone() -> None:
    report = run.parse_args([]).report
    assert report == run.OUT_DIR / "benchmarks.md"


def test_publish_or_an_explicit_out_writes_the_committed_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert run.parse_args(["--publish"]).report == PUBLISHED
    monkeypatch.chdir(REPO)
    assert run.parse_args(["--out", "docs/benchmarks.md"]).report.resolve() == PUBLISHED
    assert run.parse_args(["--out", "-"]).report is None


@pytest.mark.parametrize(
    "argv",
    [
        ["--quick", "--publish"],
        ["--quick", "--out", str(PUBLISHED)],
        ["--publish", "--out", "elsewhere.md"],
    ],
)
def test_contradictory_output_options_are_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        run.parse_args(argv)
    assert exited.value.code == 2
    assert "docs/benchmarks.md" in capsys.readouterr().err


def _saved_run(tmp_path: Path, command: str) -> Path:
    machine = Machine("cpu", 2, 1.0, "CPython", "Linux", "2026-01-01 00:00", "abc1234")
    saved = {
        "results": Results(),
        "machine": machine,
        "command": command,
        "settings": [("seed", "7")],
        "companions": [],
        "profile": None,
    }
    path = tmp_path / f"results-{len(list(tmp_path.iterdir()))}.pickle"
    path.write_bytes(pickle.dumps(saved))
    return path


@pytest.fixture
def committed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stand-ins for docs/benchmarks.md and bench/out/, so the test writes only in tmp."""
    published = tmp_path / "docs" / "benchmarks.md"
    published.parent.mkdir()
    published.write_text("committed figures\n")
    monkeypatch.setattr(run, "PUBLISHED", published)
    monkeypatch.setattr(run, "OUT_DIR", tmp_path / "out")
    return published


def test_writing_a_quick_runs_report_does_not_touch_the_committed_one(
    tmp_path: Path, committed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = _saved_run(tmp_path, "python -m bench --quick")
    assert run.main(["--render-from", str(saved)]) == 0
    assert committed.read_text() == "committed figures\n"
    written = tmp_path / "out" / "benchmarks-quick.md"
    assert "python -m bench --quick" in written.read_text()
    assert f"wrote {written}" in capsys.readouterr().out  # the user is told where it went
    # Asking to publish a quick run's figures is refused, and changes nothing.
    assert run.main(["--render-from", str(saved), "--publish"]) == 2
    assert committed.read_text() == "committed figures\n"


def test_a_full_run_rewrites_the_committed_report_only_when_published(
    tmp_path: Path, committed: Path
) -> None:
    saved = _saved_run(tmp_path, "python -m bench")
    assert run.main(["--render-from", str(saved)]) == 0
    assert committed.read_text() == "committed figures\n"
    assert (tmp_path / "out" / "benchmarks.md").exists()
    assert run.main(["--render-from", str(saved), "--publish"]) == 0
    assert committed.read_text().startswith("# Benchmarks")
