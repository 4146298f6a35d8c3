"""build_plan(): ordering, ids, dependencies, delete gating, pricing, metadata."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from statebuilder import PLANVIEW, du, lu, states

from reconciler.changes import PHASE
from reconciler.changes import ChangeKind as K
from reconciler.plan import build_plan

NOW = datetime(2026, 11, 29, 1, 2, 3, tzinfo=timezone.utc)


def mixed() -> tuple:
    return states(
        [
            du("zed@x.com", ["crm", "erp"]),  # create + 2 grants
            du("amy@x.com", ["erp"], role="Administrator"),  # update, revoke crm, grant erp
            du("eve@x.com", ["crm"]),  # reactivate + grant
            du("kim@x.com", active=False),  # deactivate
        ],
        [
            lu("amy@x.com", ["crm"]),
            lu("eve@x.com", status="deactivated"),
            lu("kim@x.com"),
            lu("bob@x.com", ["crm"]),  # unlisted: deactivate
        ],
        max_removals=100,
    )


def plan_of(desired, live, **options):
    return build_plan(
        desired, live, capabilities=PLANVIEW, target="https://tenant.example", now=NOW, **options
    )


def test_changes_run_in_phases_then_email_then_product():
    plan = plan_of(*mixed())
    order = [(c.id, c.kind, c.email, c.product) for c in plan.changes]
    assert order == [
        ("c1", K.REVOKE, "amy@x.com", "crm"),
        ("c2", K.DEACTIVATE, "bob@x.com", None),
        ("c3", K.DEACTIVATE, "kim@x.com", None),
        ("c4", K.UPDATE, "amy@x.com", None),
        ("c5", K.REACTIVATE, "eve@x.com", None),
        ("c6", K.CREATE, "zed@x.com", None),
        ("c7", K.GRANT, "amy@x.com", "erp"),
        ("c8", K.GRANT, "eve@x.com", "crm"),
        ("c9", K.GRANT, "zed@x.com", "crm"),
        ("c10", K.GRANT, "zed@x.com", "erp"),
    ]
    phases = [PHASE[c.kind] for c in plan.changes]
    assert phases == sorted(phases)


def test_grants_depend_on_the_create_or_reactivate_before_them():
    plan = plan_of(*mixed())
    by_id = {c.id: c for c in plan.changes}
    depends = {(c.email, c.product): c.depends_on for c in plan.changes if c.kind is K.GRANT}
    assert by_id[depends[("zed@x.com", "crm")]].kind is K.CREATE
    assert depends[("zed@x.com", "crm")] == depends[("zed@x.com", "erp")] == "c6"
    assert by_id[depends[("eve@x.com", "crm")]].kind is K.REACTIVATE
    assert depends[("amy@x.com", "erp")] is None


def test_order_does_not_depend_on_input_order():
    desired, live = mixed()
    reference = plan_of(desired, live)
    users = list(desired.users)
    live_users = list(live.users.items())
    rng = random.Random(7)
    for _ in range(5):
        rng.shuffle(users)
        rng.shuffle(live_users)
        shuffled = plan_of(
            replace(desired, users=tuple(users)),
            replace(live, users=dict(live_users)),
        )
        assert shuffled == reference


def test_plan_records_metadata_counts_and_cost():
    desired, live = mixed()
    plan = build_plan(
        desired,
        live,
        capabilities=PLANVIEW,
        target="https://tenant.example",
        now=NOW + timedelta(hours=1),
        cost=lambda kind: 2 if kind is K.CREATE else 1,
    )
    assert plan.target == "https://tenant.example"
    assert plan.desired_digest == desired.digest
    assert plan.created_at == "2026-11-29T02:02:03Z"
    assert plan.counts() == {
        "create": 1,
        "update": 1,
        "deactivate": 2,
        "reactivate": 1,
        "delete": 0,
        "grant": 4,
        "revoke": 1,
    }
    assert plan.estimated_requests == 11  # 10 changes, the create costs 2


def test_delete_needs_both_the_policy_and_the_flag():
    desired, live = states(
        [du("amy@x.com")],
        [lu("amy@x.com"), lu("bob@x.com", ["crm"]), lu("old@x.com", status="deactivated")],
        unmanaged="delete",
    )
    allowed = plan_of(desired, live, allow_delete=True)
    assert [(c.kind, c.email) for c in allowed.changes] == [
        (K.DELETE, "bob@x.com"),
        (K.DELETE, "old@x.com"),
    ]
    assert allowed.warnings == ()

    held_back = plan_of(desired, live)
    (change,) = held_back.changes
    assert (change.kind, change.email, change.removal) == (K.DEACTIVATE, "bob@x.com", True)
    assert change.before == {"status": "active"} and change.after == {"status": "deactivated"}
    assert held_back.warnings == (
        "2 users not in the desired state would be deleted (settings.unmanagedUsers: "
        "delete), but deleting needs --allow-delete; they are deactivated instead.",
    )


def test_the_flag_alone_deletes_nothing():
    desired, live = states([], [lu("bob@x.com")])
    plan = plan_of(desired, live, allow_delete=True)
    assert [c.kind for c in plan.changes] == [K.DEACTIVATE]


def test_no_changes_plan():
    desired, live = states([du("amy@x.com", ["crm"])], [lu("amy@x.com", ["crm"])])
    plan = plan_of(desired, live)
    assert not plan.has_changes and plan.estimated_requests == 0
    assert not plan.safety.blocked
