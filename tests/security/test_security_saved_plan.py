"""A saved plan edited after review (by hand, or by someone with access to the CI
workspace) must not make apply do something other than what it shows, or get past
the safety limit. Each case starts from a real `plan --out` and a fresh tenant."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.cli import emulator_env, run_inprocess
from support.scenarios import offboard

Edit = Callable[[dict[str, Any]], None]


def swap_user_id(plan: dict[str, Any]) -> None:
    plan["changes"][0]["user_id"] = "u-00000"  # a user the plan leaves alone


def swap_email(plan: dict[str, Any]) -> None:
    # what the reviewer reads is another user than the id apply acts on
    plan["changes"][0]["email"] = "user00000@chaos.example.com"


def hide_removals(plan: dict[str, Any]) -> None:
    # the verdict and every change's removal flag say "nothing is taken away"
    for change in plan["changes"]:
        change["removal"] = False
    plan["safety"].update(removals=0, blocked=False, reason=None)


def add_a_change(plan: dict[str, Any]) -> None:
    extra = {**plan["changes"][0], "id": "c99", "user_id": "u-00001",
             "email": "user00001@chaos.example.com"}  # fmt: skip
    plan["changes"].append(extra)


def deactivate_into_delete(plan: dict[str, Any]) -> None:
    # a reviewed, reversible deactivation turned into a permanent delete
    change = plan["changes"][0]
    assert change["kind"] == "deactivate"
    change["kind"] = "delete"
    plan["counts"].update(deactivate=plan["counts"]["deactivate"] - 1, delete=1)


EDITS = [
    pytest.param(swap_user_id, id="another user's id"),
    pytest.param(hide_removals, id="removals hidden from the safety verdict"),
    pytest.param(add_a_change, id="a change added"),
    pytest.param(swap_email, id="the email shown changed"),
    pytest.param(deactivate_into_delete, id="a deactivation turned into a delete"),
]


@pytest.mark.parametrize("edit", EDITS)
def test_an_edited_saved_plan_changes_nothing(
    edit: Edit, emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    scenario = offboard(20)  # two deactivations
    emulator = emulator_factory(state=scenario.tenant)
    env = emulator_env(emulator)
    desired = scenario.write(tmp_path)
    if edit is hide_removals:  # a limit of 1: the plan is blocked
        desired.write_text(desired.read_text().replace("maxRemovals: 2", "maxRemovals: 1"))
    saved = tmp_path / "plan.json"
    assert run_inprocess(env, "plan", str(desired), "--out", str(saved)).code in (0, 3)
    plan = json.loads(saved.read_text())
    edit(plan)
    saved.write_text(json.dumps(plan))
    audit_before = len(emulator.state()["audit"])

    run = run_inprocess(env, "apply", "--plan", str(saved))

    assert run.code in (1, 3), run.output
    assert "Traceback" not in run.output
    assert "Nothing was changed" in run.output or "nothing was changed" in run.output
    assert emulator.state()["audit"][audit_before:] == []
