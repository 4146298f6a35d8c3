"""Drift from hand-built states: what differs, who did it, and how it reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone

from statebuilder import PLANVIEW, du, lu, states

from reconciler.backends.base import RequestStats
from reconciler.backends.planview.contract import ACTOR_KINDS, AUDIT_KINDS
from reconciler.drift import check_drift, render_json, render_markdown, render_text
from reconciler.drift.render import MARKER
from reconciler.model import AuditEvent
from reconciler.plan import build_plan

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def ev(n: int, action: str, user: str, when: str = "2026-11-27T09:00:00Z", **kw) -> AuditEvent:
    kw.setdefault("actor_type", "user")
    kw.setdefault("actor_email", "it-admin@example.com")
    kw.setdefault("actor_kind", ACTOR_KINDS[kw["actor_type"]])
    return AuditEvent(
        id=f"a-{n}",
        timestamp=when,
        action=action,
        kind=AUDIT_KINDS[action],
        user_id="u-" + user.split("@")[0],
        user_email=user,
        **kw,
    )


class FakeAuditBackend:
    """Just the audit reads, paging like the API and counting requests."""

    target = "https://tenant.example"

    def __init__(self, events: list[AuditEvent], page: int = 200):
        self.events = events
        self.page = page
        self.capabilities = replace(PLANVIEW, audit_page_size=page)
        self.requests = 0
        self.calls: list[str] = []

    def _pages(self, items: list[AuditEvent]) -> Iterator[AuditEvent]:
        start = 0
        while True:
            self.requests += 1
            chunk = items[start : start + self.page]
            yield from chunk
            if len(chunk) < self.page:
                return
            start += self.page

    def audit_events(self, since: datetime) -> Iterator[AuditEvent]:
        self.calls.append("log")
        return self._pages(
            [
                e
                for e in self.events
                if datetime.fromisoformat(e.timestamp.replace("Z", "+00:00")) >= since
            ]
        )

    def user_audit(self, user_id: str) -> Iterator[AuditEvent]:
        self.calls.append(f"user:{user_id}")
        return self._pages([e for e in self.events if e.user_id == user_id])

    def stats(self) -> RequestStats:
        return RequestStats(requests=self.requests)


def run(desired, live, events, page=200, since=None):
    plan = build_plan(
        desired, live, capabilities=PLANVIEW, target="https://tenant.example", now=NOW
    )
    backend = FakeAuditBackend(events, page)
    report = check_drift(desired, live, plan, backend, now=NOW, since=since)  # type: ignore[arg-type]
    return report, backend


def test_in_sync_is_no_drift_and_reads_no_audit() -> None:
    desired, live = states([du("ann@example.com", ["crm"])], [lu("ann@example.com", ["crm"])])
    report, backend = run(desired, live, [ev(1, "user.updated", "ann@example.com")])
    assert not report.has_drift
    assert backend.requests == 0
    assert "No drift" in render_text(report)
    assert render_markdown(report).startswith(MARKER)


def test_field_change_names_the_person_and_from_to() -> None:
    desired, live = states(
        [du("ann@example.com", role="User")], [lu("ann@example.com", role="Administrator")]
    )
    events = [
        ev(
            1,
            "user.updated",
            "ann@example.com",
            "2026-11-20T08:00:00Z",
            changes={"lastName": {"from": "X", "to": "Example"}},
        ),
        ev(
            2,
            "user.updated",
            "ann@example.com",
            "2026-11-27T09:12:00Z",
            actor_email="bob@example.com",
            changes={"role": {"from": "User", "to": "Administrator"}},
        ),
    ]
    report, _ = run(desired, live, events)
    (user,) = report.users
    (item,) = user.items
    assert item.field == "role" and item.live == "Administrator" and item.desired == "User"
    assert item.attribution is not None and item.attribution.actor == "bob@example.com"
    text = render_text(report)
    assert "role: Administrator (desired: User)" in text
    when = "at 2026-11-27T09:12:00Z"
    assert f"updated by bob@example.com (person) {when}: User -> Administrator" in text


def test_api_client_actor_and_product_grant_revoke() -> None:
    desired, live = states([du("ann@example.com", ["crm"])], [lu("ann@example.com", ["erp"])])
    events = [
        ev(
            1,
            "product.provisioned",
            "ann@example.com",
            product_id="p-erp",
            actor_type="client",
            actor_email=None,
            actor_id="other-integration",
        ),
        ev(2, "product.deprovisioned", "ann@example.com", product_id="p-crm"),
    ]
    report, _ = run(desired, live, events)
    text = render_text(report)
    assert "product crm: not provisioned (desired: provisioned)" in text
    assert "deprovisioned by it-admin@example.com (person)" in text
    assert "product erp: provisioned (desired: not provisioned)" in text
    assert "provisioned by API client other-integration" in text


def test_deleted_and_created_out_of_band_and_unexplained() -> None:
    desired, live = states(
        [du("gone@example.com", ["crm"]), du("ann@example.com", last_name="Smith")],
        [lu("ann@example.com", last_name="Smyth"), lu("new@example.com")],
    )
    events = [
        AuditEvent(
            id="a-9",
            timestamp="2026-11-26T10:00:00Z",
            action="user.deleted",
            kind="user_deleted",
            actor_type="user",
            actor_kind="person",
            actor_email="carol@example.com",
            user_id="u-old",
            user_email="GONE@example.com",
        ),
        ev(3, "user.created", "new@example.com", actor_email="dave@example.com"),
    ]
    report, backend = run(desired, live, events)
    assert report.counts() == {"changed": 1, "deleted_out_of_band": 1, "created_out_of_band": 1}
    # A deleted user has no history of its own: only the customer log can name it.
    assert backend.calls == ["log"]
    text = render_text(report)
    assert "- gone@example.com: deleted out of band" in text
    assert "deleted by carol@example.com (person) at 2026-11-26T10:00:00Z" in text
    assert "+ new@example.com: created out of band" in text
    assert "created by dave@example.com (person)" in text
    assert "lastName: Smyth (desired: Smith)" in text
    assert "no audit event found since" in text
    data = report.to_dict()
    assert data["unexplained"] == 1 and data["drift"] is True
    assert render_json(report).startswith("{")


def test_events_before_since_do_not_count() -> None:
    desired, live = states(
        [du("ann@example.com", role="User")], [lu("ann@example.com", role="Administrator")]
    )
    events = [
        ev(
            1,
            "user.updated",
            "ann@example.com",
            "2026-09-01T00:00:00Z",
            changes={"role": {"from": "User", "to": "Administrator"}},
        )
    ]
    report, _ = run(desired, live, events)
    assert report.users[0].items[0].attribution is None
    older = datetime(2026, 8, 1, tzinfo=timezone.utc)
    report, _ = run(desired, live, events, since=older)
    assert report.users[0].items[0].attribution is not None


def test_few_drifted_users_in_a_busy_log_read_their_own_histories() -> None:
    # 1 drifted user; 450 users updated recently, so the log is at least 3 pages.
    busy = [lu(f"u{n}@example.com", updated_at="2026-11-27T00:00:00Z") for n in range(450)]
    desired_users = [du(f"u{n}@example.com") for n in range(450)]
    desired, live = states(
        [*desired_users, du("ann@example.com", role="User")],
        [*busy, lu("ann@example.com", role="Administrator", updated_at="2026-11-27T09:00:00Z")],
        max_removals=1000,
    )
    noise = [
        ev(n, "user.updated", f"u{n}@example.com", changes={"role": {"from": "User", "to": "User"}})
        for n in range(450)
    ]
    events = [
        *noise,
        ev(
            999,
            "user.updated",
            "ann@example.com",
            "2026-11-27T10:00:00Z",
            changes={"role": {"from": "User", "to": "Administrator"}},
        ),
    ]
    report, backend = run(desired, live, events)
    assert backend.calls == ["user:u-ann"]
    assert backend.requests == 1
    assert report.audit.source == "per_user" and report.audit.requests == 1
    assert report.users[0].items[0].attribution is not None


def test_many_drifted_users_read_the_customer_log_once() -> None:
    desired, live = states(
        [du(f"u{n}@example.com", role="User") for n in range(20)],
        [lu(f"u{n}@example.com", role="Administrator") for n in range(20)],
        max_removals=1000,
    )
    events = [
        ev(
            n,
            "user.updated",
            f"u{n}@example.com",
            changes={"role": {"from": "User", "to": "Administrator"}},
        )
        for n in range(20)
    ]
    report, backend = run(desired, live, events)
    assert backend.calls == ["log"] and backend.requests == 1
    assert report.audit.source == "customer_log"
    assert report.unexplained() == 0


def test_customer_log_longer_than_estimated_switches_to_user_histories() -> None:
    # The estimate (from updated_at) says 1 page, but provisioning noise makes it 5.
    desired, live = states(
        [du(f"u{n}@example.com", role="User") for n in range(3)],
        [lu(f"u{n}@example.com", role="Administrator") for n in range(3)],
    )
    noise = [
        ev(100 + n, "product.provisioned", "x@example.com", product_id="p-bi") for n in range(40)
    ]
    events = [
        *noise,
        *(
            ev(
                n,
                "user.updated",
                f"u{n}@example.com",
                changes={"role": {"from": "User", "to": "Administrator"}},
            )
            for n in range(3)
        ),
    ]
    report, backend = run(desired, live, events, page=10)
    assert report.audit.source == "per_user"
    assert backend.calls[0] == "log" and backend.calls[1:] == [
        "user:u-u0",
        "user:u-u1",
        "user:u-u2",
    ]
    # Never more than twice what the per-user histories alone cost (3), plus one page.
    assert backend.requests <= 2 * 3 + 1
    assert report.unexplained() == 0


def test_markdown_has_marker_table_and_stays_under_limit() -> None:
    desired, live = states(
        [du(f"user{n}@example.com", role="User") for n in range(300)],
        [lu(f"user{n}@example.com", role="Administrator") for n in range(300)],
        max_removals=1000,
    )
    report, _ = run(desired, live, [])
    md = render_markdown(report, limit=8000)
    assert md.startswith(MARKER + "\n")
    assert "| User | Difference | Who | When | Event |" in md
    assert len(md) <= 8000
    assert "more difference(s) left out" in md


def test_text_report_escapes_control_characters_from_the_tenant() -> None:
    # A name set in the web UI is printed by the nightly job into a CI log or a
    # terminal: an escape sequence in it must show as text, never act.
    hostile = "Ann\x1b[2J\x1b]0;pwned\x07"
    desired, live = states([du("ann@example.com")], [lu("ann@example.com", first_name=hostile)])
    report, _ = run(desired, live, [])
    text = render_text(report)
    assert report.has_drift
    assert "\x1b" not in text and "\x07" not in text
    assert "Ann\\u001b[2J" in text
