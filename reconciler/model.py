"""Data shapes shared by every stage of the pipeline.

load/validate produce a `DesiredState`; a backend produces a `LiveState`; diff reads
both. Nothing here knows about HTTP or about Planview's payloads: a backend maps its
own records onto these neutral shapes, which is what lets a SCIM backend slot in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

# A role is a word of the backend's own vocabulary (`Capabilities.roles`); a backend
# without roles ignores it.
Role = str

# Neutral lifecycle states. "pending" is an invited user who has not signed in yet;
# for access decisions it counts as active (it holds a seat and can sign in).
Status = Literal["active", "pending", "deactivated"]

UnmanagedPolicy = Literal["deactivate", "ignore", "delete"]

# The user fields the reconciler can manage, in display order. Names are neutral; a
# backend translates them to its own payload keys, and declares which of them it
# actually stores (`Capabilities.managed_fields`).
MANAGED_FIELDS: tuple[str, ...] = ("first_name", "last_name", "role", "password_required")

# Neutral field names -> the keys a person writes in the desired-state file; output
# meant for people uses these, so a plan line can be matched to the YAML at a glance.
FIELD_LABELS: dict[str, str] = {
    "first_name": "firstName",
    "last_name": "lastName",
    "role": "role",
    "password_required": "passwordRequired",
}


def email_key(email: str) -> str:
    """The identity of a user: emails compare case-insensitively."""
    return email.casefold()


@dataclass(frozen=True, slots=True)
class SourcePos:
    """Where a node was written: 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


# --------------------------------------------------------------------------- desired


@dataclass(frozen=True, slots=True)
class ProductRef:
    """An alias under `products:`, matched to a live product by name or by id."""

    alias: str
    name: str | None = None
    id: str | None = None
    pos: SourcePos | None = None


