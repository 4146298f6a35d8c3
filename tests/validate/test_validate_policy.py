"""settings.policy: minAdministrators and requiredAdministrators in the built state."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import InputError
from reconciler.model import PolicySettings
from reconciler.validate import load_desired

USERS = """users:
  - email: Root@Example.com
    firstName: Root
    lastName: Admin
    role: Administrator
  - email: glass-1@example.com
    firstName: Glass
    lastName: One
    role: Administrator
"""


def write(tmp_path: Path, settings: str) -> Path:
    path = tmp_path / "users.yaml"
    path.write_text(f"version: 1\nsettings:\n{settings}{USERS}", encoding="utf-8")
    return path


def test_a_satisfied_policy_validates_and_is_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "  policy:\n    minAdministrators: 2\n"
        "    requiredAdministrators: [root@example.com, 'glass-*@example.com']\n",
    )
    policy = load_desired([path]).settings.policy
    assert policy.min_administrators == 2 and policy.min_administrators_set
    assert policy.required_administrators == ("root@example.com", "glass-*@example.com")


def test_no_policy_means_one_administrator_and_an_unchanged_digest(tmp_path: Path) -> None:
    plain = load_desired([write(tmp_path, "  unmanagedUsers: ignore\n")])
    assert plain.settings.policy == PolicySettings()
    other = tmp_path / "other"
    other.mkdir()
    explicit = load_desired(
        [write(other, "  unmanagedUsers: ignore\n  policy:\n    minAdministrators: 1\n")]
    )
    # the saved plan's check takes the minimum from the files: the digest must cover it
    assert explicit.digest != plain.digest


def test_a_glob_that_matches_a_demoted_user_fails_at_the_pattern(tmp_path: Path) -> None:
    path = write(tmp_path, "  policy:\n    requiredAdministrators:\n      - '*@example.com'\n")
    path.write_text(path.read_text().replace("    role: Administrator\n", "", 1))
    with pytest.raises(InputError) as caught:
        load_desired([path])
    [problem] = caught.value.diagnostics
    assert (problem.pos.line, problem.pos.col) == (5, 9)
    assert "'Root@Example.com' is listed with role 'User'" in problem.message
