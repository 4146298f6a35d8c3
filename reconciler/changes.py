"""The vocabulary diff and plan share: what kinds of change exist, in which phase each
runs, and what a plan holds back.

A leaf module (it imports nothing from `reconciler.diff` or `reconciler.plan`), so diff
can name change kinds without importing the plan package, and the plan can import diff
without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class ChangeKind(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"
    DELETE = "delete"
    GRANT = "grant"
    REVOKE = "revoke"


# Phases the executor runs in order: taking access away first frees seats for grants.
PHASE: dict[ChangeKind, int] = {
    ChangeKind.REVOKE: 0,
    ChangeKind.DEACTIVATE: 1,
    ChangeKind.DELETE: 1,
    ChangeKind.UPDATE: 2,
    ChangeKind.REACTIVATE: 3,
    ChangeKind.CREATE: 4,
    ChangeKind.GRANT: 5,
}


@dataclass(frozen=True, slots=True)
class Skipped:
    """A user the plan will not touch although it differs (protected, for now)."""

    email: str
    reason: str
    differences: dict[str, Any] = field(default_factory=dict)
