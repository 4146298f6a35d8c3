"""Drift: how the live tenant differs from the desired state, and who made it so."""

from reconciler.drift.check import DEFAULT_LOOKBACK, check_drift, default_since
from reconciler.drift.render import MARKER, render_json, render_markdown, render_text
from reconciler.drift.report import Attribution, DriftedUser, DriftItem, DriftReport

__all__ = [
    "DEFAULT_LOOKBACK",
    "MARKER",
    "Attribution",
    "DriftItem",
    "DriftReport",
    "DriftedUser",
    "check_drift",
    "default_since",
    "render_json",
    "render_markdown",
    "render_text",
]
