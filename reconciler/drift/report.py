"""What `reconciler drift` found: plain data, rendered by `reconciler.drift.render`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from reconciler.model import FIELD_LABELS as MODEL_FIELD_LABELS
from reconciler.model import ActorKind

# How a user differs: fields/products changed, or the whole user is missing/extra.
UserState = Literal["changed", "deleted_out_of_band", "created_out_of_band"]
# What one item is about.
ItemKind = Literal["field", "status", "product", "missing", "unlisted"]

# Drift reports status against the file's `active:` key.
FIELD_LABELS: dict[str, str] = {**MODEL_FIELD_LABELS, "status": "active"}

DRIFT_REPORT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Attribution:
    """The latest audit event that explains one difference."""

    event_id: str
    action: str
    timestamp: str
    actor_type: str  # the service's own word for the actor
    actor_id: str | None = None
    actor_email: str | None = None
    from_value: Any = None  # for field changes: the event's own from -> to
    to_value: Any = None
    actor_kind: ActorKind = "unknown"  # person | api_client | system | unknown
    actor_name: str | None = None

    @property
    def actor(self) -> str:
        """Who, in words: an email for a person, the client id for an API client, the
        service's own name for itself (e.g. its product sync)."""
        if self.actor_kind == "api_client":
            return f"API client {self.actor_id or self.actor_name or 'unknown'}"
        if self.actor_kind == "system":
            return self.actor_name or self.actor_id or "the service"
        return self.actor_email or self.actor_name or f"user {self.actor_id or 'unknown'}"

    @property
    def actor_label(self) -> str:
        """The actor with its kind, e.g. `jane@example.com (person)`,
        `Product sync (system)`; an API client's name already says what it is."""
        if self.actor_kind == "api_client":
            return self.actor
        if self.actor_kind == "unknown":
            return f"{self.actor} (actor type {self.actor_type or 'unknown'})"
        return f"{self.actor} ({self.actor_kind})"


@dataclass(frozen=True, slots=True)
class DriftItem:
    kind: ItemKind
    desired: Any
    live: Any
    field: str | None = None  # neutral field name, for kind "field"
    product: str | None = None  # alias, for kind "product"
    product_id: str | None = None
    attribution: Attribution | None = None

    @property
    def label(self) -> str:
        if self.kind == "product":
            return self.product or self.product_id or "product"
        if self.kind in ("field", "status"):
            return FIELD_LABELS.get(self.field or "status", self.field or "status")
        return "user"


@dataclass(frozen=True, slots=True)
class DriftedUser:
    email: str
    state: UserState
    items: tuple[DriftItem, ...]
    user_id: str | None = None
    source: str | None = None  # where the desired user is written, if anywhere
    # When the live record last changed, as the service reports it (Planview's
    # updatedAt, SCIM's meta.lastModified): the only "when" a backend without an audit
    # log can give.
    changed_at: str | None = None

    def with_items(self, items: tuple[DriftItem, ...]) -> DriftedUser:
        return replace(self, items=items)


@dataclass(frozen=True, slots=True)
class AuditReading:
    """How the audit history was read, so the report can say what it cost."""

    # "unavailable": the backend has no audit log, so nothing is attributed.
    source: Literal["customer_log", "per_user", "none", "unavailable"]
    since: str
    requests: int = 0
    events: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DriftReport:
    target: str
    checked_at: str
    desired_digest: str
    managed_users: int
    users: tuple[DriftedUser, ...]
    audit: AuditReading
    # Protected users that differ: never changed, so not drift, but worth a line.
    protected_differences: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)
    format_version: int = DRIFT_REPORT_VERSION

    @property
    def has_drift(self) -> bool:
        return bool(self.users)

    def counts(self) -> dict[str, int]:
        counts = {"changed": 0, "deleted_out_of_band": 0, "created_out_of_band": 0}
        for user in self.users:
            counts[user.state] += 1
        return counts

    @property
    def attributed(self) -> bool:
        """False when the backend has no audit log: no difference can be explained."""
        return self.audit.source != "unavailable"

    def synced(self) -> int:
        """Users not in the desired state that the service itself created (its sync of
        users from connected products, say): usually a matter of scope, not drift."""
        return sum(
            1
            for u in self.users
            for i in u.items
            if i.kind == "unlisted"
            and i.attribution is not None
            and i.attribution.actor_kind == "system"
        )

    def unexplained(self) -> int:
        return sum(1 for u in self.users for i in u.items if i.attribution is None)

    def to_dict(self) -> dict[str, Any]:
        def item_dict(item: DriftItem) -> dict[str, Any]:
            data = asdict(item)
            data["label"] = item.label
            if item.attribution is not None:
                data["attribution"]["actor"] = item.attribution.actor
                data["attribution"]["actor_label"] = item.attribution.actor_label
            return data

        return {
            "format_version": self.format_version,
            "target": self.target,
            "checked_at": self.checked_at,
            "desired_digest": self.desired_digest,
            "drift": self.has_drift,
            "managed_users": self.managed_users,
            "counts": self.counts(),
            "attributed": self.attributed,
            "unexplained": self.unexplained(),
            "created_by_system": self.synced(),
            "audit": asdict(self.audit),
            "protected_differences": list(self.protected_differences),
            "warnings": list(self.warnings),
            "users": [
                {
                    "email": u.email,
                    "user_id": u.user_id,
                    "state": u.state,
                    "source": u.source,
                    "changed_at": u.changed_at,
                    "items": [item_dict(i) for i in u.items],
                }
                for u in self.users
            ],
        }
