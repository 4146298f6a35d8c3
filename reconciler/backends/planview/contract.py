"""Every [modelled] fact about the Planview Admin API, in one place.

Paths, query parameters, page sizes and the mapping between Planview's JSON and the
neutral shapes of `reconciler.model` live here and nowhere else, so that matching the
real service (should it differ from `docs/api-contract.md`) is an edit of this file.
Parsers are strict: a mistyped record raises `ContractViolation`, which the transport
turns into a clear `TransportError` naming the endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from reconciler.backends.base import NewUser
from reconciler.backends.capabilities import Capabilities
from reconciler.model import ActorKind, AuditEvent, AuditKind, LiveProduct, LiveUser, Status


class ContractViolation(ValueError):
    """A response body does not have the shape the contract promises."""


# --------------------------------------------------------------------------- paths

TOKEN_PATH = "/io/v1/oauth2/token"
USERS = "/public/v1/user"
USER = "/public/v1/user/{id}"
USER_DEACTIVATE = "/public/v1/user/{id}/deactivate"
USER_REACTIVATE = "/public/v1/user/{id}/reactivate"
USER_AUDIT = "/public/v1/user/{id}/audit"
AUDIT = "/public/v1/audit"
PRODUCTS = "/public/v1/product"
PRODUCT_USERS = "/public/v1/product/{pid}/user"
PRODUCT_USER = "/public/v1/product/{pid}/user/{id}"

RATE_REMAINING_HEADER = "X-Rate-Limit-Remaining"


@dataclass(frozen=True, slots=True)
class Listing:
    """A paged list endpoint: its path template, page-size maximum and record id key."""

    template: str
    max_count: int
    id_key: str = "id"


LIST_USERS = Listing(USERS, 500)
LIST_PRODUCTS = Listing(PRODUCTS, 100)
LIST_PRODUCT_USERS = Listing(PRODUCT_USERS, 1000, id_key="userId")
LIST_USER_AUDIT = Listing(USER_AUDIT, 200)
LIST_AUDIT = Listing(AUDIT, 200)


# --------------------------------------------------------------------------- rules

ROLES: tuple[str, ...] = ("Administrator", "User")
DEFAULT_ROLE = "User"

#: What the core needs to know about the service, beside the paths and payloads.
CAPABILITIES = Capabilities(
    name="planview",
    managed_fields=frozenset({"first_name", "last_name", "role", "password_required"}),
    roles=ROLES,
    # A demotion from Administrator takes access away: it counts as a removal.
    privileged_role="Administrator",
    has_audit_log=True,
    # Deactivating frees the seat: an unlisted user's products need no revokes.
    deactivate_revokes_access=True,
    # The API refuses to provision a deactivated user (400 UserDeactivated).
    grant_requires_active=True,
    supports_delete=True,
    max_page_size=LIST_USERS.max_count,
    audit_page_size=LIST_AUDIT.max_count,
)


def path(template: str, **ids: str) -> str:
    """Fill a template; ids are percent-encoded so an odd id cannot change the path."""
    return template.format(**{k: quote(v, safe="") for k, v in ids.items()})


def page_params(start_index: int, count: int) -> dict[str, str]:
    return {"startIndex": str(start_index), "count": str(count)}


def email_filter(email: str) -> dict[str, str]:
    escaped = email.replace("\\", "\\\\").replace('"', '\\"')
    return {"filter": f'email eq "{escaped}"'}


def audit_since(since: str) -> dict[str, str]:
    return {"since": since}


def token_form() -> dict[str, str]:
    return {"grant_type": "client_credentials"}


# --------------------------------------------------------------------------- pages


@dataclass(frozen=True, slots=True)
class Page:
    start_index: int | None
    items_per_page: int | None
    resources: list[dict[str, Any]]


def parse_page(body: Any) -> Page:
    if not isinstance(body, dict):
        raise ContractViolation("a page must be a JSON object")
    resources = body.get("Resources")
    if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
        raise ContractViolation("'Resources' must be a list of objects")
    return Page(
        start_index=_optional_int(body, "startIndex"),
        items_per_page=_optional_int(body, "itemsPerPage"),
        resources=resources,
    )


def record_id(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise ContractViolation(f"a record has no string '{key}'")
    return value


# --------------------------------------------------------------------------- users

_STATUS_IN: dict[str, Status] = {
    "Active": "active",
    "Pending": "pending",
    "Deactivated": "deactivated",
}

# neutral field name -> Planview payload key
_FIELD_OUT: dict[str, str] = {
    "first_name": "firstName",
    "last_name": "lastName",
    "role": "role",
    "password_required": "passwordRequired",
}


def user_from_json(body: Any) -> LiveUser:
    # A listing of 50,000 users runs this 50,000 times: a well-formed record is
    # checked in one pass, and only a record that fails it takes the slow path below,
    # which finds the problem and names it.
    if type(body) is dict:
        get = body.get
        uid, email, first, last = get("id"), get("email"), get("firstName", ""), get("lastName", "")
        role, password, status = get("role", "User"), get("passwordRequired", False), get("status")
        last_login, updated_at = get("lastLogin"), get("updatedAt")
        if (
            type(uid) is str
            and type(email) is str
            and type(first) is str
            and type(last) is str
            and type(role) is str
            and type(password) is bool
            and status in _STATUS_IN
            and (last_login is None or type(last_login) is str)
            and (updated_at is None or type(updated_at) is str)
        ):
            return LiveUser(
                uid, email, first, last, role, password, _STATUS_IN[status], last_login, updated_at
            )
    return _checked_user(body)


def _checked_user(body: Any) -> LiveUser:
    if not isinstance(body, dict):
        raise ContractViolation("a user must be a JSON object")
    status = body.get("status")
    if status not in _STATUS_IN:
        raise ContractViolation(f"user status {status!r} is not Active, Pending or Deactivated")
    password_required = body.get("passwordRequired", False)
    if not isinstance(password_required, bool):
        raise ContractViolation("'passwordRequired' must be true or false")
    return LiveUser(
        id=_str(body, "id"),
        email=_str(body, "email"),
        first_name=_str(body, "firstName", default=""),
        last_name=_str(body, "lastName", default=""),
        role=_str(body, "role", default="User"),
        password_required=password_required,
        status=_STATUS_IN[status],
        last_login=_optional_str(body, "lastLogin"),
        updated_at=_optional_str(body, "updatedAt"),
    )


def new_user_payload(user: NewUser) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
    }
    # Unset: the service's defaults (role User, no password required) apply.
    if user.role is not None:
        payload["role"] = user.role
    if user.password_required is not None:
        payload["passwordRequired"] = user.password_required
    return payload


def update_payload(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(fields) - set(_FIELD_OUT))
    if unknown:
        raise ValueError(f"fields the API cannot update: {', '.join(unknown)}")
    return {_FIELD_OUT[name]: value for name, value in fields.items()}


def user_matches(user: LiveUser, wanted: NewUser) -> bool:
    """Whether an existing user is what a create asked for (a conflict that is success)."""
    return (
        user.first_name == wanted.first_name
        and user.last_name == wanted.last_name
        and user.role == (DEFAULT_ROLE if wanted.role is None else wanted.role)
        and user.password_required == bool(wanted.password_required)
    )


# --------------------------------------------------------------------------- products


def product_from_json(body: Any) -> LiveProduct:
    if not isinstance(body, dict):
        raise ContractViolation("a product must be a JSON object")
    seats = body.get("seats")
    if seats is not None and (not isinstance(seats, int) or isinstance(seats, bool)):
        raise ContractViolation("'seats' must be a whole number or null")
    return LiveProduct(
        id=_str(body, "id"),
        name=_str(body, "name"),
        type=_optional_str(body, "type"),
        environment=_optional_str(body, "environment"),
        seats=seats,
    )


def provisioned_user_id(body: Mapping[str, Any]) -> str:
    return record_id(body, "userId")


def grant_payload(user_id: str) -> dict[str, Any]:
    return {"userId": user_id}


# --------------------------------------------------------------------------- audit


def audit_from_json(body: Any) -> AuditEvent:
    if not isinstance(body, dict):
        raise ContractViolation("an audit event must be a JSON object")
    actor = body.get("actor") or {}
    if not isinstance(actor, dict):
        raise ContractViolation("'actor' must be an object")
    changes = body.get("changes") or {}
    if not isinstance(changes, dict):
        raise ContractViolation("'changes' must be an object")
    actor_type = _str(actor, "type", default="user")
    return AuditEvent(
        id=_str(body, "id"),
        timestamp=_str(body, "timestamp"),
        action=(action := _str(body, "action")),
        actor_type=actor_type,
        actor_id=_optional_str(actor, "id"),
        actor_email=_optional_str(actor, "email"),
        user_id=_optional_str(body, "userId"),
        user_email=_optional_str(body, "userEmail"),
        product_id=_optional_str(body, "productId"),
        changes=changes,
        kind=AUDIT_KINDS.get(action, "other"),
        # An actor type the model does not know is shown as such, never guessed.
        actor_kind=ACTOR_KINDS.get(actor_type, "unknown"),
        actor_name=_optional_str(actor, "name"),
    )


# [modelled] `actor.type` -> who acted, in neutral words. `system` is the service
# itself, e.g. the hourly sync of users from connected products (its `name` says which).
ACTOR_KINDS: dict[str, ActorKind] = {
    "user": "person",
    "client": "api_client",
    "system": "system",
}


# Planview's audit action names -> the neutral kinds drift attributes by.
AUDIT_KINDS: dict[str, AuditKind] = {
    "user.created": "user_created",
    "user.updated": "user_updated",
    "user.deactivated": "user_deactivated",
    "user.reactivated": "user_reactivated",
    "user.deleted": "user_deleted",
    "product.provisioned": "access_granted",
    "product.deprovisioned": "access_revoked",
}


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class ErrorBody:
    code: str | None
    detail: str | None


def error_from_json(body: Any) -> ErrorBody:
    """The service's error body; tolerant, since it is only used to explain a failure."""
    if not isinstance(body, dict):
        return ErrorBody(None, None)
    code = body.get("code") or body.get("error")
    detail = body.get("detail") or body.get("error_description")
    return ErrorBody(
        str(code) if code is not None else None, str(detail) if detail is not None else None
    )


CODE_USER_EXISTS = "UserExists"
CODE_ALREADY_PROVISIONED = "AlreadyProvisioned"


def token_from_json(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("id_token"), str) and body["id_token"]:
        return body["id_token"]
    return None


# --------------------------------------------------------------------------- helpers


def _str(body: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise ContractViolation(f"'{key}' must be a string")
    return value


def _optional_str(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ContractViolation(f"'{key}' must be a string or null")
    return value


def _optional_int(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ContractViolation(f"'{key}' must be a whole number")
    return value
