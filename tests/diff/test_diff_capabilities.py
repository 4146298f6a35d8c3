"""diff() takes its rules from the backend's declared capabilities, not from Planview's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from statebuilder import PLANVIEW, du, lu, states

from reconciler.backends.capabilities import Capabilities
from reconciler.changes import ChangeKind as K
from reconciler.diff import diff
from reconciler.errors import PlanError
from reconciler.model import LiveProduct, LiveState
from reconciler.validate import load_desired

# A SCIM-like service: names only, no roles, no audit log, deactivation keeps access.
NO_ROLES = Capabilities(
    name="names-only",
    managed_fields=frozenset({"first_name", "last_name"}),
)


def test_a_backend_without_roles_compares_neither_role_nor_password_required() -> None:
    want, have = states(
        [du("amy@x.com", ["crm"])],
        # A roleless backend reports no role at all; Planview's rules would update it.
        [lu("amy@x.com", ["crm"], role="", password_required=True)],
    )
    assert diff(want, have, NO_ROLES).changes == ()
    (update,) = diff(want, have, PLANVIEW).changes
    assert update.after == {"role": "User", "password_required": False}


def test_a_create_for_a_backend_without_roles_carries_only_its_fields() -> None:
    want, have = states([du("new@x.com")])
    (create,) = diff(want, have, NO_ROLES).changes
    assert create.after == {"first_name": "New", "last_name": "Example", "products": []}


def test_names_still_differ_on_a_backend_without_roles() -> None:
    want, have = states([du("amy@x.com", last_name="Smith")], [lu("amy@x.com", role="")])
    (update,) = diff(want, have, NO_ROLES).changes
    assert (update.kind, update.before, update.after) == (
        K.UPDATE,
        {"last_name": "Example"},
        {"last_name": "Smith"},
    )


def _write(tmp_path: Path, users: str) -> Path:
    path = tmp_path / "users.yaml"
    path.write_text("version: 1\nusers:\n" + users)
    return path


def _empty_tenant() -> LiveState:
    return LiveState(users={}, products={"p1": LiveProduct("p1", "CRM")}, provisioning={})


def test_setting_role_or_password_required_for_a_backend_without_them_names_file_and_line(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        "  - {email: ann@x.com, firstName: Ann, lastName: Lee}\n"
        "  - email: bob@x.com\n"
        "    firstName: Bob\n"
        "    lastName: Ray\n"
        "    role: User\n"  # even the default value is refused: it says something
        "  - {email: cy@x.com, firstName: Cy, lastName: Oh, passwordRequired: false}\n",
    )
    desired = load_desired([path])
    with pytest.raises(PlanError) as caught:
        diff(desired, _empty_tenant(), NO_ROLES)
    message = str(caught.value)
    assert f"{path}:4:" in message and "bob@x.com sets role" in message
    assert f"{path}:8:" in message and "cy@x.com sets passwordRequired" in message
    assert "names-only backend does not manage" in message
    assert "ann@x.com" not in message
    # The same file is fine where roles exist.
    assert len(diff(desired, _empty_tenant(), PLANVIEW).changes) == 3


def test_a_role_outside_the_backends_vocabulary_is_refused() -> None:
    editors = replace(PLANVIEW, name="editors", roles=("Editor", "Viewer"), privileged_role=None)
    want, have = states([du("amy@x.com", role="Administrator", line=9)], [lu("amy@x.com")])
    with pytest.raises(PlanError, match=r"users.yaml:9:5: amy@x.com has role 'Administrator'"):
        diff(want, have, editors)


def test_demotion_is_a_removal_by_the_backends_privileged_role() -> None:
    editors = replace(PLANVIEW, roles=("Owner", "Editor"), privileged_role="Owner")
    want, have = states(
        [du("own@x.com", role="Editor"), du("ed@x.com", role="Owner")],
        [lu("own@x.com", role="Owner"), lu("ed@x.com", role="Editor")],
    )
    removal = {c.email: c.removal for c in diff(want, have, editors).changes}
    assert removal == {"own@x.com": True, "ed@x.com": False}


# Where deactivating does not end product access (SCIM: group membership stays), an
# unlisted user's managed products are revoked too: "not in the desired state" means no
# managed access, whatever the service does on deactivation. Each revoke is a removal.
KEEPS_ACCESS = replace(PLANVIEW, deactivate_revokes_access=False)


def test_unlisted_user_on_a_backend_whose_deactivation_keeps_access_is_also_revoked() -> None:
    want, have = states([], [lu("gone@x.com", ["crm", "erp", "bi"])])
    changes = diff(want, have, KEEPS_ACCESS).changes
    assert sorted((c.kind, c.product) for c in changes) == [
        (K.DEACTIVATE, None),
        (K.REVOKE, "crm"),
        (K.REVOKE, "erp"),  # bi is not aliased, so never managed
    ]
    assert all(c.removal for c in changes)
    # Planview frees the seat on deactivation: no separate revokes.
    assert [c.kind for c in diff(want, have, PLANVIEW).changes] == [K.DEACTIVATE]


def test_an_already_deactivated_unlisted_user_keeping_access_only_loses_the_access() -> None:
    want, have = states([], [lu("gone@x.com", ["crm"], status="deactivated")])
    assert [c.kind for c in diff(want, have, KEEPS_ACCESS).changes] == [K.REVOKE]
    assert diff(want, have, PLANVIEW).changes == ()


def test_a_deactivated_user_is_granted_where_the_service_allows_it() -> None:
    want, have = states(
        [du("kim@x.com", ["crm"], active=False)], [lu("kim@x.com", status="deactivated")]
    )
    lenient = replace(PLANVIEW, grant_requires_active=False)
    result = diff(want, have, lenient)
    assert [(c.kind, c.product) for c in result.changes] == [(K.GRANT, "crm")]
    assert result.warnings == ()
    strict = diff(want, have, PLANVIEW)
    assert strict.changes == () and "cannot be granted" in strict.warnings[0]
