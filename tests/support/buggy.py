"""A command with a bug, to reach main()'s internal-error path from a test."""

from __future__ import annotations

import sys
import types

import click
import pytest

from reconciler.cli.main import COMMANDS
from reconciler.redact import register_secret

BUG_MODULE = "reconciler_test_internal_error"
LEAKY_SECRET = "s3cret-that-a-bug-put-in-an-exception"


@click.command()
def explode() -> None:
    """Fails with a secret in its message, as a careless bug might."""
    raise RuntimeError(f"a bug while holding {LEAKY_SECRET}")


def install_buggy_command(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register `explode` as a `reconciler` command for this test; return its name."""
    module = types.ModuleType(BUG_MODULE)
    module.explode = explode  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, BUG_MODULE, module)
    monkeypatch.setitem(COMMANDS, "explode", f"{BUG_MODULE}:explode")
    register_secret(LEAKY_SECRET)
    return "explode"
