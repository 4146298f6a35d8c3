"""diff(): every change kind and every rule, on tiny hand-built states."""

from __future__ import annotations

import copy
import re

import pytest
from statebuilder import PLANVIEW, PRODUCT_IDS, du, lu, states

from reconciler.changes import ChangeKind as K
from reconciler.diff import diff
from reconciler.errors import PlanError
from reconciler.model import absent_fingerprint, provisioning_fingerprint


def kinds(result) -> list[tuple[K, str, str | None]]:
    return sorted(((c.kind, c.key, c.product) for c in result.changes), key=str)


def test_matching_states_have_no_changes():
    want, have = states([du("alice@x.com", ["crm"])], [lu("alice@x.com", ["crm"])])
    result = diff(want, have, PLANVIEW)
    assert result.in_sync and not result.warnings and not result.skipped


def test_email_case_difference_is_not_a_change():
    want, have = states([du("Alice.Smith@X.com", ["crm"])], [lu("alice.smith@x.COM", ["crm"])])
    assert diff(want, have, PLANVIEW).changes == ()


def test_create_carries_fields_and_its_grants():
    want, have = states([du("alice@x.com", ["crm", "erp"], role="Administrator", line=7)])
    result = diff(want, have, PLANVIEW)
    create, *grants = sorted(result.changes, key=lambda c: c.kind != K.CREATE)
    assert create.kind is K.CREATE and create.user_id is None
    assert create.after == {
        "first_name": "Alice",
        "last_name": "Example",
        "role": "Administrator",
        "password_required": False,
        "products": ["crm", "erp"],
    }
    assert create.fingerprint == absent_fingerprint("alice@x.com")
    assert create.source == "users.yaml:7:5"
    assert sorted(g.product_id for g in grants) == ["p-crm", "p-erp"]
    assert all(g.kind is K.GRANT and g.user_id is None for g in grants)
    assert all(g.after_kind is K.CREATE for g in grants)
    assert grants[0].fingerprint == provisioning_fingerprint(grants[0].product_id, None, False)


def test_update_lists_only_the_fields_that_differ():
    want, have = states(
        [du("bob@x.com", first_name="Robert", password_required=True)],
        [lu("bob@x.com")],
    )
    (change,) = diff(want, have, PLANVIEW).changes
    live_user = have.users["bob@x.com"]
    assert change.kind is K.UPDATE and change.user_id == live_user.id
    assert change.before == {"first_name": "Bob", "password_required": False}
    assert change.after == {"first_name": "Robert", "password_required": True}
    assert change.fingerprint == live_user.fingerprint()
    assert not change.removal


def test_demotion_from_administrator_is_a_removal_promotion_is_not():
    want, have = states(
        [du("ann@x.com", role="User"), du("ben@x.com", role="Administrator")],
        [lu("ann@x.com", role="Administrator"), lu("ben@x.com", role="User")],
    )
    removal = {c.key: c.removal for c in diff(want, have, PLANVIEW).changes}
    assert removal == {"ann@x.com": True, "ben@x.com": False}


def test_grant_and_revoke_only_aliased_products():
    want, have = states([du("bob@x.com", ["erp"])], [lu("bob@x.com", ["crm", "bi"])])
    result = diff(want, have, PLANVIEW)
    assert kinds(result) == [(K.GRANT, "bob@x.com", "erp"), (K.REVOKE, "bob@x.com", "crm")]
    revoke = next(c for c in result.changes if c.kind is K.REVOKE)
    assert revoke.removal and revoke.fingerprint == provisioning_fingerprint(
        PRODUCT_IDS["crm"], "u-bob", True
    )


def test_deactivate_listed_user_and_pending_counts_as_active():
    want, have = states(
        [du("ann@x.com", active=False), du("ben@x.com")],
        [lu("ann@x.com", status="pending"), lu("ben@x.com", status="pending")],
    )
    (change,) = diff(want, have, PLANVIEW).changes
    assert (change.kind, change.key, change.removal) == (K.DEACTIVATE, "ann@x.com", True)
    assert change.before == {"status": "pending"} and change.after == {"status": "deactivated"}


def test_reactivate_then_grant_waits_on_it():
    want, have = states([du("erin@x.com", ["crm"])], [lu("erin@x.com", status="deactivated")])
    result = diff(want, have, PLANVIEW)
    assert kinds(result) == [(K.GRANT, "erin@x.com", "crm"), (K.REACTIVATE, "erin@x.com", None)]
    grant = next(c for c in result.changes if c.kind is K.GRANT)
    assert grant.after_kind is K.REACTIVATE and grant.user_id == "u-erin"


def test_inactive_desired_user_that_does_not_exist_is_not_created():
    want, have = states([du("ghost@x.com", ["crm"], active=False)])
    result = diff(want, have, PLANVIEW)
    assert result.changes == ()
    assert result.warnings == (
        "ghost@x.com is listed with active: false but does not exist in the tenant; "
        "it is not created.",
    )


