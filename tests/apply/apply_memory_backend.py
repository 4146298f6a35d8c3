"""A small in-memory `Backend` for executor tests: seats, refusals and injected faults
behave like the API contract says, without a server."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from reconciler.backends.base import NewUser, RequestStats
from reconciler.backends.planview.contract import CAPABILITIES
from reconciler.errors import ApiError, TransportError
from reconciler.model import AuditEvent, LiveProduct, LiveState, LiveUser, email_key


class MemoryBackend:
    target = "https://tenant.example.test"
    # Behaves like the API contract, so it declares what Planview declares.
    capabilities = CAPABILITIES

    def __init__(
        self,
        users: Collection[LiveUser] = (),
        products: Collection[LiveProduct] = (),
        provisioning: Mapping[str, Collection[str]] | None = None,
    ):
        self.users: dict[str, LiveUser] = {u.id: u for u in users}
        self.products: dict[str, LiveProduct] = {p.id: p for p in products}
        self.provisioning: dict[str, set[str]] = {p.id: set() for p in products}
        for pid, uids in (provisioning or {}).items():
            self.provisioning[pid] = set(uids)
        # (method, key) -> exception to raise; key is the email, user id or (pid, uid).
        self.faults: dict[tuple[str, Any], Exception] = {}
        self.writes: list[tuple[str, Any]] = []
        self.reads: list[tuple[str, Any]] = []
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- helpers
    def _fault(self, method: str, key: Any) -> None:
        fault = self.faults.get((method, key))
        if fault is not None:
            raise fault

    def _user(self, user_id: str) -> LiveUser:
        user = self.users.get(user_id)
        if user is None:
            raise ApiError("not found", status=404, code="NotFound", detail="no such user")
        return user

    def by_email(self, email: str) -> LiveUser | None:
        return next((u for u in self.users.values() if u.key == email_key(email)), None)

    # ---------------------------------------------------------------- reads
    def read_live(
        self,
        product_ids: Collection[str] | None = None,
        *,
        products: Sequence[LiveProduct] | None = None,
    ) -> LiveState:
        with self._lock:
            self.reads.append(("read_live", tuple(product_ids or ())))
            wanted = self.products if product_ids is None else product_ids
            return LiveState(
                users={u.key: u for u in self.users.values()},
                products=dict(self.products),
                provisioning={p: frozenset(self.provisioning.get(p, ())) for p in wanted},
            )

    def list_products(self) -> list[LiveProduct]:
        return list(self.products.values())

    def get_user(self, user_id: str) -> LiveUser | None:
        with self._lock:
            self.reads.append(("get_user", user_id))
            return self.users.get(user_id)

    def find_user_by_email(self, email: str) -> LiveUser | None:
        with self._lock:
            self.reads.append(("find_user_by_email", email))
            return self.by_email(email)

    def list_provisioned(self, product_id: str) -> frozenset[str]:
        with self._lock:
            self.reads.append(("list_provisioned", product_id))
            return frozenset(self.provisioning.get(product_id, ()))

    def audit_events(self, since: datetime) -> Iterator[AuditEvent]:
        return iter(())

    def user_audit(self, user_id: str) -> Iterator[AuditEvent]:
        return iter(())

    # ---------------------------------------------------------------- writes
    def create_user(self, user: NewUser) -> LiveUser:
        with self._lock:
            self._fault("create_user", user.email)
            if self.by_email(user.email) is not None:
                raise ApiError("exists", status=409, code="UserExists", detail="email taken")
            created = LiveUser(
                id=f"u-{next(self._ids)}",
                email=user.email,
                first_name=user.first_name,
                last_name=user.last_name,
                role=user.role or "User",
                password_required=bool(user.password_required),
                status="pending",
            )
            self.users[created.id] = created
            self.writes.append(("create_user", user.email))
            return created

    def update_user(self, user_id: str, fields: Mapping[str, Any]) -> LiveUser:
        with self._lock:
            self._fault("update_user", user_id)
            updated = replace(self._user(user_id), **fields)
            self.users[user_id] = updated
            self.writes.append(("update_user", user_id))
            return updated

    def _set_status(self, user_id: str, status: str, method: str) -> LiveUser:
        with self._lock:
            self._fault(method, user_id)
            updated = replace(self._user(user_id), status=status)
            self.users[user_id] = updated
            if status == "deactivated":
                for holders in self.provisioning.values():
                    holders.discard(user_id)
            self.writes.append((method, user_id))
            return updated

    def deactivate_user(self, user_id: str) -> LiveUser:
        return self._set_status(user_id, "deactivated", "deactivate_user")

    def reactivate_user(self, user_id: str) -> LiveUser:
        return self._set_status(user_id, "active", "reactivate_user")

    def delete_user(self, user_id: str) -> None:
        with self._lock:
            self._fault("delete_user", user_id)
            self._user(user_id)
            del self.users[user_id]
            for holders in self.provisioning.values():
                holders.discard(user_id)
            self.writes.append(("delete_user", user_id))

    def grant(self, product_id: str, user_id: str) -> None:
        with self._lock:
            self._fault("grant", (product_id, user_id))
            user = self._user(user_id)
            holders = self.provisioning[product_id]
            if user_id in holders:
                return
            if user.status == "deactivated":
                raise ApiError("refused", status=400, code="UserDeactivated", detail="deactivated")
            seats = self.products[product_id].seats
            if seats is not None and len(holders) >= seats:
                raise ApiError(
                    "no seats", status=409, code="NoSeatsAvailable", detail="all seats are taken"
                )
            holders.add(user_id)
            self.writes.append(("grant", (product_id, user_id)))

    def revoke(self, product_id: str, user_id: str) -> None:
        with self._lock:
            self._fault("revoke", (product_id, user_id))
            self.provisioning[product_id].discard(user_id)
            self.writes.append(("revoke", (product_id, user_id)))

    # ---------------------------------------------------------------- accounting
    def stats(self) -> RequestStats:
        return RequestStats(requests=len(self.reads) + len(self.writes))

    def estimate_requests(self, kind: str) -> int:
        return 1

    def close(self) -> None:
        pass


def transport_failure() -> TransportError:
    return TransportError("connection reset by the server after 3 attempts")