@dataclass(frozen=True, slots=True)
class SafetySettings:
    # "10%" or an int; resolved against the managed-user count at plan time.
    max_removals: int | str = "10%"
    pos: SourcePos | None = None


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """`settings.policy`: invariants about administrators (backends with roles only)."""

    # Active users with the backend's privileged role the tenant must keep after a plan.
    min_administrators: int = 1
    # Whether the file wrote minAdministrators (a backend without roles warns only then).
    min_administrators_set: bool = False
    # Emails or globs that must be listed, active and privileged in the desired state.
    required_administrators: tuple[str, ...] = ()
    pos: SourcePos | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    unmanaged_users: UnmanagedPolicy = "deactivate"
    protected_users: tuple[str, ...] = ()
    # None: every user is in scope. Lower-cased domains otherwise.
    scope_email_domains: tuple[str, ...] | None = None
    safety: SafetySettings = field(default_factory=SafetySettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    # `deleteDeactivatedAfter` in days (None: off): unlisted users deactivated longer
    # ago than this are deleted (only with unmanagedUsers: deactivate).
    delete_deactivated_after: int | None = None


@dataclass(frozen=True, slots=True)
class DesiredUser:
    email: str
    first_name: str
    last_name: str
    role: Role = "User"
    password_required: bool = False
    active: bool = True
    # Product aliases after expanding groups: the union of groups' and direct products.
    products: frozenset[str] = frozenset()
    pos: SourcePos | None = None
    # The neutral names of the optional fields (`role`, `password_required`, `active`)
    # the file wrote explicitly, as opposed to defaults: a backend that does not manage
    # a field refuses a file that sets it. Validation shares one frozenset between all
    # users that write the same keys.
    set_fields: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return email_key(self.email)

    def fields(self, names: Iterable[str] = MANAGED_FIELDS) -> dict[str, Any]:
        return {name: getattr(self, name) for name in names}

    def explicitly_sets(self, name: str) -> bool:
        """Written in the file, or (for a user built in code) different from the default."""
        if name in self.set_fields:
            return True
        default = _DESIRED_DEFAULTS.get(name)
        return name in _DESIRED_DEFAULTS and getattr(self, name) != default


_DESIRED_DEFAULTS: dict[str, Any] = {"role": "User", "password_required": False}


@dataclass(frozen=True, slots=True)
class DesiredState:
    settings: Settings
    products: Mapping[str, ProductRef]  # alias -> reference
    groups: Mapping[str, tuple[str, ...]]  # group -> product aliases
    users: tuple[DesiredUser, ...]
    files: tuple[str, ...] = ()
    # sha256 over the canonical content, so a saved plan can name what it was made from.
    digest: str = ""


# --------------------------------------------------------------------------- live


@dataclass(frozen=True, slots=True)
class LiveUser:
    id: str
    email: str
    first_name: str
    last_name: str
    role: str
    password_required: bool
    status: Status
    last_login: str | None = None
    updated_at: str | None = None

    @property
    def key(self) -> str:
        return email_key(self.email)

    @property
    def active(self) -> bool:
        return self.status != "deactivated"

    def fields(self, names: Iterable[str] = MANAGED_FIELDS) -> dict[str, Any]:
        return {name: getattr(self, name) for name in names}

    def fingerprint(self) -> str:
        """Changes whenever anything the reconciler could act on changes."""
        payload = [self.id, self.email, *self.fields().values(), self.status]
        return _short_hash(payload)


@dataclass(frozen=True, slots=True)
class LiveProduct:
    id: str
    name: str
    type: str | None = None
    environment: str | None = None
    seats: int | None = None  # None: unlimited


# Where a deactivation time was learnt: the user's audit history, the record's
# `updatedAt` (no audit log, or no deactivation event in it), or nowhere.
DeactivationSource = Literal["audit_log", "updated_at", "unknown"]


@dataclass(frozen=True, slots=True)
class Deactivation:
    """When an unlisted, deactivated user was deactivated, as far as the tenant says."""

    at: str | None  # ISO-8601, UTC; None when unknown (such a user is never deleted)
    source: DeactivationSource


@dataclass(slots=True)
class LiveState:
    users: dict[str, LiveUser]  # email_key -> user
    products: dict[str, LiveProduct]  # product id -> product
    # product id -> ids of the users provisioned to it. Only products that were read
    # are present: the collector reads the provisioning of managed products only.
    provisioning: dict[str, frozenset[str]]
    # user id -> when it was deactivated; read only for the candidates of
    # `settings.deleteDeactivatedAfter` (see `reconciler.collect.deactivations`).
    deactivations: dict[str, Deactivation] = field(default_factory=dict)
    # When `deactivations` were read (ISO-8601, UTC): the "now" the grace period is
    # measured to, so that diff stays a function of its inputs.
    read_at: str | None = None

    def users_by_id(self) -> dict[str, LiveUser]:
        return {u.id: u for u in self.users.values()}


# What an audit event did, in neutral words: a backend maps its own action names onto
# these (drift attributes a difference by kind, never by a service's action name).
AuditKind = Literal[
    "user_created",
    "user_updated",
    "user_deactivated",
    "user_reactivated",
    "user_deleted",
    "access_granted",
    "access_revoked",
    "other",
]


# Who made an audit event, in neutral words: a person (in the web UI), an API client
# (an integration), or the service itself (e.g. a sync of users from connected products).
ActorKind = Literal["person", "api_client", "system", "unknown"]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: str
    timestamp: str  # ISO-8601, UTC
    action: str  # the service's own name for it, shown to people (e.g. "user.updated")
    actor_type: str  # the service's own word for the actor (Planview: user | client | system)
    actor_id: str | None = None
    actor_email: str | None = None
    user_id: str | None = None
    user_email: str | None = None
    product_id: str | None = None
    changes: Mapping[str, Any] = field(default_factory=dict)
    kind: AuditKind = "other"
    actor_kind: ActorKind = "unknown"
    actor_name: str | None = None  # a display name, where the service gives one


def parse_timestamp(text: str | None) -> datetime | None:
    """An ISO-8601 time (`Z` or an offset; naive means UTC) as an aware datetime, or
    None when it is missing or unreadable."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def provisioning_fingerprint(product_id: str, user_id: str | None, granted: bool) -> str:
    return _short_hash([product_id, user_id, granted])


def absent_fingerprint(email: str) -> str:
    """The fingerprint of a user that does not exist yet (what a create depends on)."""
    return _short_hash(["absent", email_key(email)])


def _short_hash(payload: Any) -> str:
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()[:16]
