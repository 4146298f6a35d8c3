"""settings.deleteDeactivatedAfter in the pure diff: deactivation times come with the
live state, so the same inputs always give the same plan."""

from __future__ import annotations

from dataclasses import replace

from statebuilder import PLANVIEW, du, lu, states

from reconciler.changes import ChangeKind
from reconciler.diff import diff
from reconciler.model import Deactivation, DesiredState, LiveState
from reconciler.plan import build_plan

NOW = "2026-11-28T12:00:00Z"


def grace_states(
    days: int | None = 90, **deactivations: Deactivation
) -> tuple[DesiredState, LiveState]:
    desired, live = states(
        [du("kept@example.com")],
        [
            lu("kept@example.com"),
            lu("old@example.com", ["crm"], status="deactivated"),
            lu("recent@example.com", status="deactivated"),
            lu("unknown@example.com", status="deactivated"),
            lu("admin@example.com", status="deactivated"),
        ],
        protected=["admin@*"],
    )
    desired = replace(desired, settings=replace(desired.settings, delete_deactivated_after=days))
    live.deactivations = {
        "u-old": Deactivation("2026-06-01T08:00:00Z", "audit_log"),
        "u-recent": Deactivation("2026-11-01T08:00:00Z", "updated_at"),
        "u-unknown": Deactivation(None, "unknown"),
        "u-admin": Deactivation("2020-01-01T00:00:00Z", "audit_log"),
        **{f"u-{k}": v for k, v in deactivations.items()},
    }
    live.read_at = NOW
    return desired, live


def test_only_users_deactivated_longer_than_the_period_are_deleted() -> None:
    desired, live = grace_states()
    result = diff(desired, live, PLANVIEW)
    (delete,) = result.changes
    assert delete.kind is ChangeKind.DELETE and delete.email == "old@example.com"
    assert delete.removal is True
    assert delete.before is not None
    assert delete.before["deactivated_at"] == "2026-06-01T08:00:00Z"
    assert delete.before["deactivated_from"] == "audit_log"
    assert delete.before["products"] == ["crm"]


def test_an_unknown_time_never_deletes_and_says_so() -> None:
    desired, live = grace_states()
    result = diff(desired, live, PLANVIEW)
    assert "unknown@example.com" not in {c.email for c in result.changes}
    assert any("1 deactivated user not in the desired state have no known" in w
               for w in result.warnings)  # fmt: skip
    # A user whose time was never read (not a candidate when collected) is unknown too.
    del live.deactivations["u-old"]
    assert not diff(desired, live, PLANVIEW).changes


def test_off_or_unread_means_no_deletion() -> None:
    desired, live = grace_states(days=None)
    assert not diff(desired, live, PLANVIEW).changes
    desired, live = grace_states()
    live.read_at = None  # the times were not read (drift): nothing is decided
    result = diff(desired, live, PLANVIEW)
    assert not result.changes and not result.warnings


def test_the_period_is_measured_to_the_read_time() -> None:
    desired, live = grace_states(days=7)
    deleted = {c.email for c in diff(desired, live, PLANVIEW).changes}
    assert deleted == {"old@example.com", "recent@example.com"}
    live.read_at = "2026-11-05T08:00:00Z"  # 4 days after the recent deactivation
    assert {c.email for c in diff(desired, live, PLANVIEW).changes} == {"old@example.com"}


def test_a_backend_that_cannot_delete_deletes_nothing() -> None:
    desired, live = grace_states()
    caps = replace(PLANVIEW, supports_delete=False)
    result = diff(desired, live, caps)
    assert not result.changes
    assert any("cannot delete users" in w for w in result.warnings)


def test_deletion_needs_allow_delete_and_counts_against_the_limit() -> None:
    desired, live = grace_states(days=7)
    held = build_plan(desired, live, capabilities=PLANVIEW, target="t")
    assert not held.changes
    assert any("--allow-delete; they stay deactivated" in w for w in held.warnings)
    allowed = build_plan(desired, live, capabilities=PLANVIEW, target="t", allow_delete=True)
    assert [c.kind for c in allowed.changes] == [ChangeKind.DELETE, ChangeKind.DELETE]
    assert allowed.safety.removals == 2
    strict = replace(desired, settings=replace(desired.settings, safety=replace(
        desired.settings.safety, max_removals=1)))  # fmt: skip
    blocked = build_plan(strict, live, capabilities=PLANVIEW, target="t", allow_delete=True)
    assert blocked.safety.blocked
