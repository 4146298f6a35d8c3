"""One customer's records and every change that can be made to them.

The HTTP layer and the out-of-band admin route both call these methods; each change
appends an audit event naming who made it (an API client or a person). Records are
kept as the API's own JSON dicts so that serving them costs no conversion.
"""

from __future__ import annotations

import bisect
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from reconciler.emulator.records import OrderedRecords

ROLES = ("Administrator", "User")
STATUSES = ("Active", "Pending", "Deactivated")
SEAT_HOLDING = frozenset({"Active", "Pending"})
EDITABLE_FIELDS = ("firstName", "lastName", "role", "passwordRequired")
USER_KEYS = (
    "id",
    "email",
    "firstName",
    "lastName",
    "role",
    "passwordRequired",
    "status",
    "lastLogin",
    "createdAt",
    "updatedAt",
)
# The characters str.isspace() takes, spelt out: Python's and ECMA-262's `\s` differ, and
# the OpenAPI description (EmailAddress, Name) declares these very classes as patterns.
_BLANK = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# No @, no double quote, no control character or whitespace.
_EMAIL_CHAR = r'[^@"\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]'
_EMAIL = re.compile(f"{_EMAIL_CHAR}+@{_EMAIL_CHAR}+\\.{_EMAIL_CHAR}+")
_VISIBLE = re.compile(f"[^{_BLANK}]")
NAME_MAX = 100
EMAIL_MAX = 254

Actor = dict[str, Any]
# Who can act: a person in the web UI, an API client, or the service itself (its sync
# of users from connected products); a `system` actor also carries a `name`.
ACTOR_TYPES = ("user", "client", "system")


class ApiFailure(Exception):
    """A refusal the API reports as `{"status", "code", "detail"}`."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail

    def body(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "detail": self.detail}


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_iso(text: str) -> float:
    """Seconds since the epoch of an ISO-8601 timestamp (naive means UTC)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "system"


def validation(detail: str) -> ApiFailure:
    return ApiFailure(400, "ValidationError", detail)


def not_found(detail: str) -> ApiFailure:
    return ApiFailure(404, "NotFound", detail)


