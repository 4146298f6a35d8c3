"""Drift against a backend without an audit log: the differences are still found, no
audit history is read, and every format says that nothing could be attributed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone

from statebuilder import PLANVIEW, du, lu, states

from reconciler.backends.base import RequestStats
from reconciler.backends.capabilities import Capabilities
from reconciler.drift import check_drift, render_json, render_markdown, render_text
from reconciler.model import AuditEvent
from reconciler.plan import build_plan

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
NO_AUDIT = Capabilities(
    name="no-audit", managed_fields=frozenset({"first_name", "last_name"}), has_audit_log=False
)


class NoAuditBackend:
    target = "https://directory.example"
    capabilities = NO_AUDIT

    def audit_events(self, since: datetime) -> Iterator[AuditEvent]:
        raise AssertionError("a backend without an audit log must not be asked for one")

    def user_audit(self, user_id: str) -> Iterator[AuditEvent]:
        raise AssertionError("a backend without an audit log must not be asked for one")

    def stats(self) -> RequestStats:
        return RequestStats()


def _report():
    desired, live = states(
        [du("ann@example.com", ["crm"], last_name="Smith")],
        [lu("ann@example.com", last_name="Smyth"), lu("new@example.com")],
    )
    plan = build_plan(desired, live, capabilities=NO_AUDIT, target="https://directory.example")
    return check_drift(desired, live, plan, NoAuditBackend(), now=NOW)  # type: ignore[arg-type]


def test_drift_is_found_without_an_audit_log_and_every_format_says_it_is_not_attributed():
    report = _report()
    assert report.counts() == {"changed": 1, "deleted_out_of_band": 0, "created_out_of_band": 1}
    assert report.audit.source == "unavailable"

    text = render_text(report)
    assert "No attribution: the no-audit backend has no audit log" in text
    assert text.count("not attributed: the backend has no audit log") == 3  # each difference
    assert "no audit event found" not in text and "try --since" not in text

    # Markdown escapes punctuation; the words are what a reader sees.
    markdown = render_markdown(report).replace("\\", "")
    assert "No attribution: the no-audit backend has no audit log" in markdown
    assert markdown.count("not attributed: the backend has no audit log") == 3
    assert "no audit event found" not in markdown

    data = json.loads(render_json(report))
    assert data["attributed"] is False
    assert data["audit"]["source"] == "unavailable"
    assert "has no audit log" in data["audit"]["reason"]
    assert data["audit"]["requests"] == 0


def test_with_an_audit_log_the_report_says_it_is_attributed():
    desired, live = states([du("ann@example.com")], [lu("ann@example.com")])
    plan = build_plan(desired, live, capabilities=PLANVIEW, target="https://t")

    class Quiet(NoAuditBackend):
        capabilities = PLANVIEW

    report = check_drift(desired, live, plan, Quiet(), now=NOW)  # type: ignore[arg-type]
    assert json.loads(render_json(report))["attributed"] is True
    assert "No attribution" not in render_text(report)
