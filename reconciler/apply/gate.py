"""Whether a plan may be applied at all: the safety verdict, re-checked at apply time."""

from __future__ import annotations

from reconciler.errors import SafetyBlocked
from reconciler.model import SafetySettings
from reconciler.plan.model import Plan
from reconciler.plan.safety import verdict


def check_safety(plan: Plan, *, allow_removals: int | None = None) -> None:
    """Raise `SafetyBlocked` unless the plan's removals are within its limit or allowed.

    For a saved plan the removals are counted again from its changes rather than taken
    from its verdict, so editing the verdict in the file does not lift the limit; an
    override given at plan time stands only for as many removals as it allowed.
    """
    saved = plan.safety
    removals = sum(1 for change in plan.changes if change.removal)
    if saved.allowed_by_override and removals <= saved.removals:
        return
    current = verdict(
        plan.changes,
        SafetySettings(max_removals=saved.limit),
        saved.managed_users,
        allow_removals,
    )
    if current.blocked:
        raise SafetyBlocked(
            f"the plan is blocked by the safety limit: {current.reason} Nothing was changed."
        )
