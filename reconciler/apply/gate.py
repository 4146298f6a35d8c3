"""Whether a plan may be applied at all: the safety verdict, re-checked at apply time."""

from __future__ import annotations

from dataclasses import replace

from reconciler.errors import SafetyBlocked
from reconciler.model import SafetySettings
from reconciler.plan.model import Change, ChangeKind, Plan
from reconciler.plan.safety import verdict

_TAKES_ACCESS = frozenset({ChangeKind.DEACTIVATE, ChangeKind.DELETE, ChangeKind.REVOKE})


def _is_removal(change: Change) -> bool:
    """From what the change does, not only from its flag: in a saved file the flags are
    as easy to edit as the verdict."""
    if change.removal or change.kind in _TAKES_ACCESS:
        return True
    before, after = change.before or {}, change.after or {}
    return (
        change.kind is ChangeKind.UPDATE
        and before.get("role") == "Administrator"
        and after.get("role", "Administrator") != "Administrator"
    )


def check_safety(plan: Plan, *, allow_removals: int | None = None) -> None:
    """Raise `SafetyBlocked` unless the plan's removals are within its limit or allowed.

    For a saved plan the removals are counted again from its changes (from what they
    do, not only from their removal flags) rather than taken from its verdict, so
    editing the file does not lift the limit; an override given at plan time stands
    only for as many removals as it allowed.
    """
    saved = plan.safety
    changes = [replace(c, removal=True) if _is_removal(c) else c for c in plan.changes]
    removals = sum(1 for change in changes if change.removal)
    if saved.allowed_by_override and removals <= saved.removals:
        return
    current = verdict(
        changes,
        SafetySettings(max_removals=saved.limit),
        saved.managed_users,
        allow_removals,
    )
    if current.blocked:
        raise SafetyBlocked(
            f"the plan is blocked by the safety limit: {current.reason} Nothing was changed."
        )
