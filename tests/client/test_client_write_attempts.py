"""How often a write whose outcome stays unknown is sent: docs/reliability.md's caps table."""

from __future__ import annotations

import httpx
import pytest
from client_fakeapi import FakeApi, page

from reconciler.backends.base import NewUser
from reconciler.backends.planview.backend import DEFAULT_RETRIES
from reconciler.errors import WriteOutcomeUnknown

USERS = "/public/v1/user"


@pytest.mark.parametrize("retries", [DEFAULT_RETRIES, 2])
def test_a_create_that_keeps_failing_is_sent_retries_plus_one_times(retries: int) -> None:
    api = FakeApi()
    api.routes[("POST", USERS)] = lambda request: httpx.Response(
        500, json={"status": 500, "code": "ServerError", "detail": "try later"}
    )
    api.routes[("GET", USERS)] = lambda request: page(1, 0, [])  # never created
    with api.backend(retries=retries) as backend, pytest.raises(WriteOutcomeUnknown) as caught:
        backend.create_user(NewUser("new@example.com", "New", "User"))
    sends = [r for r in api.api_requests(USERS) if r.method == "POST"]
    read_backs = [r for r in api.api_requests(USERS) if r.method == "GET"]
    assert len(sends) == retries + 1
    assert len(read_backs) == retries  # each send after the first follows a read-back
    assert f"failed {retries + 1} times with an unknown outcome" in str(caught.value)
