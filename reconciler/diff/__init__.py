"""Diff: the pure comparison of a desired state with a live tenant."""

from reconciler.diff.engine import diff
from reconciler.diff.result import DiffChange, DiffResult
from reconciler.diff.scope import Scope, email_domain

__all__ = ["DiffChange", "DiffResult", "Scope", "diff", "email_domain"]
