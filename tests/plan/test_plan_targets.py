"""--target: a pure filter on the diff's changes, before the plan numbers them."""

from __future__ import annotations

import pytest
from statebuilder import PLANVIEW, du, lu, states

from reconciler.errors import ConfigError
from reconciler.plan import Plan, build_plan
from reconciler.plan.model import ChangeKind as K
from reconciler.plan.targets import TARGETING_WARNING, parse_targets


def plan(desired, live, *targets: str, **options) -> Plan:
    return build_plan(
        desired,
        live,
        capabilities=PLANVIEW,
        target="https://t",
        targets=parse_targets(targets) if targets else None,
        **options,
    )


def tenant(**options):
    """amy gains erp, new.hire is created with crm and erp, leaver is not listed."""
    return states(
        [
            du("amy@x.com", ["crm", "erp"]),
            du("new.hire@x.com", ["crm", "erp"]),
            du("boss@x.com", role="Administrator"),
        ],
        [
            lu("amy@x.com", ["crm"]),
            lu("leaver@x.com", ["crm"]),
            lu("boss@x.com", role="Administrator"),
        ],
        **options,
    )


def test_an_email_target_keeps_only_that_users_changes_case_insensitively():
    result = plan(*tenant(), "AMY@X.com")
    assert [(c.id, c.kind, c.email, c.product) for c in result.changes] == [
        ("c1", K.GRANT, "amy@x.com", "erp")
    ]
    assert result.targets == ("amy@x.com",)
    assert result.warnings[0] == TARGETING_WARNING
    assert result.to_dict()["targets"] == ["amy@x.com"]


def test_an_unlisted_user_is_deactivated_only_when_targeted_by_email():
    by_product = plan(*tenant(), "product:crm")
    assert all(c.kind in (K.GRANT, K.REVOKE, K.CREATE) for c in by_product.changes)
    assert not any(c.email == "leaver@x.com" for c in by_product.changes)

    by_email = plan(*tenant(), "leaver@x.com")
    assert [(c.kind, c.email) for c in by_email.changes] == [(K.DEACTIVATE, "leaver@x.com")]


def test_a_product_target_includes_the_create_its_grant_depends_on():
    result = plan(*tenant(), "product:erp")
    kinds = [(c.kind, c.email, c.product) for c in result.changes]
    assert kinds == [
        (K.CREATE, "new.hire@x.com", None),
        (K.GRANT, "amy@x.com", "erp"),
        (K.GRANT, "new.hire@x.com", "erp"),
    ]
    create = result.changes[0]
    grant = next(c for c in result.changes if c.email == "new.hire@x.com" and c.kind is K.GRANT)
    assert grant.depends_on == create.id
    # The create promises only the grants the plan holds.
    assert create.after["products"] == ["erp"]
    assert any("create of new.hire@x.com is included" in w for w in result.warnings)


def test_the_removal_limit_counts_only_the_targeted_changes():
    desired, live = states(
        [du("a@x.com")],
        [lu("a@x.com", ["crm"]), *(lu(f"gone{i}@x.com") for i in range(4))],
        max_removals=1,
    )
    assert plan(desired, live).safety.blocked  # 5 removals in the whole plan
    one = plan(desired, live, "gone0@x.com")
    assert (one.safety.removals, one.safety.blocked) == (1, False)
    two = plan(desired, live, "gone0@x.com", "gone1@x.com")
    assert (two.safety.removals, two.safety.blocked) == (2, True)


def test_an_unknown_product_alias_is_an_error():
    with pytest.raises(ConfigError, match="product:nope names a product alias that is not"):
        plan(*tenant(), "product:nope")


def test_a_target_without_changes_is_a_warning():
    result = plan(*tenant(), "boss@x.com", "nobody@x.com")
    assert result.changes == ()
    assert "--target boss@x.com: the plan has no change for this user." in result.warnings
    assert "--target nobody@x.com: the plan has no change for this user." in result.warnings


@pytest.mark.parametrize("value", ["amy", "product:", "a b@x.com", "two@@x.com"])
def test_a_malformed_target_is_an_error(value: str):
    with pytest.raises(ConfigError, match="--target"):
        parse_targets([value])


def test_a_saved_targeted_plan_keeps_its_targets_under_its_digest():
    result = plan(*tenant(), "product:erp", "amy@x.com")
    data = result.to_dict()
    assert data["targets"] == ["amy@x.com", "product:erp"]
    again = Plan.from_dict(data)
    assert again.targets == result.targets and again.digest == result.digest
    untargeted = dict(data, targets=[])
    assert Plan.from_dict(untargeted).digest != result.digest


def test_a_whole_plan_has_no_targets_field():
    assert "targets" not in plan(*tenant()).to_dict()
