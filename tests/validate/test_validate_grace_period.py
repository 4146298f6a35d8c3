"""settings.deleteDeactivatedAfter: its shape, its unit, and the policy it needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import InputError
from reconciler.validate import load_desired


def write(tmp_path: Path, settings: str) -> str:
    path = tmp_path / "users.yaml"
    path.write_text(f"version: 1\nsettings:\n{settings}users: []\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("text", "days"), [("90d", 90), ("12w", 84), ("1d", 1)])
def test_days_and_weeks(tmp_path: Path, text: str, days: int) -> None:
    state = load_desired([write(tmp_path, f"  deleteDeactivatedAfter: {text}\n")])
    assert state.settings.delete_deactivated_after == days
    assert state.settings.unmanaged_users == "deactivate"


def test_off_by_default_and_the_digest_of_files_without_it_is_unchanged(tmp_path: Path) -> None:
    plain = load_desired([write(tmp_path, "  unmanagedUsers: deactivate\n")])
    assert plain.settings.delete_deactivated_after is None
    with_grace = load_desired(
        [write(tmp_path, "  unmanagedUsers: deactivate\n  deleteDeactivatedAfter: 90d\n")]
    )
    assert with_grace.digest != plain.digest


@pytest.mark.parametrize("text", ["3m", "90", "0d", "'1.5w'", "-5d", "90 d"])
def test_other_units_and_shapes_are_refused_at_file_line(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, f"  deleteDeactivatedAfter: {text}\n")
    with pytest.raises(InputError) as refused:
        load_desired([path])
    (problem,) = refused.value.diagnostics
    assert problem.pos is not None and problem.pos.line == 3
    assert problem.path == "settings.deleteDeactivatedAfter"


@pytest.mark.parametrize("policy", ["ignore", "delete"])
def test_needs_unmanaged_users_deactivate(tmp_path: Path, policy: str) -> None:
    path = write(tmp_path, f"  unmanagedUsers: {policy}\n  deleteDeactivatedAfter: 90d\n")
    with pytest.raises(InputError) as refused:
        load_desired([path])
    (problem,) = refused.value.diagnostics
    assert problem.pos is not None and (problem.pos.file, problem.pos.line) == (path, 4)
    assert "needs unmanagedUsers: deactivate" in problem.message
    assert f"'{policy}'" in problem.message
