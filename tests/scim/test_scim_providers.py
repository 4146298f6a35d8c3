"""Adapting to what a provider announces: small pages, no PATCH, ETags."""

from __future__ import annotations

import pytest
from scim_server import ScimServer

from reconciler.backends.base import NewUser
from reconciler.errors import ApiError


@pytest.mark.parametrize(("users", "pages"), [(60, 3), (50, 2), (0, 1)])
def test_reads_take_the_paging_minimum_with_small_max_results(
    scim_small_pages: ScimServer, users: int, pages: int
) -> None:
    ids = [scim_small_pages.add_user(f"user{n:03d}@example.com") for n in range(users)]
    group = scim_small_pages.add_group("Big", members=tuple(ids))
    with scim_small_pages.backend() as backend:
        assert backend.capabilities.max_page_size == 25
        start = backend.stats().by_endpoint
        live = backend.read_live()
        spent = backend.stats().by_endpoint
        assert len(live.users) == users
        assert live.provisioning[group] == frozenset(ids)
        # totalResults ends the listing: a last full page is not followed by an empty one
        assert spent["GET /Users"] - start.get("GET /Users", 0) == pages
        assert spent["GET /Groups"] == 1


def test_without_patch_every_write_is_a_put_that_keeps_other_attributes(
    scim_no_patch: ScimServer,
) -> None:
    server = scim_no_patch
    user_id = server.add_user("put@example.com", "Old", "Name", title="Engineer")
    other = server.add_user("other@example.com")
    group = server.add_group("Projects", members=(other,))
    with server.backend() as backend:
        assert not backend.provider.patch
        backend.read_live()
        assert backend.update_user(user_id, {"first_name": "New"}).first_name == "New"
        assert backend.deactivate_user(user_id).status == "deactivated"
        assert backend.reactivate_user(user_id).status == "active"
        raw = server.user(user_id)
        assert raw["name"] == {"givenName": "New", "familyName": "Name"}
        assert raw["title"] == "Engineer"  # not managed, and not lost by the PUT
        backend.grant(group, user_id)
        assert server.group_members(group) == {user_id, other}
        backend.revoke(group, user_id)
        assert server.group_members(group) == {other}
        created = backend.create_user(NewUser("fresh@example.com", "Fresh", "User"))
        backend.delete_user(created.id)
        assert server.users_named("fresh@example.com") == []
        spent = backend.stats().by_endpoint
        assert not any(endpoint.startswith("PATCH") for endpoint in spent)
        assert spent["PUT /Users/{id}"] == 3 and spent["PUT /Groups/{id}"] == 2
        assert backend.estimate_requests("update") == 2
        assert backend.estimate_requests("create") == 1


@pytest.mark.parametrize("fixture", ["scim", "scim_no_patch"])
def test_an_out_of_band_change_is_refused_not_overwritten(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    server: ScimServer = request.getfixturevalue(fixture)
    user_id = server.add_user("etag@example.com", "Read", "Before")
    with server.backend() as backend:
        assert backend.provider.etag
        backend.read_live()  # the version the plan would be made from
        server.rename_user(user_id, "ChangedElsewhere")
        with pytest.raises(ApiError, match="changed on the server since it was read") as caught:
            backend.update_user(user_id, {"first_name": "Mine"})
        assert caught.value.status == 412
        assert server.user(user_id)["name"] == {
            "givenName": "Read",
            "familyName": "ChangedElsewhere",
        }
        # read again, the write goes through
        backend.get_user(user_id)
        assert backend.update_user(user_id, {"first_name": "Mine"}).first_name == "Mine"


def test_a_user_deleted_elsewhere_makes_delete_a_clear_error(scim: ScimServer) -> None:
    user_id = scim.add_user("gone@example.com")
    with scim.backend() as backend:
        scim.call("DELETE", f"/Users/{user_id}")
        with pytest.raises(ApiError, match="HTTP 404") as caught:
            backend.delete_user(user_id)
        assert caught.value.status == 404
