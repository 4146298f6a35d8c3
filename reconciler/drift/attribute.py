"""Find, for each difference, the latest audit event that explains it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from reconciler.drift.report import Attribution, DriftedUser, DriftItem
from reconciler.model import AuditEvent, AuditKind, email_key, parse_timestamp

_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def parse_time(text: str | None) -> datetime:
    """ISO-8601 (with `Z` or an offset) as an aware datetime; naive means UTC. A
    missing or unreadable time sorts first."""
    return parse_timestamp(text) or _EPOCH


def utc_text(moment: datetime) -> str:
    """`2026-11-28T12:00:00Z`: the form the API and the reports use."""
    utc = moment.astimezone(timezone.utc).replace(microsecond=0)
    return utc.isoformat().replace("+00:00", "Z")


def _norm(name: str) -> str:
    """`first_name`, `firstName` and `FirstName` are the same field: backends may report
    audit changes under the API's keys or the neutral ones."""
    return name.replace("_", "").replace("-", "").casefold()


def _field_change(event: AuditEvent, field: str) -> tuple[bool, Any, Any]:
    for key, value in (event.changes or {}).items():
        if _norm(key) == _norm(field):
            if isinstance(value, dict):
                return True, value.get("from"), value.get("to")
            return True, None, value
    return False, None, None


class EventIndex:
    """The events of the audit history that may concern the drifted users."""

    def __init__(self, events: Iterable[AuditEvent]):
        self.by_user_id: dict[str, list[tuple[int, AuditEvent]]] = {}
        self.by_email: dict[str, list[tuple[int, AuditEvent]]] = {}
        for n, event in enumerate(events):
            if event.user_id:
                self.by_user_id.setdefault(event.user_id, []).append((n, event))
            if event.user_email:
                self.by_email.setdefault(email_key(event.user_email), []).append((n, event))

    def for_user(self, user_id: str | None, email: str) -> list[AuditEvent]:
        """Oldest first. By id when the user exists (an email may have been reused by a
        user deleted earlier), by email otherwise."""
        if user_id:
            found = self.by_user_id.get(user_id, [])
        else:
            found = self.by_email.get(email_key(email), [])
        # Sort by time; the position in the log breaks ties between equal timestamps.
        return [
            e for _, e in sorted(found, key=lambda pair: (parse_time(pair[1].timestamp), pair[0]))
        ]


def _latest(events: list[AuditEvent], predicate: Callable[[AuditEvent], bool]) -> AuditEvent | None:
    for event in reversed(events):
        if predicate(event):
            return event
    return None


def _attribution(event: AuditEvent, from_value: Any = None, to_value: Any = None) -> Attribution:
    return Attribution(
        event_id=event.id,
        action=event.action,
        timestamp=event.timestamp,
        actor_type=event.actor_type,
        actor_id=event.actor_id,
        actor_email=event.actor_email,
        from_value=from_value,
        to_value=to_value,
        actor_kind=event.actor_kind,
        actor_name=event.actor_name,
    )


def explain_item(item: DriftItem, events: list[AuditEvent]) -> Attribution | None:
    """By the events' neutral `kind`: each backend maps its own action names onto it."""
    if item.kind == "field" and item.field:
        name = item.field
        updated = _latest(events, lambda e: e.kind == "user_updated" and _field_change(e, name)[0])
        if updated is not None:
            _, old, new = _field_change(updated, name)
            return _attribution(updated, old, new)
        # Never updated since: the value it was created with is the explanation.
        created = _latest(events, lambda e: e.kind == "user_created")
        return _attribution(created, None, item.live) if created else None
    if item.kind == "status":
        wanted: tuple[AuditKind, ...] = (
            ("user_deactivated",) if item.live is False else ("user_reactivated", "user_created")
        )
        found = _latest(events, lambda e: e.kind in wanted)
        return _attribution(found) if found else None
    if item.kind == "product":
        kind: AuditKind = "access_revoked" if item.desired else "access_granted"
        found = _latest(events, lambda e: e.kind == kind and e.product_id == item.product_id)
        return _attribution(found) if found else None
    if item.kind == "missing":
        found = _latest(events, lambda e: e.kind == "user_deleted")
        return _attribution(found) if found else None
    if item.kind == "unlisted":
        found = _latest(events, lambda e: e.kind in ("user_created", "user_reactivated"))
        return _attribution(found) if found else None
    return None


def attribute(users: list[DriftedUser], index: EventIndex) -> list[DriftedUser]:
    result = []
    for user in users:
        # A user deleted out of band has no live id: only the email can find it.
        events = index.for_user(
            None if user.state == "deleted_out_of_band" else user.user_id, user.email
        )
        result.append(
            user.with_items(
                tuple(replace(i, attribution=explain_item(i, events)) for i in user.items)
            )
        )
    return result
