"""Property: applying a plan to the live state (simulated on the neutral model, with
the API's rules) yields a state that plans to no changes, and never touches what is
out of scope, protected, or not aliased."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from statebuilder import PLANVIEW, PRODUCT_IDS, du, lu, states

from reconciler.changes import ChangeKind as K
from reconciler.diff import Scope
from reconciler.model import LiveState, LiveUser, email_key
from reconciler.plan import Plan, build_plan

LOCALS = ("ann", "bob", "cy", "dee", "eli", "fay")
DOMAINS = ("x.com", "y.org")
PRODUCTS = ("crm", "erp")


def emails() -> st.SearchStrategy[str]:
    return st.builds(
        lambda local, domain, upper: f"{local}@{domain}".upper() if upper else f"{local}@{domain}",
        st.sampled_from(LOCALS),
        st.sampled_from(DOMAINS),
        st.booleans(),
    )


fields = {
    "first_name": st.sampled_from(("Ann", "Bob")),
    "last_name": st.sampled_from(("X", "Y")),
    "role": st.sampled_from(("User", "Administrator")),
    "password_required": st.booleans(),
}
desired_users = st.lists(
    st.builds(du, emails(), st.sets(st.sampled_from(PRODUCTS)), active=st.booleans(), **fields),
    unique_by=lambda u: u.key,
    max_size=6,
)
live_users = st.lists(
    st.builds(
        lambda email, products, **kw: lu(email, products, id=f"u-{email_key(email)}", **kw),
        emails(),
        st.sets(st.sampled_from((*PRODUCTS, "bi"))),
        status=st.sampled_from(("active", "pending", "deactivated")),
        **fields,
    ),
    unique_by=lambda pair: pair[0].key,
    max_size=8,
)
options = st.fixed_dictionaries(
    {
        "unmanaged": st.sampled_from(("deactivate", "ignore", "delete")),
        "protected": st.sampled_from(((), ("ann@*",), ("*@Y.ORG", "bob@x.com"))),
        "scope": st.sampled_from((None, ("x.com",))),
    }
)


def simulate(plan: Plan, live: LiveState) -> LiveState:
    """Apply the plan as the API would, asserting the API's preconditions."""
    users = dict(live.users)
    provisioning = {pid: set(ids) for pid, ids in live.provisioning.items()}
    done: set[str] = set()
    for change in plan.changes:
        assert change.depends_on is None or change.depends_on in done
        key = email_key(change.email)
        user = users.get(key)
        if change.kind is K.CREATE:
            assert user is None
            after = {k: v for k, v in (change.after or {}).items() if k != "products"}
            users[key] = LiveUser(id=f"new-{key}", email=change.email, status="pending", **after)
        elif change.kind is K.DELETE:
            assert user is not None and user.id == change.user_id
            del users[key]
            for ids in provisioning.values():
                ids.discard(user.id)
        elif change.kind in (K.GRANT, K.REVOKE):
            assert user is not None and change.product_id in provisioning
            assert change.user_id in (None, user.id)
            holders = provisioning[change.product_id]
            if change.kind is K.GRANT:
                assert user.active, "the API refuses to provision a deactivated user"
                assert user.id not in holders
                holders.add(user.id)
            else:
                assert user.id in holders
                holders.remove(user.id)
        else:
            assert user is not None and user.id == change.user_id
            assert {k: getattr(user, k) for k in change.before or {}} == change.before
            users[key] = replace(user, **(change.after or {}))
        done.add(change.id)
    return LiveState(
        users=users,
        products=live.products,
        provisioning={pid: frozenset(ids) for pid, ids in provisioning.items()},
    )


def untouchable(desired, live: LiveState) -> dict[str, tuple]:
    """Users the plan must leave alone (out of scope or protected), with their products."""
    scope = Scope(desired.settings)
    return {
        key: (user, sorted(pid for pid, ids in live.provisioning.items() if user.id in ids))
        for key, user in live.users.items()
        if not scope.contains(user.email) or scope.protected_by(user.email)
    }


def assert_matches_desired(desired, before: LiveState, after: LiveState, allow_delete: bool):
    """The rules, checked directly against the result (independent of diff itself)."""
    scope = Scope(desired.settings)
    managed = {alias: PRODUCT_IDS[alias] for alias in PRODUCTS}

    def held(state: LiveState, user: LiveUser) -> set[str]:
        return {a for a, pid in managed.items() if user.id in state.provisioning[pid]}

    listed = set()
    for wanted in desired.users:
        if not scope.contains(wanted.email) or scope.protected_by(wanted.email):
            continue
        listed.add(wanted.key)
        user = after.users.get(wanted.key)
        if user is None:
            assert not wanted.active and wanted.key not in before.users
            continue
        assert user.fields() == wanted.fields()
        assert user.active == wanted.active
        if wanted.active:
            assert held(after, user) == wanted.products
        else:  # a deactivated user cannot be granted anything
            assert held(after, user) <= wanted.products
    policy = desired.settings.unmanaged_users
    for key, user in before.users.items():
        if key in listed or not scope.contains(user.email) or scope.protected_by(user.email):
            continue
        now = after.users.get(key)
        if policy == "ignore":
            assert now == user and held(after, user) == held(before, user)
        elif policy == "delete" and allow_delete:
            assert now is None
        else:
            assert now is not None and not now.active
            assert held(after, now) == held(before, user)  # no separate revokes


@settings(max_examples=200, deadline=None)
@given(desired_users, live_users, options, st.booleans())
def test_applying_a_plan_converges(desired_list, live_list, opts, allow_delete):
    desired, live = states(desired_list, live_list, max_removals=1000, **opts)
    plan = build_plan(
        desired, live, capabilities=PLANVIEW, target="https://t", allow_delete=allow_delete
    )
    after = simulate(plan, live)

    assert_matches_desired(desired, live, after, allow_delete)
    again = build_plan(
        desired, after, capabilities=PLANVIEW, target="https://t", allow_delete=allow_delete
    )
    assert again.changes == (), again.changes
    assert untouchable(desired, after) == untouchable(desired, live)
    remaining = {user.id for user in after.users.values()}
    bi = PRODUCT_IDS["bi"]  # not aliased: only a delete may drop it, with the user
    assert after.provisioning[bi] == live.provisioning[bi] & remaining
    assert all(c.kind is not K.DELETE for c in plan.changes) or allow_delete
