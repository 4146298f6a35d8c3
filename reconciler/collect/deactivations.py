"""When were the candidates of `settings.deleteDeactivatedAfter` deactivated?

Read only when the setting is on and the backend can delete, and only for the users
the grace period could concern: in scope, not listed, not protected, deactivated. One
`user_audit` read each (its pages, for a long history); a backend without an audit
log costs nothing more, and the record's `updatedAt` stands in for the time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from reconciler.backends.base import Backend
from reconciler.diff.scope import Scope
from reconciler.model import (
    AuditEvent,
    Deactivation,
    DesiredState,
    LiveState,
    LiveUser,
    parse_timestamp,
)

log = logging.getLogger(__name__)

# Several histories at once, well under the rate budget's concurrency.
_WORKERS = 4


def grace_candidates(desired: DesiredState, live: LiveState, *, can_delete: bool) -> list[LiveUser]:
    """The users whose deactivation time the plan needs (none when the setting is off)."""
    settings = desired.settings
    if (
        settings.delete_deactivated_after is None
        or settings.unmanaged_users != "deactivate"
        or not can_delete
    ):
        return []
    scope = Scope(settings)
    listed = {user.key for user in desired.users}
    return [
        user
        for key, user in live.users.items()
        if user.status == "deactivated"
        and key not in listed
        and scope.contains(user.email)
        and scope.protected_by(user.email) is None
    ]


def collect_deactivations(
    backend: Backend, desired: DesiredState, live: LiveState, *, now: datetime | None = None
) -> None:
    """Fill `live.deactivations` and `live.read_at` for the grace-period candidates."""
    caps = backend.capabilities
    candidates = grace_candidates(desired, live, can_delete=caps.supports_delete)
    if desired.settings.delete_deactivated_after is None:
        return
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    live.read_at = moment.isoformat().replace("+00:00", "Z")
    if not candidates:
        return
    if not caps.has_audit_log:
        log.info(
            "the %s backend has no audit log: the deactivation time of %d user(s) is their "
            "record's last update",
            caps.name,
            len(candidates),
        )
        for user in candidates:
            live.deactivations[user.id] = _from_record(user)
        return
    log.info("reading the audit history of %d deactivated user(s) not listed", len(candidates))
    with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="deactivations") as pool:
        found = pool.map(lambda u: (u, _from_history(u, backend.user_audit(u.id))), candidates)
        for user, deactivation in found:
            live.deactivations[user.id] = deactivation


def _from_history(user: LiveUser, events: Iterable[AuditEvent]) -> Deactivation:
    """The latest deactivation event; the record's `updatedAt` when the history has none
    (it may be older than the log keeps)."""
    latest: tuple[datetime, str] | None = None
    for event in events:
        moment = parse_timestamp(event.timestamp) if event.kind == "user_deactivated" else None
        if moment is not None and (latest is None or moment >= latest[0]):
            latest = (moment, event.timestamp)
    if latest is not None:
        return Deactivation(latest[1], "audit_log")
    return _from_record(user)


def _from_record(user: LiveUser) -> Deactivation:
    if parse_timestamp(user.updated_at) is not None:
        return Deactivation(user.updated_at, "updated_at")
    return Deactivation(None, "unknown")