def test_no_grants_to_a_user_who_is_or_becomes_deactivated():
    want, have = states([du("kim@x.com", ["crm"], active=False)], [lu("kim@x.com")])
    assert [c.kind for c in diff(want, have, PLANVIEW).changes] == [K.DEACTIVATE]
    assert "kim@x.com is listed with active: false" in diff(want, have, PLANVIEW).warnings[0]


def test_no_grants_to_a_user_who_stays_deactivated():
    want, have = states(
        [du("dee@x.com", ["crm", "erp"], active=False)],
        [lu("dee@x.com", ["erp"], status="deactivated")],
    )
    result = diff(want, have, PLANVIEW)
    assert result.changes == ()
    assert "dee@x.com is listed with active: false" in result.warnings[0]
    assert "(crm)" in result.warnings[0]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("deactivate", [(K.DEACTIVATE, "dan@x.com", None)]),
        ("ignore", []),
        ("delete", [(K.DELETE, "dan@x.com", None), (K.DELETE, "old@x.com", None)]),
    ],
)
def test_unlisted_users_follow_the_policy_without_separate_revokes(policy, expected):
    want, have = states(
        [],
        [lu("dan@x.com", ["crm", "erp"]), lu("old@x.com", ["crm"], status="deactivated")],
        unmanaged=policy,
    )
    assert kinds(diff(want, have, PLANVIEW)) == expected


def test_delete_records_what_the_user_held():
    want, have = states(
        [], [lu("dan@x.com", ["crm", "bi"], role="Administrator")], unmanaged="delete"
    )
    (change,) = diff(want, have, PLANVIEW).changes
    assert change.removal and change.after is None
    assert change.before == {
        "first_name": "Dan",
        "last_name": "Example",
        "role": "Administrator",
        "password_required": False,
        "status": "active",
        "products": ["crm"],
    }


def test_users_outside_scope_are_invisible():
    want, have = states(
        [du("alice@corp.com", ["crm"])],
        [lu("alice@corp.com"), lu("vendor@partner.com", ["crm"])],
        scope=["corp.com"],
    )
    result = diff(want, have, PLANVIEW)
    assert kinds(result) == [(K.GRANT, "alice@corp.com", "crm")]
    assert result.managed_users == 1


def test_desired_users_outside_scope_are_ignored_with_a_warning():
    want, have = states([du("vendor@Partner.com", ["crm"])], [], scope=["corp.com"])
    result = diff(want, have, PLANVIEW)
    assert result.changes == ()
    assert result.warnings == (
        "vendor@Partner.com is outside settings.scope.emailDomains and is ignored.",
    )


def test_scope_domains_compare_case_insensitively():
    want, have = states([], [lu("Old@CORP.com")], scope=["corp.com"])
    assert [c.kind for c in diff(want, have, PLANVIEW).changes] == [K.DEACTIVATE]


def test_protected_users_are_skipped_with_their_differences():
    want, have = states(
        [du("Admin@x.com", ["crm"], role="User", active=False), du("ok@x.com")],
        [
            lu("admin@x.com", ["erp"], role="Administrator"),
            lu("ok@x.com"),
            lu("root@x.com"),
            lu("svc@x.com", status="deactivated"),
        ],
        protected=["ADMIN@*", "root@x.com", "svc@*"],
    )
    result = diff(want, have, PLANVIEW)
    assert result.changes == ()
    admin, root = result.skipped
    assert admin.email == "Admin@x.com" and "'ADMIN@*'" in admin.reason
    assert admin.differences == {
        "role": {"before": "Administrator", "after": "User"},
        "status": {"before": "active", "after": "deactivated"},
        "products": {"grant": ["crm"], "revoke": ["erp"]},
    }
    assert root.email == "root@x.com"
    assert root.differences == {"status": {"before": "active", "after": "deactivated"}}
    assert result.managed_users == 1  # only ok@x.com


def test_protected_user_to_be_created_is_skipped():
    want, have = states([du("admin@x.com")], [], protected=["admin@*"])
    result = diff(want, have, PLANVIEW)
    assert result.changes == ()
    assert result.skipped[0].differences == {"exists": {"before": False, "after": True}}


def test_diff_does_not_modify_its_inputs():
    want, have = states(
        [du("alice@x.com", ["crm"]), du("bob@x.com", role="Administrator")],
        [lu("bob@x.com", ["erp"]), lu("dan@x.com")],
    )
    before = copy.deepcopy((want, have))
    first = diff(want, have, PLANVIEW)
    assert (want, have) == before
    assert diff(want, have, PLANVIEW) == first


def test_unknown_alias_and_duplicate_users_are_clear_errors():
    want, have = states([du("alice@x.com", ["nope"])])
    with pytest.raises(
        PlanError, match=re.escape("users.yaml:1:5: alice@x.com names product aliases")
    ):
        diff(want, have, PLANVIEW)
    want, have = states([du("alice@x.com"), du("ALICE@x.com", line=9)])
    with pytest.raises(
        PlanError, match=re.escape("users.yaml:9:5: ALICE@x.com is listed more than once")
    ):
        diff(want, have, PLANVIEW)
