"""The layering import-linter checks statically, checked as Python runs it: importing
the core (diff, plan, render, apply, drift) loads no CLI, no YAML parser and no
concrete backend. A package's `__init__` runs when any module in it is imported, which
a static check of the import lines alone can miss."""

from __future__ import annotations

import json
import subprocess
import sys

CORE = [
    "reconciler.changes",
    "reconciler.globs",
    "reconciler.model",
    "reconciler.errors",
    "reconciler.diff",
    "reconciler.diff.engine",
    "reconciler.plan",
    "reconciler.render",
    "reconciler.apply",
    "reconciler.drift",
]
FORBIDDEN = [
    "click",
    "yaml",
    "reconciler.cli",
    "reconciler.load",
    "reconciler.validate",
    "reconciler.backends.planview",
    "reconciler.backends.scim",
]


def test_importing_the_core_loads_no_cli_yaml_or_backend() -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {CORE!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []


def test_the_check_sees_a_forbidden_import() -> None:
    # the same probe, fed a module that does load the CLI, must report it
    script = (
        "import importlib, json, sys\n"
        "importlib.import_module('reconciler.cli.connection')\n"
        f"print(json.dumps(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert "click" in json.loads(done.stdout)
