"""Type-checked proof that every backend implements the `Backend` protocol.

Never called: mypy checks these assignments, so a backend whose methods or attributes
drift from the protocol (a missing keyword, a changed return type) fails CI.
"""

from __future__ import annotations

from reconciler.backends.base import Backend
from reconciler.backends.planview.backend import PlanviewBackend
from reconciler.backends.scim.backend import ScimBackend


def _planview(backend: PlanviewBackend) -> Backend:
    return backend


def _scim(backend: ScimBackend) -> Backend:
    return backend
