"""Whether a plan may be applied at all: the safety verdict, re-checked at apply time.

A plan made in this run carries a verdict this run worked out, and is judged by it. A
saved plan is a file: anything in it, its verdict and its limit included, may have
been edited, and a digest stored beside the content is rewritten as easily. So for a
saved plan the removals are counted again from what its changes do, and the limit is
taken only from somewhere the file cannot change (`SavedPlanLimit`):

- the plan's own limit when its digest was pinned from outside (`--expect-digest`):
  the reviewer saw exactly that file;
- otherwise the desired-state files given to apply (checked against the plan's
  `desired_digest`), their `settings.safety` worked out again, counting the managed
  users in the tenant when the limit is a percentage;
- otherwise none: no removal is allowed without `--allow-removals N`.

An override given to `plan` never carries over: past the limit, apply needs its own
`--allow-removals N`.

The administrator invariant (`settings.policy.minAdministrators`) is re-checked for a
saved plan the same way (`check_saved_administrators`): the minimum from the files
(else the pinned plan's, else at least the default of 1), the count from the tenant
as read now and what the plan's changes do, never from the file's verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reconciler.changes import ChangeKind
from reconciler.diff.scope import Scope
from reconciler.errors import SafetyBlocked
from reconciler.model import DesiredState, LiveUser, PolicySettings, SafetySettings
from reconciler.plan.invariants import (
    administrator_problem,
    count_administrators,
    may_lower_administrators,
)
from reconciler.plan.model import Change, Plan
from reconciler.plan.safety import is_percentage, judge, removal_limit

_TAKES_ACCESS = frozenset({ChangeKind.DEACTIVATE, ChangeKind.DELETE, ChangeKind.REVOKE})


@dataclass(frozen=True, slots=True)
class SavedPlanLimit:
    """A removal limit for a saved plan, from a source the file cannot change."""

    limit: int
    basis: str  # how it was worked out, in words for the verdict
    managed_users: int = 0


def is_removal(change: Change, *, privileged_role: str | None) -> bool:
    """From what the change does, not only from its flag: in a saved file the flags are
    as easy to edit as the verdict. `privileged_role` is the backend's
    (`Capabilities.privileged_role`, None when it has none): an update that takes it
    away is a demotion, which takes access away like a deactivation."""
    if change.removal or change.kind in _TAKES_ACCESS:
        return True
    if privileged_role is None or change.kind is not ChangeKind.UPDATE:
        return False
    before, after = change.before or {}, change.after or {}
    return before.get("role") == privileged_role and after.get("role") != privileged_role


def count_removals(changes: Iterable[Change], *, privileged_role: str | None) -> int:
    return sum(1 for change in changes if is_removal(change, privileged_role=privileged_role))


def pinned_limit(plan: Plan) -> SavedPlanLimit:
    """The limit of a saved plan whose digest was pinned: what the reviewer saw."""
    return SavedPlanLimit(
        plan.safety.limit,
        "the limit of the reviewed plan, pinned by --expect-digest",
        plan.safety.managed_users,
    )


def limit_from_files(
    desired: DesiredState, removals: int, count_managed: Callable[[], int]
) -> SavedPlanLimit:
    """The limit the desired state's `settings.safety` sets, worked out again.

    `count_managed` reads the tenant; it is called only when a percentage limit could
    matter (more removals than the smallest limit a percentage ever gives), so the usual
    small plan costs no read.
    """
    settings: SafetySettings = desired.settings.safety
    floor, basis = removal_limit(settings, 0)
    if not is_percentage(settings) or removals <= floor:
        return SavedPlanLimit(floor, basis)
    managed = count_managed()
    limit, basis = removal_limit(settings, managed)
    return SavedPlanLimit(limit, basis, managed)


def count_managed_users(users: Iterable[LiveUser], desired: DesiredState) -> int:
    """Live users in scope and not protected, as `plan` counts them."""
    scope = Scope(desired.settings)
    return sum(1 for user in users if scope.manages(user.email))


UNVERIFIED = SavedPlanLimit(
    0,
    "no limit can be verified: give apply the desired-state files the plan was made "
    "from, or pin its digest with --expect-digest",
)


def check_safety(
    plan: Plan,
    *,
    privileged_role: str | None,
    allow_removals: int | None = None,
    saved_limit: SavedPlanLimit | None = None,
) -> None:
    """Raise `SafetyBlocked` unless the plan's removals are within the limit or allowed.

    Without `saved_limit` the plan was made in this run and its own verdict stands. With
    it, the plan was read from a file: its removals are counted again (a demotion from
    the backend's `privileged_role` included) and judged against `saved_limit` and this
    run's `allow_removals` only.
    """
    if saved_limit is None:
        if plan.safety.administrators_blocked:
            raise SafetyBlocked(f"the plan is blocked: {plan.safety.reason} Nothing was changed.")
        if plan.safety.blocked:
            raise SafetyBlocked(
                f"the plan is blocked by the safety limit: {plan.safety.reason} "
                "Nothing was changed."
            )
        return
    removals = count_removals(plan.changes, privileged_role=privileged_role)
    current = judge(
        removals,
        saved_limit.limit,
        saved_limit.basis,
        saved_limit.managed_users,
        allow_removals,
    )
    if current.blocked:
        carried = (
            " An --allow-removals given to plan does not carry over to apply."
            if plan.safety.allowed_by_override
            else ""
        )
        raise SafetyBlocked(
            f"the saved plan is blocked by the safety limit: {current.reason}{carried} "
            "Nothing was changed."
        )


def saved_min_administrators(
    plan: Plan, desired: DesiredState | None, pinned: bool
) -> tuple[int, str]:
    """The minimum a saved plan is held to, and where it came from, from what the file
    cannot lower: the files when given; the reviewed plan's when its digest is pinned;
    otherwise the plan's own, but never below the default."""
    if desired is not None:
        return desired.settings.policy.min_administrators, "settings.policy.minAdministrators"
    recorded = plan.safety.min_administrators
    if pinned and recorded is not None:
        return recorded, "the reviewed plan's minAdministrators, pinned by --expect-digest"
    default = PolicySettings().min_administrators
    return max(default, recorded or 0), "minAdministrators (no desired-state files given)"


def check_saved_administrators(
    plan: Plan,
    *,
    role: str | None,
    minimum: int,
    read_users: Callable[[], Iterable[LiveUser]],
) -> None:
    """Raise `SafetyBlocked` when applying the saved plan would lower the tenant's
    active users with the privileged `role` below `minimum`. The tenant is read (by
    `read_users`) only when some change could take an administrator away; `role` None
    (a backend without roles) checks nothing. --allow-removals has no say here."""
    if role is None or not may_lower_administrators(plan.changes, role):
        return
    count = count_administrators(read_users(), plan.changes, role)
    problem = administrator_problem(count, minimum, role)
    if problem is not None:
        raise SafetyBlocked(
            f"the saved plan is blocked by the administrator invariant: {problem} "
            "Nothing was changed."
        )
