"""What the emulator's audit log says a run did, checked against the plans it ran.

The audit log is the tenant's own record of every write that took effect, so it sees
what the client cannot: a write repeated after a lost answer, a user created twice, a
removal nobody planned.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# audit action -> plan change kind
ACTION_KIND = {
    "user.created": "create",
    "user.updated": "update",
    "user.deactivated": "deactivate",
    "user.reactivated": "reactivate",
    "user.deleted": "delete",
    "product.provisioned": "grant",
    "product.deprovisioned": "revoke",
}
# neutral plan field -> Planview field in an audit event's `changes`
API_FIELD = {
    "first_name": "firstName",
    "last_name": "lastName",
    "role": "role",
    "password_required": "passwordRequired",
}

Key = tuple[str, str, str | None]  # (kind, case-folded email, product id)


def change_key(change: Mapping[str, Any]) -> Key:
    product = change.get("product_id") if change["kind"] in ("grant", "revoke") else None
    return (change["kind"], change["email"].casefold(), product)


def event_key(event: Mapping[str, Any]) -> Key:
    kind = ACTION_KIND[event["action"]]
    product = event.get("productId") if kind in ("grant", "revoke") else None
    return (kind, (event.get("userEmail") or "").casefold(), product)


def client_events(audit: Sequence[Mapping[str, Any]], after: int) -> list[Mapping[str, Any]]:
    """Events recorded after the first `after` ones, made by an API client."""
    return [e for e in audit[after:] if e.get("actor", {}).get("type") == "client"]


def check_audit(
    plans: Sequence[Mapping[str, Any]],
    audit: Sequence[Mapping[str, Any]],
    *,
    after: int,
    final_users: Iterable[Mapping[str, Any]],
) -> list[str]:
    """Every problem the audit log shows with runs of `plans` (the first plan first).

    - no user created twice (in the log, and no two live users share an email);
    - every write the log shows is a change of the first plan, made once;
    - a later plan only repeats what the first plan had (nothing new appears);
    - an update changed only the fields its change named.
    """
    problems: list[str] = []
    first = {change_key(c): c for c in plans[0]["changes"]}
    for later in plans[1:]:
        for change in later["changes"]:
            if change_key(change) not in first:
                problems.append(f"a later plan has {change_key(change)}, not in the first plan")

    events = client_events(audit, after)
    seen = Counter(event_key(e) for e in events)
    for key, times in sorted(seen.items(), key=str):
        if key not in first:
            problems.append(f"the log shows {key} {times}x, which no plan contained")
        elif times > 1:
            problems.append(f"the log shows {key} {times} times; the plan had it once")
    for event in events:
        key = event_key(event)
        if key[0] == "update" and key in first:
            wanted = {API_FIELD[f] for f in (first[key].get("after") or {})}
            extra = set(event.get("changes") or {}) - wanted
            if extra:
                problems.append(f"update of {key[1]} changed {sorted(extra)}, not planned")

    emails = Counter(u["email"].casefold() for u in final_users)
    problems += [f"{email} exists {n} times" for email, n in emails.items() if n > 1]
    return problems


def missing_from_log(
    plan: Mapping[str, Any], audit: Sequence[Mapping[str, Any]], *, after: int
) -> list[Key]:
    """Changes of `plan` the log does not show as done (after convergence: none)."""
    done = {event_key(e) for e in client_events(audit, after)}
    return [change_key(c) for c in plan["changes"] if change_key(c) not in done]
