"""The safety limit on removals: a plan that takes away too much access is blocked."""

from __future__ import annotations

import math
from collections.abc import Iterable

from reconciler.errors import PlanError
from reconciler.model import SafetySettings
from reconciler.plan.model import Change, SafetyVerdict

# A percentage limit never drops below this, so small tenants can still do routine work.
MIN_PERCENT_LIMIT = 5


def removal_limit(settings: SafetySettings, managed_users: int) -> tuple[int, str]:
    """The limit and how it was derived, in words for the verdict."""
    value = settings.max_removals
    where = f"{settings.pos}: " if settings.pos else ""
    if isinstance(value, bool):
        raise PlanError(
            f"{where}settings.safety.maxRemovals must be a count or 'N%', not {value!r}."
        )
    if isinstance(value, int):
        if value < 0:
            raise PlanError(f"{where}settings.safety.maxRemovals must not be negative.")
        return value, "settings.safety.maxRemovals"
    text = str(value).strip()
    try:
        if not text.endswith("%"):
            return removal_limit(SafetySettings(int(text), settings.pos), managed_users)
        percent = float(text[:-1])
    except ValueError:
        raise PlanError(
            f"{where}settings.safety.maxRemovals must be a count or 'N%', not {value!r}."
        ) from None
    if not 0 <= percent <= 100:
        raise PlanError(
            f"{where}settings.safety.maxRemovals must be between 0% and 100%, not {text}."
        )
    limit = max(MIN_PERCENT_LIMIT, math.floor(managed_users * percent / 100))
    return limit, f"{text} of {managed_users} managed users, at least {MIN_PERCENT_LIMIT}"


def is_percentage(settings: SafetySettings) -> bool:
    """Whether the limit depends on how many users are managed."""
    value = settings.max_removals
    return isinstance(value, str) and value.strip().endswith("%")


def verdict(
    changes: Iterable[Change],
    settings: SafetySettings,
    managed_users: int,
    allow_removals: int | None = None,
) -> SafetyVerdict:
    removals = sum(1 for c in changes if c.removal)
    limit, basis = removal_limit(settings, managed_users)
    return judge(removals, limit, basis, managed_users, allow_removals)


def judge(
    removals: int,
    limit: int,
    basis: str,
    managed_users: int,
    allow_removals: int | None = None,
) -> SafetyVerdict:
    """The verdict on `removals` against a limit already worked out (`basis` says how)."""
    noun = "removal" if removals == 1 else "removals"
    if removals <= limit:
        return SafetyVerdict(
            removals,
            limit,
            managed_users,
            blocked=False,
            reason=f"{removals} {noun} within the limit of {limit} ({basis}).",
        )
    if removals == 1:
        over = f"1 removal exceeds the limit of {limit} ({basis})"
    else:
        over = f"{removals} removals exceed the limit of {limit} ({basis})"
    if allow_removals is not None and allow_removals >= removals:
        return SafetyVerdict(
            removals,
            limit,
            managed_users,
            blocked=False,
            reason=f"{over}; allowed by --allow-removals {allow_removals}.",
            allowed_by_override=True,
        )
    if allow_removals is not None:
        hint = (
            f"--allow-removals {allow_removals} is fewer than the {removals} planned; "
            f"review the plan, then run again with --allow-removals {removals} to proceed."
        )
    else:
        hint = f"review the plan, then run again with --allow-removals {removals} to proceed."
    return SafetyVerdict(removals, limit, managed_users, blocked=True, reason=f"{over}: {hint}")
