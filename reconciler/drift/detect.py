"""Turn a plan into drift: every change the plan would make is a difference someone
(or something) introduced, grouped per user. Attribution comes later."""

from __future__ import annotations

from reconciler.changes import ChangeKind
from reconciler.drift.report import DriftedUser, DriftItem, UserState
from reconciler.model import MANAGED_FIELDS, DesiredState, LiveState, email_key
from reconciler.plan.model import Plan

_FIELD_ORDER = {name: n for n, name in enumerate(MANAGED_FIELDS)}


def detect(plan: Plan, desired: DesiredState, live: LiveState) -> list[DriftedUser]:
    desired_users = {u.key: u for u in desired.users}
    per_user: dict[str, list[DriftItem]] = {}
    states: dict[str, UserState] = {}
    emails: dict[str, str] = {}
    ids: dict[str, str | None] = {}
    changed_at: dict[str, str | None] = {}

    for change in plan.changes:
        key = email_key(change.email)
        emails.setdefault(key, change.email)
        live_user = live.users.get(key)
        ids.setdefault(key, live_user.id if live_user else change.user_id)
        changed_at.setdefault(key, live_user.updated_at if live_user else None)
        items = per_user.setdefault(key, [])
        before, after = change.before or {}, change.after or {}

        if change.kind is ChangeKind.CREATE:
            states[key] = "deleted_out_of_band"
            want = desired_users.get(key)
            products = sorted(want.products) if want else after.get("products", [])
            items.append(
                DriftItem(kind="missing", desired={**after, "products": products}, live=None)
            )
        elif change.kind is ChangeKind.GRANT and states.get(key) == "deleted_out_of_band":
            # Creates run in an earlier phase than grants, so the create was seen: the
            # grant is part of the "missing" item.
            continue
        elif change.kind is ChangeKind.UPDATE:
            for name in sorted(after, key=lambda n: _FIELD_ORDER.get(n, len(_FIELD_ORDER))):
                items.append(
                    DriftItem(kind="field", field=name, desired=after[name], live=before.get(name))
                )
        elif change.kind in (ChangeKind.DEACTIVATE, ChangeKind.DELETE):
            if key in desired_users:
                items.append(DriftItem(kind="status", field="status", desired=False, live=True))
            else:
                states[key] = "created_out_of_band"
                status = live_user.status if live_user else before.get("status", "active")
                items.insert(0, DriftItem(kind="unlisted", desired=None, live={"status": status}))
        elif change.kind is ChangeKind.REACTIVATE:
            items.append(DriftItem(kind="status", field="status", desired=True, live=False))
        elif change.kind in (ChangeKind.GRANT, ChangeKind.REVOKE):
            granted = change.kind is ChangeKind.GRANT
            items.append(
                DriftItem(
                    kind="product",
                    product=change.product,
                    product_id=change.product_id,
                    desired=granted,
                    live=not granted,
                )
            )

    result = []
    for key in sorted(per_user, key=lambda k: (k, emails[k])):
        items = per_user[key]
        if not items:
            continue
        want = desired_users.get(key)
        result.append(
            DriftedUser(
                email=want.email if want else emails[key],
                state=states.get(key, "changed"),
                items=tuple(_ordered(items)),
                user_id=ids.get(key),
                source=str(want.pos) if want and want.pos else None,
                changed_at=changed_at.get(key),
            )
        )
    return result


def _ordered(items: list[DriftItem]) -> list[DriftItem]:
    rank = {"missing": 0, "unlisted": 0, "status": 1, "field": 2, "product": 3}

    def key(item: DriftItem) -> tuple[int, int, str]:
        return (
            rank[item.kind],
            _FIELD_ORDER.get(item.field or "", 0),
            item.product or item.product_id or "",
        )

    return sorted(items, key=key)
