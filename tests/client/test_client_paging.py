"""The pager against scripted servers: the published rules, and hostile answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from client_fakeapi import FakeApi, page, user

from reconciler.errors import ApiError, TransportError
from reconciler.model import LiveProduct

USERS = "/public/v1/user"


def serve(api: FakeApi, records: list[dict[str, Any]], cap: int | None = None) -> None:
    def listing(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["startIndex"])
        count = int(request.url.params["count"])
        size = min(count, cap) if cap else count
        return page(start, size, records[start - 1 : start - 1 + size])

    api.routes[("GET", USERS)] = listing


def starts(api: FakeApi) -> list[tuple[int, int]]:
    return [
        (int(r.url.params["startIndex"]), int(r.url.params["count"]))
        for r in api.api_requests(USERS)
    ]


def emails(backend: Any) -> list[str]:
    return [u.email for u in backend._list_users()]


def test_asks_for_the_maximum_and_stops_on_a_short_page() -> None:
    api = FakeApi()
    serve(api, [user(n) for n in range(1, 1201)])
    assert len(emails(api.backend())) == 1200
    assert starts(api) == [(1, 500), (501, 500), (1001, 500)]


def test_follows_a_server_cap_and_stops_on_an_empty_page() -> None:
    api = FakeApi()
    serve(api, [user(n) for n in range(1, 15)], cap=7)
    assert len(emails(api.backend())) == 14
    # 14 records in pages of 7: the third page is the empty one that proves the end
    assert starts(api) == [(1, 500), (8, 500), (15, 500)]


def test_records_shifted_onto_the_next_page_are_not_repeated() -> None:
    api = FakeApi()
    records = [user(n) for n in range(1, 11)]

    def listing(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["startIndex"])
        result = page(start, 5, records[start - 1 : start + 4])
        if start == 1:
            records.insert(0, user(99))  # created meanwhile: everything shifts by one
        return result

    api.routes[("GET", USERS)] = listing
    got = emails(api.backend())
    assert len(got) == len(set(got)) == 10
    assert starts(api)[-1][0] == 11


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"startIndex": 1, "itemsPerPage": 0, "Resources": [user(1)]}, "itemsPerPage 0"),
        ({"startIndex": 1, "itemsPerPage": -5, "Resources": [user(1)]}, "itemsPerPage -5"),
        ({"startIndex": 1, "Resources": [user(1)]}, "itemsPerPage None"),
        ({"startIndex": 1, "itemsPerPage": 1, "Resources": [user(1), user(2)]}, "more than"),
        ({"startIndex": 1, "itemsPerPage": "50", "Resources": []}, "whole number"),
        ({"startIndex": 1, "itemsPerPage": 5, "Resources": "nope"}, "list of objects"),
        ({"startIndex": 1, "itemsPerPage": 5, "Resources": [{"email": "x"}]}, "'id'"),
        ([1, 2, 3], "JSON object"),
    ],
)
def test_malformed_pages_are_clear_errors(body: Any, message: str) -> None:
    api = FakeApi()
    api.routes[("GET", USERS)] = lambda r: httpx.Response(200, json=body)
    with pytest.raises(TransportError, match=message):
        emails(api.backend())


def test_a_start_index_that_does_not_advance_is_refused() -> None:
    api = FakeApi()
    api.routes[("GET", USERS)] = lambda r: page(1, 2, [user(1), user(2)])
    with pytest.raises(TransportError, match="asked for startIndex 3, the server answered 1"):
        emails(api.backend())
    assert len(api.api_requests(USERS)) == 2


def test_pages_that_never_end_hit_the_page_cap() -> None:
    api = FakeApi()
    counter = iter(range(1, 10_000))

    def endless(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["startIndex"])
        return page(start, 2, [user(next(counter)), user(next(counter))])

    api.routes[("GET", USERS)] = endless
    with pytest.raises(TransportError, match="still full pages after 25 pages"):
        emails(api.backend(max_pages=25))
    assert len(api.api_requests(USERS)) == 25


def test_a_body_that_is_not_json_is_a_clear_error() -> None:
    api = FakeApi()
    api.routes[("GET", USERS)] = lambda r: httpx.Response(200, text="<html>login</html>")
    with pytest.raises(TransportError, match="not JSON"):
        emails(api.backend())


def test_a_mistyped_user_record_is_a_clear_error() -> None:
    api = FakeApi()
    api.routes[("GET", USERS)] = lambda r: page(1, 5, [user(1) | {"status": "Banned"}])
    with pytest.raises(TransportError, match="Banned"):
        emails(api.backend())


def test_reads_retry_5xx_then_give_up_with_a_clear_error() -> None:
    api = FakeApi()
    api.routes[("GET", USERS)] = lambda r: httpx.Response(503, json={"code": "ServerError"})
    backend = api.backend(retries=3)
    with pytest.raises(TransportError, match="kept failing \\(HTTP 503\\) after 4 attempts"):
        emails(backend)
    assert backend.stats().retries == 3


def test_one_failed_listing_stops_the_others_and_fails_the_read() -> None:
    api = FakeApi()

    def slow_users(request: httpx.Request) -> httpx.Response:
        time.sleep(0.005)
        start = int(request.url.params["startIndex"])
        return page(start, 2, [user(start), user(start + 1)])  # 200 pages before the end

    api.routes[("GET", USERS)] = slow_users
    api.routes[("GET", "/public/v1/product/p-1/user")] = lambda r: httpx.Response(
        403, json={"status": 403, "code": "Forbidden", "detail": "no access to p-1"}
    )
    with pytest.raises(ApiError, match="403 Forbidden: no access to p-1"):
        api.backend().read_live(["p-1"], products=[LiveProduct("p-1", "One")])
    assert len(api.api_requests(USERS)) < 50


def test_a_full_page_of_records_already_read_is_refused_at_once() -> None:
    # No startIndex in the body (it is optional), and the same full page every time.
    api = FakeApi()
    same = {"itemsPerPage": 3, "Resources": [user(1), user(2), user(3)]}
    api.routes[("GET", USERS)] = lambda r: httpx.Response(200, json=same)
    with pytest.raises(TransportError, match="repeats only records already read"):
        emails(api.backend())
    assert len(api.api_requests(USERS)) == 2


def test_a_page_larger_than_the_count_asked_for_is_refused() -> None:
    api = FakeApi()
    api.routes[("GET", USERS)] = lambda r: page(1, 501, [user(n) for n in range(1, 502)])
    with pytest.raises(TransportError, match=r"asked for at most 500 records.*itemsPerPage 501"):
        emails(api.backend())


def test_the_page_cap_error_names_the_option_that_raises_it() -> None:
    api = FakeApi()
    api.routes[("GET", USERS)] = lambda r: page(
        int(r.url.params["startIndex"]), 1, [user(int(r.url.params["startIndex"]))]
    )
    with pytest.raises(TransportError, match=r"after 3 pages.*--max-pages"):
        emails(api.backend(max_pages=3))


def test_two_users_with_one_email_in_different_case_are_refused_not_folded() -> None:
    api = FakeApi()
    twins = [user(1) | {"email": "Twin@example.com"}, user(2) | {"email": "twin@EXAMPLE.com"}]
    api.routes[("GET", USERS)] = lambda r: page(1, 50, twins)
    api.routes[("GET", "/public/v1/product/p-1/user")] = lambda r: page(1, 50, [])
    backend = api.backend()
    with pytest.raises(TransportError, match=r"Twin@example\.com \(id u-1\).*\(id u-2\)"):
        backend.read_live(["p-1"], products=[LiveProduct("p-1", "One")])
    with pytest.raises(TransportError, match="same email apart from letter case"):
        backend.find_user_by_email("twin@example.com")


def test_an_answer_that_never_ends_is_cut_off_at_the_size_cap() -> None:
    api = FakeApi()

    def endless_body() -> Iterator[bytes]:
        yield b'{"startIndex": 1, "itemsPerPage": 500, "Resources": ['
        while True:
            yield b" " * 1024 * 1024

    api.routes[("GET", USERS)] = lambda r: httpx.Response(200, content=endless_body())
    with pytest.raises(TransportError, match="larger than 16 MiB"):
        emails(api.backend())
    assert len(api.api_requests(USERS)) == 1  # the same answer would come again


def test_an_answer_dribbled_slower_than_its_time_limit_is_given_up_on() -> None:
    # Never silent for a whole timeout, so only the limit on the whole answer ends it.
    api = FakeApi()

    def dribble() -> Iterator[bytes]:
        while True:
            time.sleep(0.02)
            yield b" "

    api.routes[("GET", USERS)] = lambda r: httpx.Response(200, content=dribble())
    with pytest.raises(TransportError, match=r"ReadTimeout: the answer was still arriving"):
        emails(api.backend(timeout=0.1, retries=1))
    assert len(api.api_requests(USERS)) == 2
