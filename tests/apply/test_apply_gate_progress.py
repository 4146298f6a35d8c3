"""The safety gate at apply time, and the progress bar that shows only on a terminal."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from apply_builders import PlanBuilder, product, user
from apply_memory_backend import MemoryBackend

from reconciler.apply import check_safety, execute
from reconciler.apply.progress import progress_bar
from reconciler.errors import EXIT_BLOCKED, SafetyBlocked


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


def test_blocked_plan_is_refused_with_exit_3(backend: MemoryBackend) -> None:
    plan = removals(backend, 3).plan(blocked=True)
    with pytest.raises(SafetyBlocked, match="--allow-removals 3") as caught:
        check_safety(plan)
    assert caught.value.exit_code == EXIT_BLOCKED
    with pytest.raises(SafetyBlocked, match="--allow-removals 2 is fewer than the 3"):
        check_safety(plan, allow_removals=2)
    check_safety(plan, allow_removals=3)


def test_override_given_at_plan_time_stands(backend: MemoryBackend) -> None:
    plan = removals(backend, 3).plan(blocked=False, overridden=True)
    plan = replace(plan, safety=replace(plan.safety, limit=1))
    check_safety(plan)


def test_editing_the_verdict_in_the_file_does_not_lift_the_limit(backend: MemoryBackend) -> None:
    plan = removals(backend, 3).plan(blocked=True)
    edited = replace(plan, safety=replace(plan.safety, blocked=False, removals=0))
    with pytest.raises(SafetyBlocked):
        check_safety(edited)
    # An override for fewer removals than the plan now holds does not cover it either.
    widened = replace(plan, safety=replace(plan.safety, allowed_by_override=True, removals=2))
    with pytest.raises(SafetyBlocked):
        check_safety(widened)


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
