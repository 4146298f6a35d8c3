"""Reading the audit history as cheaply as the rate budget allows.

Two ways to learn who changed a drifted user: the customer's audit log since a point
in time (one request per page, covering everyone), or each drifted user's own history
(at least one request per user). The rate limit is shared with every other
integration of the customer, so drift picks the one expected to cost fewer requests,
and gives up on the customer log for the per-user histories once the log has cost as
much as they would: a wrong estimate then costs at most twice the cheaper way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from reconciler.backends.base import Backend
from reconciler.backends.capabilities import Capabilities
from reconciler.drift.attribute import parse_time, utc_text
from reconciler.drift.report import AuditReading, DriftedUser
from reconciler.model import ActorKind, AuditEvent, LiveState, email_key

log = logging.getLogger(__name__)

# "unavailable": the backend has no audit log (`Capabilities.has_audit_log`).
Source = Literal["customer_log", "per_user", "none", "unavailable"]


@dataclass(frozen=True, slots=True)
class AuditChoice:
    source: Source
    per_user_requests: int | None  # None: per-user histories cannot explain every user
    log_requests: int
    reason: str


def choose_source(
    users: list[DriftedUser], live: LiveState, since: datetime, capabilities: Capabilities
) -> AuditChoice:
    """Estimate both ways in requests and pick the cheaper.

    The page size of the audit listings is the backend's (`audit_page_size`); it is only
    used to estimate, the backend's pager does the real paging. A backend without an
    audit log gets no reading at all.

    The customer log's length is not known before reading it; every live user updated
    since `since` left at least one event in it, and so did every difference found,
    so their larger count is the estimate. Paging stops on a short page, so a log of
    exactly k full pages costs k + 1 requests."""
    if not capabilities.has_audit_log:
        return AuditChoice(
            "unavailable",
            0,
            0,
            f"the {capabilities.name} backend has no audit log, so the differences are not "
            "attributed to anyone",
        )
    if not users:
        return AuditChoice("none", 0, 0, "nothing drifted, so no audit history is needed")
    page_size = max(1, capabilities.audit_page_size or capabilities.max_page_size)
    recent = sum(1 for u in live.users.values() if parse_time(u.updated_at) >= since)
    differences = sum(len(u.items) for u in users)
    log_requests = max(recent, differences) // page_size + 1
    with_id = [u for u in users if u.user_id and u.state != "deleted_out_of_band"]
    if len(with_id) < len(users):
        return AuditChoice(
            "customer_log",
            None,
            log_requests,
            "users deleted out of band have no history of their own to read, only the "
            "customer audit log names them",
        )
    per_user = len(with_id)
    if per_user < log_requests:
        return AuditChoice(
            "per_user",
            per_user,
            log_requests,
            f"reading the history of {_n(per_user, 'drifted user')} one by one costs about "
            f"{_n(per_user, 'request')}, fewer than the customer log's estimated "
            f"{_n(log_requests, 'page')} ({max(recent, differences)} events or more)",
        )
    return AuditChoice(
        "customer_log",
        per_user,
        log_requests,
        f"the customer log should take about {_n(log_requests, 'request')}, no more than "
        f"reading the history of {_n(per_user, 'drifted user')} one by one "
        f"({_n(per_user, 'request')})",
    )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def read_audit(
    backend: Backend, users: list[DriftedUser], choice: AuditChoice, since: datetime
) -> tuple[list[AuditEvent], AuditReading]:
    since_text = utc_text(since)
    if choice.source in ("none", "unavailable"):
        return [], AuditReading(choice.source, since_text, 0, 0, choice.reason)
    log.info("audit history: %s", choice.reason)
    start = backend.stats().requests
    source: Source = choice.source
    reason = choice.reason
    events: list[AuditEvent] | None = None
    if source == "customer_log":
        events = _read_log(backend, since, budget=choice.per_user_requests, start=start)
        if events is None:
            spent = backend.stats().requests - start
            reason = (
                f"the customer log was longer than estimated: after {spent} requests it "
                f"was switched for the {choice.per_user_requests} per-user histories"
            )
            log.info("audit history: %s", reason)
            source = "per_user"
    if events is None:
        events = []
        for user in users:
            if user.user_id:
                events.extend(
                    e for e in backend.user_audit(user.user_id) if parse_time(e.timestamp) >= since
                )
    spent = backend.stats().requests - start
    log.info("audit history: %s read in %s", _n(len(events), "event"), _n(spent, "request"))
    return events, AuditReading(source, since_text, spent, len(events), reason)


def _read_log(
    backend: Backend, since: datetime, *, budget: int | None, start: int
) -> list[AuditEvent] | None:
    """The whole customer log since `since`, or None once it has cost more than
    `budget` requests (when per-user histories are the alternative)."""
    events: list[AuditEvent] = []
    stream: Iterator[AuditEvent] = iter(backend.audit_events(since))
    try:
        for event in stream:
            events.append(event)
            if budget is not None and backend.stats().requests - start > budget:
                return None
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return events


# Who created a user: (actor kind, the actor in words), as the plan shows it.
Creator = tuple[ActorKind, str]


def read_creators(
    backend: Backend, users: Sequence[tuple[str, str]], live_users: int
) -> dict[str, Creator]:
    """Who created each of `users` ((id, email) pairs), by `email_key`, for the plan.

    The cheaper of the two ways drift weighs: one history read per user, or the whole
    customer log (at least one event per live user, so `live_users` events). The log
    is abandoned for the per-user reads once it has cost as much as they would; those
    are read concurrently (`Backend.user_audits`). Users whose creation the log no
    longer holds are left out; so is everyone when the backend has no audit log."""
    if not backend.capabilities.has_audit_log or not users:
        return {}
    caps = backend.capabilities
    page_size = max(1, caps.audit_page_size or caps.max_page_size)
    log_requests = live_users // page_size + 1
    start = backend.stats().requests
    events: list[AuditEvent] | None = None
    if log_requests < len(users):
        log.info(
            "creators of %s: the customer log (about %s)",
            _n(len(users), "user"),
            _n(log_requests, "request"),
        )
        events = _read_log(backend, _EPOCH, budget=len(users), start=start)
    if events is None:
        log.info("creators of %s: one history read each", _n(len(users), "user"))
        # One after another, a hundred removals cost a hundred round trips; read at
        # once (within the connection's concurrency) they cost a few. Taken in the
        # order of `users`, so the latest creation wins ties as it did read serially.
        histories = backend.user_audits([user_id for user_id, _ in users])
        events = [e for user_id, _ in users for e in histories[user_id]]
    wanted = {user_id: email_key(email) for user_id, email in users}
    keys = set(wanted.values())
    found: dict[str, tuple[datetime, Creator]] = {}
    for event in events:
        if event.kind != "user_created":
            continue
        key = wanted.get(event.user_id or "") or email_key(event.user_email or "")
        if key not in keys:
            continue
        moment = parse_time(event.timestamp)
        # The latest creation: an email deleted and created again belongs to its newest user.
        if key not in found or moment >= found[key][0]:
            found[key] = (moment, (event.actor_kind, _actor(event)))
    log.info(
        "creators: %s of %s found in %s",
        len(found),
        len(users),
        _n(backend.stats().requests - start, "request"),
    )
    return {key: creator for key, (_, creator) in found.items()}


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _actor(event: AuditEvent) -> str:
    """The actor in words, as drift's attribution names it."""
    if event.actor_kind == "api_client":
        return f"API client {event.actor_id or event.actor_name or 'unknown'}"
    if event.actor_kind == "system":
        return event.actor_name or "the product sync"
    return event.actor_email or event.actor_name or f"user {event.actor_id or 'unknown'}"
