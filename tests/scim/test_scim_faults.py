"""Lost answers against the real server, and bad answers from a scripted one."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from scim_server import ScimServer
from support.hostile import HostileServer, Request, Response, hostile_server

from reconciler.backends.base import NewUser
from reconciler.backends.scim import ScimSettings, open_scim_backend
from reconciler.backends.scim.transport import remaining_points
from reconciler.errors import ConfigError, ReconcilerError, TransportError


class DropAfterSend(httpx.BaseTransport):
    """Forwards every request to the real server, then loses the answer of the first
    `times` requests matching `method` and a path ending: the write took effect, the
    client cannot know."""

    def __init__(self, method: str, path_end: str, times: int = 1) -> None:
        self._inner = httpx.HTTPTransport()
        self._method, self._path_end, self._left = method, path_end, times
        self._lock = threading.Lock()
        self.dropped = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        with self._lock:
            hit = (
                self._left > 0
                and request.method == self._method
                and request.url.path.endswith(self._path_end)
            )
            if hit:
                self._left -= 1
                self.dropped += 1
        if hit:
            response.read()
            response.close()
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        return response

    def close(self) -> None:
        self._inner.close()


def test_a_create_whose_answer_is_lost_is_read_back_not_duplicated(scim: ScimServer) -> None:
    drop = DropAfterSend("POST", "/Users")
    with scim.backend(transport=drop) as backend:
        created = backend.create_user(NewUser("Lost.Answer@example.com", "Lost", "Answer"))
        assert drop.dropped == 1
        assert created.email == "Lost.Answer@example.com"
        assert backend.stats().by_endpoint["POST /Users"] == 1  # read back, not sent again
    # a re-run that plans the same create (its plan predates the user) still makes one
    with scim.backend() as backend:
        again = backend.create_user(NewUser("lost.answer@example.com", "Lost", "Answer"))
        assert again.id == created.id
    assert [u["id"] for u in scim.users_named("lost.answer@example.com")] == [created.id]


def test_a_grant_whose_answer_is_lost_is_read_back(scim: ScimServer) -> None:
    user_id = scim.add_user("member@example.com")
    group = scim.add_group("Projects")
    drop = DropAfterSend("PATCH", f"/Groups/{group}")
    with scim.backend(transport=drop) as backend:
        backend.grant(group, user_id)
        spent = backend.stats().by_endpoint
        assert drop.dropped == 1
        assert spent["PATCH /Groups/{id}"] == 1 and spent["GET /Groups/{id}"] == 1
    assert scim.group_members(group) == {user_id}


def test_a_delete_whose_answer_is_lost_is_success(scim: ScimServer) -> None:
    user_id = scim.add_user("delete.me@example.com")
    drop = DropAfterSend("DELETE", f"/Users/{user_id}")
    with scim.backend(transport=drop) as backend:
        backend.delete_user(user_id)
        assert drop.dropped == 1
    assert scim.users_named("delete.me@example.com") == []


# --------------------------------------------------------------------------- scripted server

TOKEN = "hostile-scim-token-0123456789"
CONFIG = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
    "patch": {"supported": True},
    "etag": {"supported": False},
    "filter": {"supported": True, "maxResults": 2},
}


def _user(n: int) -> dict[str, Any]:
    return {"id": f"u{n}", "userName": f"user{n}@example.com", "active": True}


def _scripted(body: Any, status: int = 200, **headers: str) -> Callable[[Request], Response]:
    return lambda request: Response(status, body, headers)


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with hostile_server() as server:
        server.routes = {
            ("GET", "/ServiceProviderConfig"): _scripted(CONFIG),
            ("GET", "/Users"): _scripted({"totalResults": 0, "Resources": []}),
            ("GET", "/Groups"): _scripted({"totalResults": 0, "Resources": []}),
        }
        yield server


def _settings(server: HostileServer, **options: Any) -> ScimSettings:
    return ScimSettings(url=server.url, token=TOKEN, retries=1, backoff_base=0.01, **options)


def _fails(server: HostileServer, action: Callable[[Any], Any] = lambda b: b.read_live()) -> str:
    with pytest.raises(ReconcilerError) as caught, open_scim_backend(_settings(server)) as backend:
        action(backend)
    message = str(caught.value)
    assert TOKEN not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize(
    ("listing", "expected"),
    [
        ({"totalResults": 3, "itemsPerPage": 2}, "has no 'Resources' although totalResults is 3"),
        (
            {"totalResults": 5, "itemsPerPage": 0, "Resources": []},
            "is empty (itemsPerPage 0) although totalResults is 5",
        ),
        (
            {"totalResults": 3, "itemsPerPage": 3, "Resources": [_user(1), _user(2), _user(3)]},
            "more than the 2 asked for",
        ),
        ({"totalResults": 1, "Resources": [{"userName": "x@example.com"}]}, "has no 'id'"),
        ({"totalResults": "many", "Resources": []}, "'totalResults' is 'many', not a count"),
        (["not", "a", "ListResponse"], "is not a SCIM ListResponse"),
    ],
)
def test_a_bad_listing_is_refused_with_a_clear_error(
    hostile: HostileServer, listing: Any, expected: str
) -> None:
    hostile.routes[("GET", "/Users")] = _scripted(listing)
    message = _fails(hostile)
    assert "GET /Users: the page at startIndex 1" in message
    assert expected in message


def test_a_page_that_repeats_itself_does_not_loop(hostile: HostileServer) -> None:
    hostile.routes[("GET", "/Users")] = lambda request: Response(
        200, {"itemsPerPage": 2, "Resources": [_user(1), _user(2)]}
    )
    assert "repeats only records already read" in _fails(hostile)
    assert hostile.count("GET", "/Users") == 2


def test_non_json_answers_and_server_errors(hostile: HostileServer) -> None:
    hostile.routes[("GET", "/Users")] = _scripted(b"<html>maintenance</html>")
    assert "answered HTTP 200 with a body that is not JSON" in _fails(hostile)
    hostile.routes[("GET", "/Users")] = _scripted({"detail": "boom"}, status=500)
    assert "the server failed (HTTP 500) after 2 attempts" in _fails(hostile)
    hostile.routes[("GET", "/ServiceProviderConfig")] = _scripted(b"not json at all")
    assert "GET /ServiceProviderConfig" in _fails(hostile)
    hostile.routes[("GET", "/ServiceProviderConfig")] = _scripted(["a", "list"])
    assert "is --url the SCIM base URL" in _fails(hostile)


def test_read_live_is_all_or_nothing(hostile: HostileServer) -> None:
    hostile.routes[("GET", "/Users")] = _scripted({"totalResults": 1, "Resources": [_user(1)]})
    hostile.routes[("GET", "/Groups")] = _scripted(
        {"status": "403", "detail": "not allowed to read groups"}, status=403
    )
    message = _fails(hostile)
    assert "GET /Groups failed with HTTP 403: not allowed to read groups" in message


def test_a_redirect_and_a_refused_token_are_not_followed_or_retried(
    hostile: HostileServer,
) -> None:
    hostile.routes[("GET", "/ServiceProviderConfig")] = _scripted(
        b"", status=302, Location="https://elsewhere.example/scim"
    )
    assert "redirected to elsewhere.example" in _fails(hostile)
    hostile.routes[("GET", "/ServiceProviderConfig")] = _scripted({"status": "401"}, status=401)
    with pytest.raises(ConfigError, match="refused the credentials"):
        open_scim_backend(_settings(hostile))
    assert hostile.count("GET", "/ServiceProviderConfig") == 2  # one each, no retry


def test_a_429_is_waited_out_for_its_retry_after(hostile: HostileServer) -> None:
    answers = iter([Response(429, {"status": "429"}, {"Retry-After": "0"})])
    users = {"totalResults": 1, "Resources": [_user(1)]}
    hostile.routes[("GET", "/Users")] = lambda request: next(answers, Response(200, users))
    with open_scim_backend(_settings(hostile)) as backend:
        assert set(backend.read_live().users) == {"user1@example.com"}
        stats = backend.stats()
        assert stats.throttled == 1 and stats.by_endpoint["GET /Users"] == 2


@pytest.mark.parametrize(
    "header",
    [
        {"X-Rate-Limit-Remaining": "40"},
        {"RateLimit-Remaining": "40"},
        {"RateLimit": '"default";r=40;t=30'},
        {"RateLimit": "limit=100, remaining=40, reset=30"},
    ],
)
def test_rate_limit_headers_feed_the_shared_budget(
    hostile: HostileServer, header: dict[str, str]
) -> None:
    assert remaining_points(httpx.Headers(header)) == 40
    hostile.routes[("GET", "/Users")] = _scripted({"totalResults": 0}, **header)
    with open_scim_backend(_settings(hostile)) as backend:
        for _ in range(3):
            backend.find_user_by_email("nobody@example.com")
        assert backend.stats().lowest_remaining == 40


def test_the_tightest_ietf_policy_counts() -> None:
    headers = httpx.Headers({"RateLimit": '"hour";r=900;t=3000, "burst";r=7;t=1'})
    assert remaining_points(headers) == 7
    assert remaining_points(httpx.Headers({})) is None


def test_a_create_the_server_failed_on_is_read_back(hostile: HostileServer) -> None:
    made = {
        "id": "u9",
        "userName": "new@example.com",
        "name": {"givenName": "N", "familyName": "P"},
    }
    hostile.routes[("POST", "/Users")] = _scripted({"status": "502"}, status=502)

    def users(request: Request) -> Response:
        found = [made] if "filter" in request.query else []
        return Response(200, {"totalResults": len(found), "Resources": found})

    hostile.routes[("GET", "/Users")] = users
    with open_scim_backend(_settings(hostile)) as backend:
        created = backend.create_user(NewUser("new@example.com", "N", "P"))
    assert created.id == "u9"
    assert hostile.count("POST", "/Users") == 1
    assert hostile.requests[-1].query["filter"] == 'userName eq "new@example.com"'


def test_a_server_that_cannot_be_reached_is_a_transport_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"  # nothing listens there
    with pytest.raises(TransportError, match="could not reach the server"):
        open_scim_backend(ScimSettings(url=url, token=TOKEN, retries=1, backoff_base=0.01))


def test_a_retry_after_longer_than_max_wait_fails_at_once(hostile: HostileServer) -> None:
    hostile.routes[("GET", "/Users")] = _scripted(
        {"status": "429"}, status=429, **{"Retry-After": "3600"}
    )
    settings = _settings(hostile, max_wait=5.0)
    with open_scim_backend(settings) as backend, pytest.raises(TransportError) as caught:
        backend.read_live()
    assert "asked to wait 3600s" in str(caught.value) and "--max-wait" in str(caught.value)
    assert hostile.count("GET", "/Users") == 1


def test_without_filtering_a_user_is_found_in_the_whole_listing(hostile: HostileServer) -> None:
    hostile.routes[("GET", "/ServiceProviderConfig")] = _scripted(
        {**CONFIG, "filter": {"supported": False}}
    )
    everyone = [_user(1), {**_user(2), "userName": "Wanted@Example.com"}]
    hostile.routes[("GET", "/Users")] = _scripted({"totalResults": 2, "Resources": everyone})
    with open_scim_backend(_settings(hostile)) as backend:
        assert backend.capabilities.max_page_size == 100  # nothing announced: the default
        found = backend.find_user_by_email("wanted@example.com")
    assert found is not None and found.id == "u2"
    assert all("filter" not in r.query for r in hostile.requests)


class ChangeBeforeFirstPut(httpx.BaseTransport):
    """Adds another member to the group behind the backend's back, between its read of
    the group and its first PUT, as another administrator might."""

    def __init__(self, server: ScimServer, group: str, intruder: str) -> None:
        self._inner = httpx.HTTPTransport()
        self._server, self._group, self._intruder = server, group, intruder
        self.changed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and "/Groups/" in request.url.path and not self.changed:
            self.changed = True
            resource = self._server.call("GET", f"/Groups/{self._group}").json()
            resource.pop("meta")
            resource["members"] = [*resource.get("members", []), {"value": self._intruder}]
            self._server.call("PUT", f"/Groups/{self._group}", resource)
        return self._inner.handle_request(request)


def test_a_group_put_that_meets_a_concurrent_change_is_redone_on_the_new_version(
    scim_no_patch: ScimServer,
) -> None:
    server = scim_no_patch
    mine, intruder = server.add_user("mine@example.com"), server.add_user("other@example.com")
    group = server.add_group("Projects")
    change = ChangeBeforeFirstPut(server, group, intruder)
    with server.backend(transport=change) as backend:
        backend.grant(group, mine)
        assert change.changed
        assert backend.stats().by_endpoint["PUT /Groups/{id}"] == 2  # 412, then again
    assert server.group_members(group) == {mine, intruder}
