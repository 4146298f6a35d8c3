"""The benchmark harness end to end on its smallest scenario, so it cannot rot unseen.

It asserts what a reader of docs/benchmarks.md relies on, never a timing: both the
reconciler and the naive baseline ran, planned exactly the changes the generator
made, applied them until the tenant converged, and the report says so.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_smallest_scenario_runs_end_to_end_and_writes_the_report(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    argv = [
        sys.executable, "-m", "bench",
        "--sizes", "200", "--latencies", "0",
        "--apply-users", "200", "--apply-changes", "20", "--apply-latency", "0",
        "--second-consumer", "0", "--naive-timeout", "60", "--no-companions", "--repeat", "1",
        # issue 13's rows at their smallest: side by side with the base commit (skipped
        # with a note in a clone without it), the scale rows and the JSON decoders
        "--overlap-users", "200", "--overlap-latencies", "20", "--scale-users", "400",
        "--decode-users", "200",
        "--out", str(report), "--workdir", str(tmp_path / "work"),
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    text = report.read_text()
    for heading in ("## Machine", "## Targets", "## validate", "## plan", "## apply",
                    "## plan and export against a slow tenant", "## Decoding API pages"):
        assert heading in text
    # Every plan and export row of the side-by-side table has a floor and a ratio to it.
    side = text.split("## plan and export against a slow tenant", 1)[1].split("## apply")[0]
    rows = [line for line in side.splitlines() if line.startswith(("| plan |", "| export |"))]
    assert rows and all(line.rstrip(" |").endswith("x") for line in rows)
    assert "Scale, validate: per-user wall time at 400 users / at 200 users" in text
    where = text.split("## Where the time goes", 1)[1]
    assert "| `reconciler/" in where  # the profile names the package's own functions
    assert "Problems met" not in text
    assert "python -m bench --sizes 200" in text  # the command that reproduces it
    # Each tool's row: 200 users planned at 0 ms, and an apply that converged.
    assert "| 200 | 0 ms |" in text
    apply_rows = [line for line in text.splitlines() if line.startswith("| 0/window")]
    assert len(apply_rows) == 1
    assert apply_rows[0].count("| yes |") == 2  # reconciler and naive both converged
