"""settings.policy.minAdministrators: a plan that leaves too few administrators is blocked."""

from __future__ import annotations

from dataclasses import replace

import pytest
from statebuilder import PLANVIEW, du, lu, states

from reconciler.backends.capabilities import Capabilities
from reconciler.errors import PlanError
from reconciler.model import PolicySettings, SourcePos
from reconciler.plan import build_plan
from reconciler.plan.invariants import count_administrators

NO_ROLES = Capabilities(name="scim", managed_fields=frozenset({"first_name", "last_name"}))


def with_policy(desired, **policy):
    settings = replace(desired.settings, policy=PolicySettings(**policy))
    return replace(desired, settings=settings)


def plan(desired, live, capabilities=PLANVIEW, **options):
    return build_plan(desired, live, capabilities=capabilities, target="https://t", **options)


def test_demoting_the_last_administrator_is_blocked_and_no_override_lifts_it():
    desired, live = states(
        [du("boss@x.com", role="User")], [lu("boss@x.com", role="Administrator")]
    )
    result = plan(desired, live, allow_removals=10)
    verdict = result.safety
    assert verdict.blocked and verdict.administrators_blocked
    assert (verdict.administrators, verdict.min_administrators) == (0, 1)
    assert "would leave 0 active Administrators (now 1)" in verdict.reason
    assert "--allow-removals does not lift this" in verdict.reason


def test_protected_and_out_of_scope_administrators_count():
    desired, live = states(
        [du("boss@x.com", role="User")],
        [
            lu("boss@x.com", role="Administrator"),
            lu("glass@x.com", role="Administrator"),  # protected
            lu("ops@other.com", role="Administrator"),  # out of scope
        ],
        protected=["glass@*"],
        scope=["x.com"],
    )
    assert not plan(desired, live).safety.blocked
    strict = with_policy(desired, min_administrators=3, min_administrators_set=True)
    verdict = plan(strict, live).safety
    assert verdict.blocked and verdict.administrators == 2


def test_deactivating_an_unlisted_administrator_counts_and_ignored_ones_stay():
    desired, live = states(
        [du("amy@x.com")], [lu("amy@x.com"), lu("boss@x.com", role="Administrator")]
    )
    assert plan(desired, live).safety.administrators_blocked
    ignoring, live = states(
        [du("amy@x.com")],
        [lu("amy@x.com"), lu("boss@x.com", role="Administrator")],
        unmanaged="ignore",
    )
    assert plan(ignoring, live).safety.administrators == 1


def test_a_promotion_or_new_administrator_makes_up_for_a_demotion():
    desired, live = states(
        [du("boss@x.com", role="User"), du("new@x.com", role="Administrator")],
        [lu("boss@x.com", role="Administrator")],
    )
    verdict = plan(desired, live).safety
    assert not verdict.blocked and verdict.administrators == 1


def test_a_tenant_already_short_is_not_blocked_by_a_plan_that_does_not_lower_it():
    desired, live = states([du("amy@x.com", ["crm"])], [lu("amy@x.com")])
    assert not plan(desired, live).safety.blocked
    asked = with_policy(desired, min_administrators=1, min_administrators_set=True)
    result = plan(asked, live)
    assert not result.safety.blocked
    assert any("fewer than settings.policy.minAdministrators (1)" in w for w in result.warnings)


def test_the_count_follows_reactivation_and_deletion():
    desired, live = states(
        [du("back@x.com", role="Administrator")],
        [
            lu("back@x.com", role="Administrator", status="deactivated"),
            lu("gone@x.com", role="Administrator"),
        ],
        unmanaged="delete",
    )
    result = plan(desired, live, allow_delete=True)
    count = count_administrators(live.users.values(), result.changes, "Administrator")
    assert (count.before, count.after) == (1, 1)
    assert not result.safety.blocked


def test_a_backend_without_roles_ignores_the_minimum_and_says_so_only_when_set():
    desired, live = states([du("amy@x.com")], [lu("amy@x.com")])
    quiet = plan(desired, live, NO_ROLES)
    assert quiet.safety.administrators is None
    assert not any("minAdministrators" in w for w in quiet.warnings)
    loud = plan(
        with_policy(desired, min_administrators=2, min_administrators_set=True), live, NO_ROLES
    )
    assert not loud.safety.blocked
    assert any(
        "minAdministrators is ignored: the scim backend has no roles" in w for w in loud.warnings
    )


def test_a_backend_without_roles_refuses_required_administrators():
    desired, live = states([du("amy@x.com")], [lu("amy@x.com")])
    required = with_policy(
        desired,
        required_administrators=("amy@x.com",),
        pos=SourcePos("users.yaml", 3, 3),
    )
    with pytest.raises(PlanError, match=r"users.yaml:3:3: settings.policy.requiredAdministrators"):
        plan(required, live, NO_ROLES)
