"""The removal limit: counts, percentages, the floor of 5, and --allow-removals."""

from __future__ import annotations

import pytest
from statebuilder import PLANVIEW, du, lu, states

from reconciler.errors import PlanError
from reconciler.model import SafetySettings
from reconciler.plan import build_plan, removal_limit


def tenant(total: int, unlisted: int, max_removals: int | str = "10%"):
    """`total` live users, the last `unlisted` of them missing from the desired state."""
    emails = [f"user{i:03d}@x.com" for i in range(total)]
    return states(
        [du(e) for e in emails[: total - unlisted]],
        [lu(e) for e in emails],
        max_removals=max_removals,
    )


def plan(desired, live, **options):
    return build_plan(desired, live, capabilities=PLANVIEW, target="https://t", **options)


def test_count_limit_blocks_when_exceeded():
    verdict = plan(*tenant(10, 3, max_removals=2)).safety
    assert verdict.blocked and (verdict.removals, verdict.limit) == (3, 2)
    assert verdict.reason == (
        "3 removals exceed the limit of 2 (settings.safety.maxRemovals): review the plan, "
        "then run again with --allow-removals 3 to proceed."
    )


def test_count_limit_allows_up_to_the_limit():
    verdict = plan(*tenant(10, 2, max_removals=2)).safety
    assert not verdict.blocked and not verdict.allowed_by_override


def test_percentage_of_managed_users():
    assert not plan(*tenant(200, 20)).safety.blocked  # 10% of 200 = 20
    verdict = plan(*tenant(200, 21)).safety
    assert verdict.blocked and verdict.limit == 20 and verdict.managed_users == 200
    assert "10% of 200 managed users" in verdict.reason


def test_percentage_never_gives_fewer_than_five():
    assert not plan(*tenant(20, 5)).safety.blocked  # 10% of 20 is 2, floor is 5
    verdict = plan(*tenant(20, 6)).safety
    assert verdict.blocked and verdict.limit == 5


def test_every_kind_of_removal_counts():
    desired, live = states(
        [
            du("a@x.com", role="User"),  # demotion
            du("b@x.com"),  # revoke crm
            du("c@x.com", active=False),  # deactivate
            du("d@x.com", role="Administrator"),  # promotion: not a removal
        ],
        [
            lu("a@x.com", role="Administrator"),
            lu("b@x.com", ["crm"]),
            lu("c@x.com"),
            lu("d@x.com"),
            lu("e@x.com"),  # unlisted: deactivate
        ],
        max_removals=3,
    )
    verdict = plan(desired, live).safety
    assert verdict.removals == 4 and verdict.blocked


def test_override_of_at_least_the_removals_lifts_the_block():
    desired, live = tenant(10, 4, max_removals=1)
    lifted = plan(desired, live, allow_removals=4)
    assert not lifted.safety.blocked and lifted.safety.allowed_by_override
    assert "allowed by --allow-removals 4" in lifted.safety.reason

    too_small = plan(desired, live, allow_removals=3)
    assert too_small.safety.blocked and not too_small.safety.allowed_by_override
    assert "--allow-removals 3 is fewer than the 4 planned" in too_small.safety.reason


def test_blocked_plan_is_still_complete():
    blocked = plan(*tenant(30, 8, max_removals=1))
    assert blocked.safety.blocked and len(blocked.changes) == 8


@pytest.mark.parametrize(
    ("setting", "managed", "expected"),
    [(0, 100, 0), (7, 3, 7), ("12", 100, 12), ("50%", 31, 15), ("12.5%", 200, 25), ("0%", 9, 5)],
)
def test_removal_limit(setting, managed, expected):
    assert removal_limit(SafetySettings(setting), managed)[0] == expected


@pytest.mark.parametrize("setting", ["lots", "150%", -1, "%"])
def test_bad_limit_is_a_clear_error(setting):
    with pytest.raises(PlanError, match=r"settings\.safety\.maxRemovals"):
        removal_limit(SafetySettings(setting), 10)
