"""What bench/analysis.md (quoted in docs/benchmarks.md) says about the code, checked.

It says jsonschema is no lever for validate: it is imported only when the fast path
finds a problem, so validating a valid file never loads it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def imported_modules(path: str) -> set[str]:
    """Top-level modules `reconciler validate PATH` imports, as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reconciler", "validate", path],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # -X importtime lines: "import time: self | cumulative | module.name"
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_validating_a_valid_file_does_not_import_jsonschema() -> None:
    assert "jsonschema" not in imported_modules("examples/basic/users.yaml")


def test_a_file_with_a_schema_problem_does_import_it() -> None:
    # The check above could pass by never seeing an import; this shows it sees one.
    assert "jsonschema" in imported_modules("tests/fixtures/desired/bad/user-bad-role.yaml")