class Tenant:
    def __init__(self, *, clock: Callable[[], float] = time.time, id_seed: int = 0) -> None:
        self.clock = clock
        self.users: OrderedRecords[dict[str, Any]] = OrderedRecords()
        self.by_email: dict[str, str] = {}
        self.products: OrderedRecords[dict[str, Any]] = OrderedRecords()
        self.provisioning: dict[str, OrderedRecords[str]] = {}
        self.user_products: dict[str, set[str]] = {}
        self.seats_used: dict[str, int] = {}
        self.audit: list[dict[str, Any]] = []
        self.audit_times: list[float] = []
        self.user_audit: dict[str, list[dict[str, Any]]] = {}
        self._next_audit = 1
        self._ids = random.Random(f"emulator-ids-{id_seed}")

    # ------------------------------------------------------------------ lookups

    def user(self, user_id: str) -> dict[str, Any]:
        found = self.users.get(user_id)
        if found is None:
            raise not_found(f"No user with id {user_id!r}.")
        return found

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        user_id = self.by_email.get(email.casefold())
        return None if user_id is None else self.users.get(user_id)

    def product(self, product_id: str) -> dict[str, Any]:
        found = self.products.get(product_id)
        if found is None:
            raise not_found(f"No product with id {product_id!r}.")
        return found

    def provisioned(self, product_id: str) -> OrderedRecords[str]:
        self.product(product_id)
        return self.provisioning[product_id]

    def audit_since(self, since: float | None) -> int:
        """Index of the first audit event at or after `since` (epoch seconds)."""
        return 0 if since is None else bisect.bisect_left(self.audit_times, since)

    def admin_actor(self, email: str | None = None) -> Actor:
        """A person in the web UI: the named user, or the tenant's first active admin."""
        if email is not None:
            person = self.user_by_email(email)
            if person is None:
                raise validation(f"No user with email {email!r} to act as.")
            return {"type": "user", "id": person["id"], "email": person["email"]}
        for candidate in self.users.values():
            if candidate["role"] == "Administrator" and candidate["status"] == "Active":
                return {"type": "user", "id": candidate["id"], "email": candidate["email"]}
        return {"type": "user", "id": None, "email": "it-admin@example.com"}

    def acting_as(self, spec: Any) -> Actor:
        """The actor an out-of-band change is credited to.

        None: the tenant's first active admin; a string: the person with that email;
        an object `{"kind": "person", "email": ...}`, `{"kind": "api_client", "name":
        CLIENT_ID}` or `{"kind": "system", "name": ...}` (the service itself, e.g. its
        hourly sync of users from connected products; default name "Product sync")."""
        if spec is None or isinstance(spec, str):
            return self.admin_actor(spec)
        if not isinstance(spec, dict):
            raise validation("actor must be an email or an object with a kind.")
        unknown = sorted(set(spec) - {"kind", "name", "email"})
        if unknown:
            raise validation(f"actor does not take {', '.join(unknown)}.")
        kind, name, email = spec.get("kind"), spec.get("name"), spec.get("email")
        if name is not None and (not isinstance(name, str) or not _VISIBLE.search(name)):
            raise validation("actor.name must be a non-empty string.")
        if kind == "person":
            if name is not None:
                raise validation("a person is named by actor.email, not actor.name.")
            if email is not None and not isinstance(email, str):
                raise validation("actor.email must be a string.")
            return self.admin_actor(email)
        if email is not None:
            raise validation(f"an actor of kind {kind!r} has no email.")
        if kind == "api_client":
            return {"type": "client", "id": name or "other-integration", "email": None}
        if kind == "system":
            sync = name or "Product sync"
            return {"type": "system", "id": _slug(sync), "email": None, "name": sync}
        raise validation(f"actor.kind must be person, api_client or system, got {kind!r}.")

    # ------------------------------------------------------------------ user writes

    def new_user_id(self) -> str:
        while True:
            candidate = f"u-{self._ids.getrandbits(48):012x}"
            if candidate not in self.users:
                return candidate

    def create_user(self, body: Any, actor: Actor, *, status: str = "Pending") -> dict[str, Any]:
        if not isinstance(body, dict):
            raise validation("The request body must be a JSON object.")
        allowed = {"email", "firstName", "lastName", "role", "passwordRequired"}
        _reject_unknown(body, allowed)
        email = _email(body.get("email"))
        first = _name(body.get("firstName"), "firstName")
        last = _name(body.get("lastName"), "lastName")
        role = _role(body.get("role", "User"))
        password = _bool(body.get("passwordRequired", False), "passwordRequired")
        if email.casefold() in self.by_email:
            raise ApiFailure(409, "UserExists", f"A user with email {email!r} already exists.")
        now = iso(self.clock())
        user = {
            "id": self.new_user_id(),
            "email": email,
            "firstName": first,
            "lastName": last,
            "role": role,
            "passwordRequired": password,
            "status": status,
            "lastLogin": now if status == "Active" else None,
            "createdAt": now,
            "updatedAt": now,
        }
        self._insert_user(user)
        changes = {key: {"from": None, "to": user[key]} for key in ("email", *EDITABLE_FIELDS)}
        self.record("user.created", actor, user, changes=changes)
        return user

    def update_user(
        self, user_id: str, body: Any, actor: Actor, *, editable: Iterable[str] = EDITABLE_FIELDS
    ) -> dict[str, Any]:
        user = self.user(user_id)
        if not isinstance(body, dict):
            raise validation("The request body must be a JSON object.")
        editable = tuple(editable)
        _reject_unknown(body, set(editable), what="changeable")
        checked: dict[str, Any] = {}
        for key, value in body.items():
            if key in ("firstName", "lastName"):
                checked[key] = _name(value, key)
            elif key == "role":
                checked[key] = _role(value)
            elif key == "passwordRequired":
                checked[key] = _bool(value, key)
            elif key == "email":
                checked[key] = _email(value)
                holder = self.by_email.get(checked[key].casefold())
                if holder is not None and holder != user_id:
                    raise ApiFailure(
                        409, "UserExists", f"A user with email {value!r} already exists."
                    )
        changes = {
            key: {"from": user[key], "to": value}
            for key, value in checked.items()
            if user[key] != value
        }
        if changes:
            if "email" in changes:
                del self.by_email[user["email"].casefold()]
                self.by_email[checked["email"].casefold()] = user_id
            for key, change in changes.items():
                user[key] = change["to"]
            user["updatedAt"] = iso(self.clock())
            self.record("user.updated", actor, user, changes=changes)
        return user

    def deactivate_user(self, user_id: str, actor: Actor) -> dict[str, Any]:
        user = self.user(user_id)
        if user["status"] != "Deactivated":
            self._set_status(user, "Deactivated", actor, "user.deactivated")
        return user

    def reactivate_user(self, user_id: str, actor: Actor) -> dict[str, Any]:
        user = self.user(user_id)
        if user["status"] == "Deactivated":
            status = "Active" if user["lastLogin"] else "Pending"
            self._set_status(user, status, actor, "user.reactivated")
        return user

    def sign_in(self, user_id: str) -> dict[str, Any]:
        """The user signs in: an invitation is accepted. Not an audited admin change."""
        user = self.user(user_id)
        if user["status"] == "Deactivated":
            raise ApiFailure(400, "UserDeactivated", "A deactivated user cannot sign in.")
        user["status"] = "Active"
        user["lastLogin"] = iso(self.clock())
        return user

    def delete_user(self, user_id: str, actor: Actor) -> None:
        user = self.user(user_id)
        for product_id in sorted(self.user_products.get(user_id, ())):
            self._unlink(product_id, user)
        self.user_products.pop(user_id, None)
        self.users.remove(user_id)
        del self.by_email[user["email"].casefold()]
        self.record("user.deleted", actor, user)

    # ------------------------------------------------------------------ provisioning

    def grant(self, product_id: str, body: Any, actor: Actor) -> dict[str, Any]:
        product = self.product(product_id)
        if not isinstance(body, dict):
            raise validation("The request body must be a JSON object.")
        _reject_unknown(body, {"userId"})
        user_id = body.get("userId")
        if not isinstance(user_id, str) or not user_id:
            raise validation("userId is required and must be a string.")
        user = self.user(user_id)
        if user["status"] == "Deactivated":
            raise ApiFailure(
                400,
                "UserDeactivated",
                f"User {user['email']} is deactivated.",
            )
        holders = self.provisioning[product_id]
        if user_id in holders:
            raise ApiFailure(
                409,
                "AlreadyProvisioned",
                f"{user['email']} is already provisioned to {product['name']}.",
            )
        seats = product.get("seats")
        if seats is not None and self.seats_used[product_id] >= seats:
            raise ApiFailure(
                409,
                "NoSeatsAvailable",
                f"All {seats} seats of {product['name']} are taken.",
            )
        self._link(product_id, user)
        self.record("product.provisioned", actor, user, product_id=product_id)
        return {"userId": user_id, "email": user["email"]}

    def revoke(self, product_id: str, user_id: str, actor: Actor) -> None:
        product = self.product(product_id)
        user = self.users.get(user_id)
        if user is None or user_id not in self.provisioning[product_id]:
            raise not_found(f"User {user_id!r} is not provisioned to {product['name']}.")
        self._unlink(product_id, user)
        self.record("product.deprovisioned", actor, user, product_id=product_id)

    # ------------------------------------------------------------------ internals

    def _insert_user(self, user: dict[str, Any]) -> None:
        self.users.add(user["id"], user)
        self.by_email[user["email"].casefold()] = user["id"]
        self.user_products[user["id"]] = set()

    def _set_status(self, user: dict[str, Any], status: str, actor: Actor, action: str) -> None:
        before = user["status"]
        holds_before, holds_after = before in SEAT_HOLDING, status in SEAT_HOLDING
        if holds_before != holds_after:
            for product_id in self.user_products.get(user["id"], ()):
                self.seats_used[product_id] += 1 if holds_after else -1
        user["status"] = status
        user["updatedAt"] = iso(self.clock())
        self.record(action, actor, user, changes={"status": {"from": before, "to": status}})

    def _link(self, product_id: str, user: dict[str, Any]) -> None:
        self.provisioning[product_id].add(user["id"], user["id"])
        self.user_products.setdefault(user["id"], set()).add(product_id)
        if user["status"] in SEAT_HOLDING:
            self.seats_used[product_id] += 1

    def _unlink(self, product_id: str, user: dict[str, Any]) -> None:
        self.provisioning[product_id].remove(user["id"])
        self.user_products[user["id"]].discard(product_id)
        if user["status"] in SEAT_HOLDING:
            self.seats_used[product_id] -= 1

    def add_product(self, product: dict[str, Any]) -> None:
        self.products.add(product["id"], product)
        self.provisioning[product["id"]] = OrderedRecords()
        self.seats_used[product["id"]] = 0

    def record(
        self,
        action: str,
        actor: Actor,
        user: Mapping[str, Any] | None,
        *,
        product_id: str | None = None,
        changes: Mapping[str, Any] | None = None,
        at: float | None = None,
    ) -> dict[str, Any]:
        ts = self.clock() if at is None else at
        event = {
            "id": f"a-{self._next_audit}",
            "timestamp": iso(ts),
            "actor": dict(actor),
            "action": action,
            "userId": user["id"] if user else None,
            "userEmail": user["email"] if user else None,
            "productId": product_id,
            "changes": dict(changes or {}),
        }
        self._next_audit += 1
        self._append_event(event, float(int(ts)))
        return event

    def _append_event(self, event: dict[str, Any], ts: float) -> None:
        # Kept sorted by time for `since`; equal times keep their arrival order.
        if not self.audit_times or ts >= self.audit_times[-1]:
            self.audit.append(event)
            self.audit_times.append(ts)
        else:
            index = bisect.bisect_right(self.audit_times, ts)
            self.audit.insert(index, event)
            self.audit_times.insert(index, ts)
        user_id = event.get("userId")
        if user_id:
            self.user_audit.setdefault(user_id, []).append(event)

    # ------------------------------------------------------------------ state

    def to_state(self) -> dict[str, Any]:
        return {
            "users": [dict(user) for user in self.users.values()],
            "products": [dict(product) for product in self.products.values()],
            "provisioning": {
                product_id: list(holders) for product_id, holders in self.provisioning.items()
            },
            "audit": [
                {**event, "actor": dict(event["actor"]), "changes": dict(event["changes"])}
                for event in self.audit
            ],
        }

    @classmethod
    def from_state(
        cls, state: Any, *, clock: Callable[[], float] = time.time, id_seed: int = 0
    ) -> Tenant:
        """A tenant holding exactly `state`; ApiFailure(400) names the first problem."""
        if not isinstance(state, dict):
            raise validation("The state must be a JSON object.")
        _reject_unknown(
            state, {"users", "products", "provisioning", "audit"}, what="is a state key"
        )
        tenant = cls(clock=clock, id_seed=id_seed)
        now = iso(clock())
        users = state.get("users", [])
        if not isinstance(users, list):
            raise validation("state.users must be a list.")
        for index, raw in enumerate(users):
            tenant._insert_user(_state_user(raw, index, now, tenant))
        products = state.get("products", [])
        if not isinstance(products, list):
            raise validation("state.products must be a list.")
        for index, raw in enumerate(products):
            product = _state_product(raw, index)
            if product["id"] in tenant.products:
                raise validation(f"state.products[{index}]: duplicate id {product['id']!r}.")
            tenant.add_product(product)
        provisioning = state.get("provisioning", {})
        if not isinstance(provisioning, dict):
            raise validation("state.provisioning must map product ids to lists of user ids.")
        for product_id, user_ids in provisioning.items():
            if product_id not in tenant.products:
                raise validation(f"state.provisioning names unknown product {product_id!r}.")
            if not isinstance(user_ids, list):
                raise validation(f"state.provisioning[{product_id!r}] must be a list of user ids.")
            for user_id in user_ids:
                user = tenant.users.get(user_id) if isinstance(user_id, str) else None
                if user is None:
                    raise validation(
                        f"state.provisioning[{product_id!r}] names unknown user {user_id!r}."
                    )
                if user_id in tenant.provisioning[product_id]:
                    raise validation(
                        f"state.provisioning[{product_id!r}] names user {user_id!r} twice."
                    )
                tenant._link(product_id, user)
        audit = state.get("audit", [])
        if not isinstance(audit, list):
            raise validation("state.audit must be a list.")
        highest = 0
        for index, raw in enumerate(audit):
            event, number = _state_event(raw, index)
            highest = max(highest, number)
            tenant._append_event(event, float(int(parse_iso(event["timestamp"]))))
        tenant._next_audit = highest + 1
        return tenant


