"""Is a saved plan still true? Re-read the live records its changes depend on.

Each change carries the fingerprint of the live record it was planned against
(`reconciler.model`: a user's `fingerprint()`, `absent_fingerprint()` for a create,
`provisioning_fingerprint()` for a grant or revoke). If any of them differs now,
someone changed the tenant since the plan was reviewed, and applying it would act on
a state nobody looked at: refuse, and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from reconciler.backends.base import Backend
from reconciler.changes import ChangeKind
from reconciler.errors import ConfigError, StalePlanError
from reconciler.model import (
    LiveUser,
    absent_fingerprint,
    email_key,
    provisioning_fingerprint,
)
from reconciler.plan.model import Change, Plan
from reconciler.redact import safe_url

_USER_KINDS = (ChangeKind.UPDATE, ChangeKind.DEACTIVATE, ChangeKind.REACTIVATE, ChangeKind.DELETE)
_PROVISIONING_KINDS = (ChangeKind.GRANT, ChangeKind.REVOKE)

# Above this many single-user reads, one full read of users (a few pages) is cheaper.
BULK_READ_THRESHOLD = 25

K = TypeVar("K")
V = TypeVar("V")


def _normalise_target(target: str) -> str:
    return target.strip().rstrip("/").casefold()


def check_target(plan: Plan, backend: Backend) -> None:
    if _normalise_target(plan.target) != _normalise_target(backend.target):
        # a plan file is not trusted to hold a clean URL: it may have been edited
        raise ConfigError(
            f"this plan was made for {safe_url(plan.target)}, but this run is connected "
            f"to {backend.target}; nothing was changed. Plan again against the right tenant."
        )


def check_fresh(plan: Plan, backend: Backend, *, concurrency: int = 4) -> None:
    """Raise `StalePlanError` naming every change whose live record moved on."""
    check_target(plan, backend)
    checked = [c for c in plan.changes if c.fingerprint is not None]
    emails = {email_key(c.email) for c in checked if c.kind is ChangeKind.CREATE}
    user_ids = {c.user_id for c in checked if c.kind in _USER_KINDS and c.user_id}
    product_ids = {c.product_id for c in checked if c.kind in _PROVISIONING_KINDS and c.product_id}

    if len(emails) + len(user_ids) > BULK_READ_THRESHOLD:
        live = backend.read_live(sorted(product_ids))
        by_email: dict[str, LiveUser | None] = {e: live.users.get(e) for e in emails}
        by_id = live.users_by_id()
        users: dict[str, LiveUser | None] = {i: by_id.get(i) for i in user_ids}
        provisioned = {p: live.provisioning.get(p, frozenset()) for p in product_ids}
    else:
        by_email = _read_all(emails, backend.find_user_by_email, concurrency)
        users = _read_all(user_ids, backend.get_user, concurrency)
        provisioned = _read_all(product_ids, backend.list_provisioned, concurrency)

    problems: list[str] = []
    for change in checked:
        now = _current_fingerprint(change, by_email, users, provisioned)
        if now != change.fingerprint:
            problems.append(_describe(change, by_email, users))
        elif (other := _another_users_email(change, users)) is not None:
            # only an edited file gets here: the plan would show one user and act on another
            problems.append(
                f"{change.id} {change.kind.value} {change.email}: user {change.user_id} "
                f"is {other}, not the user the plan names"
            )
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        count = len(problems)
        changes = "1 change depends" if count == 1 else f"{count} changes depend"
        raise StalePlanError(
            f"plan is stale: {changes} on live records that changed since the plan "
            f"was made (at {plan.created_at}):\n"
            f"{listed}\nNothing was changed. Re-run plan and review the new plan."
        )


def _read_all(keys: Iterable[K], read: Callable[[K], V], concurrency: int) -> dict[K, V]:
    ordered = sorted(keys)  # type: ignore[type-var]
    if not ordered:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return dict(zip(ordered, pool.map(read, ordered), strict=True))


def _current_fingerprint(
    change: Change,
    by_email: dict[str, LiveUser | None],
    users: dict[str, LiveUser | None],
    provisioned: dict[str, frozenset[str]],
) -> str | None:
    if change.kind is ChangeKind.CREATE:
        existing = by_email[email_key(change.email)]
        return absent_fingerprint(change.email) if existing is None else existing.fingerprint()
    if change.kind in _USER_KINDS:
        user = users.get(change.user_id or "")
        return None if user is None else user.fingerprint()
    product_id = change.product_id or ""
    granted = change.user_id is not None and change.user_id in provisioned[product_id]
    return provisioning_fingerprint(product_id, change.user_id, granted)


def _another_users_email(change: Change, users: dict[str, LiveUser | None]) -> str | None:
    """The live email of the user a change acts on, when it is not the email it shows."""
    if change.kind not in _USER_KINDS:
        return None
    user = users.get(change.user_id or "")
    if user is None or email_key(user.email) == email_key(change.email):
        return None
    return user.email


def _describe(
    change: Change,
    by_email: dict[str, LiveUser | None],
    users: dict[str, LiveUser | None],
) -> str:
    label = f"{change.id} {change.kind.value} {change.email}"
    if change.kind is ChangeKind.CREATE:
        return f"{label}: a user with this email now exists"
    if change.kind in _USER_KINDS:
        if users.get(change.user_id or "") is None:
            return f"{label}: the user no longer exists"
        return f"{label}: the user was changed"
    product = change.product or change.product_id
    if change.kind is ChangeKind.GRANT:
        return f"{label}: access to {product} was changed (already granted?)"
    return f"{label}: access to {product} was changed (already revoked?)"
