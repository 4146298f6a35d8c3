"""Drift = the plan's differences, each explained by the audit history."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from reconciler.backends.base import Backend
from reconciler.drift.attribute import EventIndex, attribute, utc_text
from reconciler.drift.audit import choose_source, read_audit
from reconciler.drift.detect import detect
from reconciler.drift.report import DriftReport
from reconciler.model import DesiredState, LiveState
from reconciler.plan.model import Plan

# Far enough back for a nightly (or a forgotten weekly) job; `--since` goes further.
DEFAULT_LOOKBACK = timedelta(days=30)


def default_since(now: datetime) -> datetime:
    return now - DEFAULT_LOOKBACK


def check_drift(
    desired: DesiredState,
    live: LiveState,
    plan: Plan,
    backend: Backend,
    *,
    now: datetime,
    since: datetime | None = None,
) -> DriftReport:
    # Whole seconds: the report shows exactly the point the history was read from.
    since = (since or default_since(now)).astimezone(timezone.utc).replace(microsecond=0)
    users = detect(plan, desired, live)
    choice = choose_source(users, live, since, backend.capabilities)
    events, reading = read_audit(backend, users, choice, since)
    explained = attribute(users, EventIndex(events))
    return DriftReport(
        target=plan.target,
        checked_at=utc_text(now),
        desired_digest=plan.desired_digest,
        managed_users=plan.safety.managed_users,
        users=tuple(explained),
        audit=reading,
        protected_differences=tuple(s.email for s in plan.skipped),
        warnings=plan.warnings,
    )