# ---------------------------------------------------------------------- field checks


def _reject_unknown(
    body: Mapping[str, Any], allowed: set[str], *, what: str = "is allowed"
) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise validation(
            f"Unknown field(s) {', '.join(unknown)}; only {', '.join(sorted(allowed))} are {what}."
        )


def _email(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise validation("email is required and must be a string.")
    if len(value) > EMAIL_MAX or not _EMAIL.fullmatch(value):
        raise validation(f"email {value!r} is not a valid email address.")
    return value


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _VISIBLE.search(value):
        raise validation(f"{field} is required and must be a non-empty string.")
    if len(value) > NAME_MAX:
        raise validation(f"{field} must be at most {NAME_MAX} characters.")
    return value


def _role(value: Any) -> str:
    if value not in ROLES:
        raise validation(f"role must be one of {', '.join(ROLES)}, got {value!r}.")
    return str(value)


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise validation(f"{field} must be true or false, got {value!r}.")
    return value


def _timestamp(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise validation(f"{where} must be an ISO-8601 timestamp string.")
    try:
        parse_iso(value)
    except ValueError:
        raise validation(f"{where} is not an ISO-8601 timestamp: {value!r}.") from None
    return value


def _state_user(raw: Any, index: int, now: str, tenant: Tenant) -> dict[str, Any]:
    where = f"state.users[{index}]"
    if not isinstance(raw, dict):
        raise validation(f"{where} must be an object.")
    _reject_unknown(raw, set(USER_KEYS), what="user fields")
    try:
        user_id = raw.get("id")
        if not isinstance(user_id, str) or not user_id:
            raise validation("id is required and must be a string.")
        if user_id in tenant.users:
            raise validation(f"duplicate id {user_id!r}.")
        email = _email(raw.get("email"))
        if email.casefold() in tenant.by_email:
            raise validation(f"duplicate email {email!r} (emails compare case-insensitively).")
        status = raw.get("status", "Active")
        if status not in STATUSES:
            raise validation(f"status must be one of {', '.join(STATUSES)}, got {status!r}.")
        last_login = raw.get("lastLogin")
        user = {
            "id": user_id,
            "email": email,
            "firstName": _name(raw.get("firstName"), "firstName"),
            "lastName": _name(raw.get("lastName"), "lastName"),
            "role": _role(raw.get("role", "User")),
            "passwordRequired": _bool(raw.get("passwordRequired", False), "passwordRequired"),
            "status": status,
            "lastLogin": None if last_login is None else _timestamp(last_login, "lastLogin"),
            "createdAt": _timestamp(raw.get("createdAt", now), "createdAt"),
            "updatedAt": _timestamp(raw.get("updatedAt", now), "updatedAt"),
        }
    except ApiFailure as exc:
        raise validation(f"{where}: {exc.detail}") from None
    return user


def _state_product(raw: Any, index: int) -> dict[str, Any]:
    where = f"state.products[{index}]"
    if not isinstance(raw, dict):
        raise validation(f"{where} must be an object.")
    _reject_unknown(raw, {"id", "name", "type", "environment", "seats"}, what="product fields")
    for key in ("id", "name"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise validation(f"{where}.{key} is required and must be a string.")
    for key in ("type", "environment"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise validation(f"{where}.{key} must be a string or null.")
    seats = raw.get("seats")
    if seats is not None and (isinstance(seats, bool) or not isinstance(seats, int) or seats < 0):
        raise validation(f"{where}.seats must be a non-negative integer or null.")
    return {
        "id": raw["id"],
        "name": raw["name"],
        "type": raw.get("type"),
        "environment": raw.get("environment"),
        "seats": seats,
    }


_EVENT_KEYS = {"id", "timestamp", "actor", "action", "userId", "userEmail", "productId", "changes"}


def _state_event(raw: Any, index: int) -> tuple[dict[str, Any], int]:
    where = f"state.audit[{index}]"
    if not isinstance(raw, dict):
        raise validation(f"{where} must be an object.")
    _reject_unknown(raw, _EVENT_KEYS, what="audit event fields")
    event_id = raw.get("id")
    match = re.fullmatch(r"a-(\d+)", event_id) if isinstance(event_id, str) else None
    if match is None:
        raise validation(f"{where}.id must look like 'a-<number>'.")
    actor = raw.get("actor")
    if not isinstance(actor, dict) or actor.get("type") not in ACTOR_TYPES:
        raise validation(
            f"{where}.actor must be an object whose type is 'user', 'client' or 'system'."
        )
    name = actor.get("name")
    if name is not None and not isinstance(name, str):
        raise validation(f"{where}.actor.name must be a string.")
    if not isinstance(raw.get("action"), str):
        raise validation(f"{where}.action must be a string.")
    changes = raw.get("changes") or {}
    if not isinstance(changes, dict):
        raise validation(f"{where}.changes must be an object.")
    event = {
        "id": event_id,
        "timestamp": _timestamp(raw.get("timestamp"), f"{where}.timestamp"),
        "actor": {
            "type": actor["type"],
            "id": actor.get("id"),
            "email": actor.get("email"),
            **({"name": name} if name is not None else {}),
        },
        "action": raw["action"],
        "userId": raw.get("userId"),
        "userEmail": raw.get("userEmail"),
        "productId": raw.get("productId"),
        "changes": changes,
    }
    return event, int(match.group(1))
