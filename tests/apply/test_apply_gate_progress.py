"""The safety gate at apply time, and the progress bar that shows only on a terminal."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest
from apply_builders import PlanBuilder, product, user
from apply_memory_backend import MemoryBackend

from reconciler.apply import check_safety as gate_check_safety
from reconciler.apply import execute
from reconciler.apply.gate import UNVERIFIED, SavedPlanLimit, count_removals
from reconciler.cli.progress import progress_bar
from reconciler.errors import EXIT_BLOCKED, SafetyBlocked
from reconciler.plan.model import Plan


def check_safety(plan: Plan, **options: Any) -> None:
    """The gate as apply calls it against the memory backend (Planview's rules)."""
    gate_check_safety(plan, privileged_role="Administrator", **options)


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend(
        users=[user(f"u{n}", f"user{n}@example.com") for n in range(4)],
        products=[product("p-ap")],
        provisioning={"p-ap": {"u0", "u1", "u2", "u3"}},
    )


def removals(backend: MemoryBackend, count: int) -> PlanBuilder:
    b = PlanBuilder(backend)
    for n in range(count):
        b.revoke("p-ap", f"u{n}")
    return b


def test_a_plan_made_in_this_run_is_judged_by_its_own_verdict(backend: MemoryBackend) -> None:
    with pytest.raises(SafetyBlocked, match="too many removals") as caught:
        check_safety(removals(backend, 3).plan(blocked=True))
    assert caught.value.exit_code == EXIT_BLOCKED
    check_safety(removals(backend, 3).plan(blocked=False, overridden=True))


def test_a_saved_plan_is_judged_against_the_limit_from_outside_the_file(
    backend: MemoryBackend,
) -> None:
    plan = removals(backend, 3).plan(blocked=True)
    files = SavedPlanLimit(2, "settings.safety.maxRemovals")
    with pytest.raises(SafetyBlocked, match="--allow-removals 3") as caught:
        check_safety(plan, saved_limit=files)
    assert caught.value.exit_code == EXIT_BLOCKED
    with pytest.raises(SafetyBlocked, match="--allow-removals 2 is fewer than the 3"):
        check_safety(plan, saved_limit=files, allow_removals=2)
    check_safety(plan, saved_limit=files, allow_removals=3)
    check_safety(plan, saved_limit=SavedPlanLimit(3, "settings.safety.maxRemovals"))


def test_an_override_given_at_plan_time_does_not_carry_over(backend: MemoryBackend) -> None:
    plan = removals(backend, 3).plan(blocked=False, overridden=True)
    with pytest.raises(SafetyBlocked, match="does not carry over"):
        check_safety(plan, saved_limit=SavedPlanLimit(1, "settings.safety.maxRemovals"))
    check_safety(plan, saved_limit=SavedPlanLimit(1, "x"), allow_removals=3)


def test_editing_the_verdict_or_the_flags_does_not_lift_the_limit(backend: MemoryBackend) -> None:
    plan = removals(backend, 3).plan(blocked=True)
    files = SavedPlanLimit(1, "settings.safety.maxRemovals")
    edited = replace(
        plan,
        safety=replace(plan.safety, blocked=False, removals=0, limit=99, allowed_by_override=True),
        changes=tuple(replace(c, removal=False) for c in plan.changes),
    )
    with pytest.raises(SafetyBlocked, match="3 removals exceed the limit of 1"):
        check_safety(edited, saved_limit=files)


def test_a_demotion_counts_by_the_backends_privileged_role() -> None:
    backend = MemoryBackend(
        users=[
            user("u0", "admin@example.com", role="Administrator"),
            user("u1", "editor@example.com", role="Editor"),
        ]
    )
    b = PlanBuilder(backend)
    b.update("u0", role="User")
    b.update("u1", role="Viewer")
    # The removal flags are as easy to edit as the verdict: count from what changes do.
    changes = tuple(replace(c, removal=False) for c in b.plan().changes)
    assert count_removals(changes, privileged_role="Administrator") == 1
    assert count_removals(changes, privileged_role="Editor") == 1
    # A backend without roles has no demotions; the saved plan then passes a limit of 0.
    assert count_removals(changes, privileged_role=None) == 0
    saved = replace(b.plan(), changes=changes)
    gate_check_safety(saved, privileged_role=None, saved_limit=SavedPlanLimit(0, "x"))
    with pytest.raises(SafetyBlocked, match="1 removal exceeds the limit of 0"):
        gate_check_safety(
            saved, privileged_role="Administrator", saved_limit=SavedPlanLimit(0, "x")
        )


def test_without_files_or_a_pin_no_removal_passes_unasked(backend: MemoryBackend) -> None:
    plan = removals(backend, 1).plan()
    with pytest.raises(SafetyBlocked, match="desired-state files"):
        check_safety(plan, saved_limit=UNVERIFIED)
    check_safety(plan, saved_limit=UNVERIFIED, allow_removals=1)
    check_safety(PlanBuilder(backend).plan(), saved_limit=UNVERIFIED)  # no removals


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal(backend: MemoryBackend) -> None:
    plan = removals(backend, 4).plan()
    terminal = FakeTerminal()
    with progress_bar(len(plan.changes), stream=terminal) as progress:
        assert progress is not None
        execute(plan, backend, progress=progress)
    drawn = terminal.getvalue()
    assert "Applying" in drawn
    assert "4/4" in drawn


def test_progress_bar_is_silent_off_a_terminal(backend: MemoryBackend) -> None:
    pipe = io.StringIO()
    with progress_bar(4, stream=pipe) as progress:
        assert progress is None
    assert pipe.getvalue() == ""
