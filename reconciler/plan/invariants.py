"""Administrator invariants (`settings.policy`): a plan must not leave the tenant
without enough administrators.

Pure: a function of the live users, the plan's changes and the backend's
capabilities. They apply only where the backend has roles and a privileged one; a
backend without roles ignores `minAdministrators` (with a warning when the file set
it) and refuses `requiredAdministrators`, which it cannot honour.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from reconciler.backends.capabilities import Capabilities
from reconciler.changes import ChangeKind
from reconciler.errors import PlanError
from reconciler.model import LiveUser, PolicySettings
from reconciler.plan.model import Change, SafetyVerdict

_GOES_INACTIVE = frozenset({ChangeKind.DEACTIVATE, ChangeKind.DELETE})


@dataclass(frozen=True, slots=True)
class AdministratorCount:
    before: int  # active privileged users in the tenant now
    after: int  # ... once every change of the plan succeeded


def privileged_role(capabilities: Capabilities) -> str | None:
    """The role the invariants count, or None where the backend has no roles."""
    if not capabilities.roles or capabilities.privileged_role is None:
        return None
    return capabilities.privileged_role


def count_administrators(
    live_users: Iterable[LiveUser], changes: Iterable[Change], role: str
) -> AdministratorCount:
    """Active users with `role` now and after `changes`, every live user counted
    (protected, out of scope and ignored ones too: they can administer the tenant)."""
    # Only the users a change touches are tracked one by one: at 50,000 users, a
    # table of every user cost more than the rest of the check.
    users = {user.id: user for user in live_users}
    before = sum(1 for user in users.values() if user.role == role and user.active)
    touched: dict[str, tuple[bool, str]] = {}
    created = 0
    for change in changes:
        after = change.after or {}
        if change.kind is ChangeKind.CREATE:
            created += 1 if after.get("role") == role else 0
            continue
        uid = change.user_id
        if uid is None or uid not in users:
            continue
        if uid in touched:
            active, held = touched[uid]
        else:
            active, held = users[uid].active, users[uid].role
        if change.kind in _GOES_INACTIVE:
            active = False
        elif change.kind is ChangeKind.REACTIVATE:
            active = True
        elif change.kind is ChangeKind.UPDATE and "role" in after:
            held = after["role"]
        touched[uid] = (active, held)
    lost = sum(1 for uid in touched if users[uid].active and users[uid].role == role)
    now = sum(1 for active, held in touched.values() if active and held == role)
    return AdministratorCount(before, before - lost + now + created)


def may_lower_administrators(changes: Iterable[Change], role: str) -> bool:
    """Whether any change could take an administrator away, judged from what the
    changes do: a saved plan without one needs no read of the tenant to be checked."""
    for change in changes:
        if change.kind in _GOES_INACTIVE:
            return True
        if change.kind is ChangeKind.UPDATE and (change.after or {}).get("role", role) != role:
            return True
    return False


def administrator_problem(count: AdministratorCount, minimum: int, role: str) -> str | None:
    """Why the plan is blocked, or None. Only a plan that lowers the count below the
    minimum is blocked: a tenant already short of administrators is not made worse by
    a plan that does not touch them (it gets a warning, see `administrator_warning`)."""
    if count.after >= minimum or count.after >= count.before:
        return None
    noun = "administrator" if minimum == 1 else "administrators"
    return (
        f"the plan would leave {count.after} active {role}{'' if count.after == 1 else 's'} "
        f"(now {count.before}), fewer than settings.policy.minAdministrators ({minimum} "
        f"{noun}, counting protected and unmanaged users). Keep or promote another "
        f"{role} in the desired state; --allow-removals does not lift this."
    )


def administrator_warning(count: AdministratorCount, minimum: int, role: str) -> str | None:
    if count.after >= minimum or count.after < count.before:
        return None
    return (
        f"The tenant would have {count.after} active {role}"
        f"{'' if count.after == 1 else 's'} after this plan, fewer than "
        f"settings.policy.minAdministrators ({minimum}); the plan does not lower the count, "
        "so it is not blocked, but promote one in the desired state."
    )


def with_administrators(
    verdict: SafetyVerdict, count: AdministratorCount, minimum: int, role: str
) -> SafetyVerdict:
    """The safety verdict with the administrator count; blocked (whatever the removal
    limit or --allow-removals said) when the plan breaks the invariant."""
    problem = administrator_problem(count, minimum, role)
    checked = replace(verdict, administrators=count.after, min_administrators=minimum)
    if problem is None:
        return checked
    reason = f"Blocked by the administrator invariant: {problem}"
    if verdict.blocked and verdict.reason:
        reason = f"{verdict.reason} {reason}"
    return replace(checked, blocked=True, reason=reason, administrators_blocked=True)


def policy_warnings(policy: PolicySettings, capabilities: Capabilities) -> list[str]:
    """What a backend without roles does with `settings.policy`: ignores
    minAdministrators (saying so only when the file set it) and refuses
    requiredAdministrators (a PlanError naming the file's line)."""
    if privileged_role(capabilities) is not None:
        return []
    if policy.required_administrators:
        where = f"{policy.pos}: " if policy.pos else ""
        raise PlanError(
            f"{where}settings.policy.requiredAdministrators is set, but the "
            f"{capabilities.name} backend has no roles, so no user can be required to be "
            "an administrator; remove it from the desired state."
        )
    if policy.min_administrators_set:
        return [
            f"settings.policy.minAdministrators is ignored: the {capabilities.name} backend "
            "has no roles, so administrators cannot be counted."
        ]
    return []
