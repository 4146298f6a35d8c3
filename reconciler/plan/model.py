"""The plan: plain, versioned, serialisable data.

Diff produces it; renderers and the executor only read it. `Plan.to_dict()` is the
JSON format documented by `schemas/plan.schema.json`; `Plan.from_dict()` reads a saved
plan back and refuses a format version it does not know.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

# ChangeKind, PHASE and Skipped live in the leaf module `reconciler.changes` (so diff
# need not import the plan); re-exported here for the modules that name them as plan data.
from reconciler.changes import PHASE, ChangeKind, Skipped
from reconciler.errors import ReconcilerError

__all__ = [
    "DIGEST_PREFIX",
    "PHASE",
    "PLAN_FORMAT_VERSION",
    "Change",
    "ChangeKind",
    "Plan",
    "PlanFormatError",
    "SafetyVerdict",
    "Skipped",
    "content_digest",
]

# 2: a saved plan carries the digest of its own content.
PLAN_FORMAT_VERSION = 2
DIGEST_PREFIX = "sha256:"


@dataclass(frozen=True, slots=True)
class Change:
    """One API-level change to one user.

    `before`/`after` hold neutral field values (see `reconciler.model.MANAGED_FIELDS`
    plus `status`, `products`); for an update only the fields that differ.
    `fingerprint` is the fingerprint of the live record the change depends on at
    plan time (a user's `LiveUser.fingerprint()`, `absent_fingerprint()` for a create,
    `provisioning_fingerprint()` for a grant or revoke); a saved plan is stale when any
    of them no longer matches.
    """

    id: str  # "c1", "c2", ... unique within the plan, in execution order
    kind: ChangeKind
    email: str  # as written in the desired state (or live, for unlisted users)
    user_id: str | None = None  # None for a create and for grants that wait on it
    product_id: str | None = None  # grant / revoke only
    product: str | None = None  # the product's alias, for display
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    removal: bool = False  # takes access away (counts against the safety limit)
    depends_on: str | None = None  # id of a change that must succeed first
    fingerprint: str | None = None
    source: str | None = None  # "file:line:col" of the desired user, if any

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        return cls(**{**data, "kind": ChangeKind(data["kind"])})


@dataclass(frozen=True, slots=True)
class SafetyVerdict:
    removals: int
    limit: int
    managed_users: int
    blocked: bool
    reason: str | None = None
    allowed_by_override: bool = False  # --allow-removals N lifted the block
    # Active users with the backend's privileged role once the plan is applied, and the
    # settings.policy.minAdministrators they were held to; None where the backend has
    # no roles. Falling below the minimum blocks the plan whatever --allow-removals says.
    administrators: int | None = None
    min_administrators: int | None = None
    administrators_blocked: bool = False  # blocked by that invariant (maybe also by the limit)

    @property
    def over_limit(self) -> bool:
        """Blocked by the removal limit itself (which --allow-removals N can lift)."""
        return self.removals > self.limit and not self.allowed_by_override


@dataclass(frozen=True, slots=True)
class Plan:
    target: str  # backend target URL
    desired_digest: str
    created_at: str  # ISO-8601 UTC
    changes: tuple[Change, ...]
    safety: SafetyVerdict
    skipped: tuple[Skipped, ...] = ()
    estimated_requests: int = 0
    warnings: tuple[str, ...] = ()
    format_version: int = PLAN_FORMAT_VERSION
    # `--target` values (an email key, or `product:ALIAS`) when the plan holds only
    # their changes; empty for a whole plan. Saved with the plan (and so under its digest).
    targets: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def counts(self) -> dict[str, int]:
        counted = Counter(c.kind.value for c in self.changes)
        return {kind.value: counted.get(kind.value, 0) for kind in ChangeKind}

    @property
    def digest(self) -> str:
        """What a reviewer saw, and what `apply --expect-digest` pins."""
        return content_digest(self.content_dict())

    def to_dict(self) -> dict[str, Any]:
        return {**self.content_dict(), "digest": self.digest}

    def content_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "target": self.target,
            "desired_digest": self.desired_digest,
            "created_at": self.created_at,
            "counts": self.counts(),
            "estimated_requests": self.estimated_requests,
            "safety": asdict(self.safety),
            "warnings": list(self.warnings),
            "skipped": [asdict(s) for s in self.skipped],
            "changes": [c.to_dict() for c in self.changes],
            # Only in a targeted plan: whole plans keep the shape (and digest) they had.
            **({"targets": list(self.targets)} if self.targets else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        version = data.get("format_version") if isinstance(data, dict) else None
        if version != PLAN_FORMAT_VERSION:
            raise PlanFormatError(
                f"unsupported plan format version {version!r} "
                f"(this reconciler reads version {PLAN_FORMAT_VERSION})"
            )
        try:
            return cls(
                target=data["target"],
                desired_digest=data["desired_digest"],
                created_at=data["created_at"],
                changes=tuple(Change.from_dict(c) for c in data["changes"]),
                safety=SafetyVerdict(**data["safety"]),
                skipped=tuple(Skipped(**s) for s in data.get("skipped", ())),
                estimated_requests=data.get("estimated_requests", 0),
                warnings=tuple(data.get("warnings", ())),
                format_version=version,
                targets=tuple(str(t) for t in data.get("targets", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanFormatError(f"the saved plan is malformed: {exc}") from None


def content_digest(content: dict[str, Any]) -> str:
    """`sha256:` and the hex digest of a plan's canonical JSON (keys sorted, no spaces),
    taken over every field but `digest` itself."""
    fields = {key: value for key, value in content.items() if key != "digest"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return DIGEST_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()


class PlanFormatError(ReconcilerError):
    pass
