"""What diff hands to the planner: changes without ids or order, plus what it held back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.changes import ChangeKind, Skipped


@dataclass(frozen=True, slots=True)
class DiffChange:
    """One change diff found necessary; the planner orders it and gives it an id.

    `key` is the user's `email_key()`. `after_kind`, when set, names another change of
    the same user that must succeed first (a create or reactivate before its grants).
    """

    kind: ChangeKind
    key: str
    email: str
    user_id: str | None = None
    product_id: str | None = None
    product: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    removal: bool = False
    fingerprint: str | None = None
    source: str | None = None
    after_kind: ChangeKind | None = None


@dataclass(frozen=True, slots=True)
class DiffResult:
    changes: tuple[DiffChange, ...]
    skipped: tuple[Skipped, ...]
    warnings: tuple[str, ...]
    # In-scope live users that are not protected: the base of a percentage safety limit.
    managed_users: int

    @property
    def in_sync(self) -> bool:
        """True when the managed part of the tenant matches the desired state."""
        return not self.changes
