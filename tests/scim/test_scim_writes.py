"""Every write kind through the Backend methods, checked by reading scim2-server directly."""

from __future__ import annotations

import inspect
from datetime import datetime, timezone

import pytest
from scim_server import ScimServer

from reconciler.backends.base import Backend, NewUser
from reconciler.errors import ApiError, PlanError


def test_backend_satisfies_the_protocol_and_declares_scim_capabilities(scim: ScimServer) -> None:
    with scim.backend() as backend:
        assert isinstance(backend, Backend)
        protocol_methods = [
            name
            for name, value in vars(Backend).items()
            if callable(value) and not name.startswith("_")
        ]
        assert len(protocol_methods) >= 17
        for name in protocol_methods:
            assert callable(getattr(backend, name)), name
            wanted = list(inspect.signature(getattr(Backend, name)).parameters)[1:]
            have = list(inspect.signature(getattr(backend, name)).parameters)
            assert have[: len(wanted)] == wanted, name
        caps = backend.capabilities
        assert caps.name == "scim"
        assert caps.managed_fields == {"first_name", "last_name"}
        assert caps.roles == ()
        assert not caps.has_audit_log
        assert not caps.deactivate_revokes_access
        assert not caps.grant_requires_active
        assert caps.supports_delete
        assert caps.max_page_size == 1000  # scim2-server's default filter.maxResults
        assert backend.target == scim.url
        assert list(backend.audit_events(datetime(2020, 1, 1, tzinfo=timezone.utc))) == []
        assert list(backend.user_audit("anyone")) == []
        assert backend.user_audits(["anyone", "else"]) == {"anyone": [], "else": []}


def test_create_then_every_user_write(scim: ScimServer) -> None:
    with scim.backend() as backend:
        created = backend.create_user(NewUser("Ada.Lovelace@Example.com", "Ada", "Lovelace"))
        raw = scim.user(created.id)
        assert raw["userName"] == "Ada.Lovelace@Example.com"
        assert raw["emails"] == [
            {"value": "Ada.Lovelace@Example.com", "type": "work", "primary": True}
        ]
        assert raw["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
        assert (created.status, created.first_name, created.updated_at) == (
            "active",
            "Ada",
            raw["meta"]["lastModified"],
        )

        renamed = backend.update_user(created.id, {"first_name": "Augusta", "last_name": "King"})
        assert (renamed.first_name, renamed.last_name) == ("Augusta", "King")
        assert scim.user(created.id)["name"] == {"givenName": "Augusta", "familyName": "King"}

        assert backend.deactivate_user(created.id).status == "deactivated"
        assert scim.user(created.id)["active"] is False
        assert backend.reactivate_user(created.id).status == "active"
        assert scim.user(created.id)["active"] is True

        backend.delete_user(created.id)
        assert backend.get_user(created.id) is None
        assert scim.users_named("Ada.Lovelace@Example.com") == []
        # one request per change when PATCH is supported, as estimated
        by_endpoint = backend.stats().by_endpoint
        assert by_endpoint["PATCH /Users/{id}"] == 3
        assert by_endpoint["DELETE /Users/{id}"] == 1
        assert all(backend.estimate_requests(kind) == 1 for kind in ("update", "grant"))


def test_grant_and_revoke_are_member_patches(scim: ScimServer) -> None:
    user_id = scim.add_user("grace@example.com")
    other = scim.add_user("alan@example.com")
    group_id = scim.add_group("AgilePlace", members=(other,))
    with scim.backend() as backend:
        backend.grant(group_id, user_id)
        assert scim.group_members(group_id) == {user_id, other}
        assert backend.list_provisioned(group_id) == {user_id, other}
        backend.grant(group_id, user_id)  # already a member: still one membership
        assert scim.group_members(group_id) == {user_id, other}
        backend.revoke(group_id, user_id)
        assert scim.group_members(group_id) == {other}
        assert backend.list_provisioned(group_id) == {other}
        assert backend.stats().by_endpoint["PATCH /Groups/{id}"] == 3


def test_read_live_maps_users_groups_and_members(scim: ScimServer) -> None:
    active = scim.add_user("Active.One@Example.com", "Active", "One")
    inactive = scim.add_user("inactive@example.com", "In", "Active", active=False)
    wanted = scim.add_group("Projects", members=(active, inactive))
    scim.add_group("Unmanaged", members=(active,))
    with scim.backend() as backend:
        live = backend.read_live([wanted])
        assert set(live.users) == {"active.one@example.com", "inactive@example.com"}
        assert live.users["active.one@example.com"].email == "Active.One@Example.com"
        assert live.users["inactive@example.com"].status == "deactivated"
        assert {p.name for p in live.products.values()} == {"Projects", "Unmanaged"}
        assert live.provisioning == {wanted: frozenset({active, inactive})}
        # the collector's way: products first, then only the managed group's members
        products = backend.list_products()
        again = backend.read_live([wanted], products=products)  # type: ignore[call-arg]
        assert again.provisioning == live.provisioning
        assert again.users == live.users


def test_role_and_password_required_are_refused_before_any_request(scim: ScimServer) -> None:
    user_id = scim.add_user("refuse@example.com")
    with scim.backend() as backend:
        before = backend.stats().requests
        with pytest.raises(PlanError, match="role: it is not a SCIM core attribute"):
            backend.update_user(user_id, {"role": "Administrator"})
        with pytest.raises(PlanError, match="passwordRequired"):
            backend.update_user(user_id, {"password_required": True})
        with pytest.raises(PlanError, match="role"):
            backend.create_user(NewUser("admin@example.com", "A", "B", role="Administrator"))
        assert backend.stats().requests == before
    assert scim.users_named("admin@example.com") == []


def test_find_user_by_email_ignores_letter_case_and_escapes_quotes(scim: ScimServer) -> None:
    mixed = scim.add_user("Mixed.Case@Example.COM")
    quoted = scim.add_user('odd"name@example.com')
    scim.add_user("odd@example.com")
    with scim.backend() as backend:
        found = backend.find_user_by_email("mixed.case@example.com")
        assert found is not None and found.id == mixed
        odd = backend.find_user_by_email('ODD"name@example.com')
        assert odd is not None and odd.id == quoted
        assert backend.find_user_by_email('odd" or userName pr or "x') is None


def test_conflicting_create_of_a_matching_user_is_success_and_a_different_one_is_not(
    scim: ScimServer,
) -> None:
    existing = scim.add_user("taken@example.com", "Same", "Name")
    with scim.backend() as backend:
        again = backend.create_user(NewUser("TAKEN@example.com", "Same", "Name"))
        assert again.id == existing
        with pytest.raises(ApiError, match="already exists with different details") as caught:
            backend.create_user(NewUser("taken@example.com", "Other", "Name"))
        assert caught.value.status == 409
    assert len(scim.users_named("taken@example.com")) == 1
