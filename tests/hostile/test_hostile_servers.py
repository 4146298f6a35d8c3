"""A misbehaving server never makes the tool hang, loop, or plan from nonsense.

Each case runs the real `reconciler apply --auto-approve` (the command that would
write) as a subprocess against a scripted server on 127.0.0.1. The subprocess timeout
is the guard against hangs; the outcome must be exit 1 with one clear error, no
traceback, and no write request received by the server.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from support.cli import assert_clean_failure, run_subprocess
from support.hostile import (
    DESIRED,
    PRODUCT,
    PRODUCT_USERS,
    PRODUCTS,
    SECRET,
    TOKEN_PATH,
    USERS,
    HostileServer,
    Request,
    Response,
    hostile_server,
    jwt,
    listing,
    page,
    user,
)

from reconciler.backends.planview import ClientSettings, PlanviewBackend
from reconciler.errors import TransportError

# Every case must end well within this; a run that does not is killed and fails.
GUARD = 60.0


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with hostile_server() as running:
        yield running


@pytest.fixture
def desired(tmp_path: Path) -> Path:
    path = tmp_path / "users.yaml"
    path.write_text(DESIRED)
    return path


def apply(server: HostileServer, desired: Path, *extra: str, timeout: float = GUARD) -> Any:
    run = run_subprocess(
        server.env(), "apply", str(desired), "--auto-approve", *extra, timeout=timeout,
        cwd=desired.parent,
    )  # fmt: skip
    assert SECRET not in run.output
    for token in server.tokens:
        assert token not in run.output
    return run


def fixed(response: Response) -> Any:
    return lambda request: response


def sequence(*responses: Response) -> Any:
    """Answer with each response in turn, then repeat the last."""
    answers = iter(responses)
    last = [responses[-1]]

    def answer(request: Request) -> Response:
        last[0] = next(answers, last[0])
        return last[0]

    return answer


# ------------------------------------------------------------------ broken pages

BROKEN_USER_PAGES = {
    "non-JSON body": (
        Response(200, "<html>Down for maintenance</html>", {"Content-Type": "text/html"}),
        "not JSON",
    ),
    "empty body": (Response(200, b""), "a page must be a JSON object"),
    "JSON that is not an object": (Response(200, [1, 2, 3]), "a page must be a JSON object"),
    "no Resources": (Response(200, {"startIndex": 1, "itemsPerPage": 50}), "'Resources'"),
    "Resources mistyped": (
        Response(200, {"startIndex": 1, "itemsPerPage": 50, "Resources": "all of them"}),
        "'Resources' must be a list",
    ),
    "record without id": (
        page([{"email": "x@example.com", "status": "Active"}], per_page=50),
        "no string 'id'",
    ),
    "email mistyped": (page([{**user(1), "email": 42}], per_page=50), "'email' must be a string"),
    "unknown status": (page([{**user(1), "status": "Suspended"}], per_page=50), "Suspended"),
    "passwordRequired mistyped": (
        page([{**user(1), "passwordRequired": "no"}], per_page=50),
        "'passwordRequired'",
    ),
    "itemsPerPage mistyped": (
        Response(200, {"startIndex": 1, "itemsPerPage": "50", "Resources": [user(1)]}),
        "'itemsPerPage' must be a whole number",
    ),
    "itemsPerPage 0": (page([user(1)], per_page=0), "itemsPerPage 0"),
    "itemsPerPage negative": (page([user(1)], per_page=-5), "itemsPerPage -5"),
    "itemsPerPage missing": (
        Response(200, {"startIndex": 1, "Resources": [user(1)]}),
        "itemsPerPage None",
    ),
    "more records than itemsPerPage": (page([user(1), user(2)], per_page=1), "more than its"),
}


@pytest.mark.parametrize("case", list(BROKEN_USER_PAGES))
def test_a_broken_user_page_is_a_clear_error_and_nothing_is_written(
    case: str, server: HostileServer, desired: Path
) -> None:
    response, message = BROKEN_USER_PAGES[case]
    server.routes[("GET", USERS)] = fixed(response)

    run = apply(server, desired)

    assert_clean_failure(run, "GET /public/v1/user", message)
    assert server.writes() == []


def test_a_broken_product_record_is_a_clear_error(server: HostileServer, desired: Path) -> None:
    product = {"id": "p-ap", "name": "AgilePlace Production", "seats": "plenty"}
    server.routes[("GET", PRODUCTS)] = fixed(page([product], per_page=50))

    run = apply(server, desired)

    assert_clean_failure(run, "GET /public/v1/product", "'seats' must be a whole number")
    assert server.writes() == []


def test_a_start_index_that_does_not_advance_is_refused(
    server: HostileServer, desired: Path
) -> None:
    # Full pages, but always "page 1" whatever startIndex was asked for.
    def stuck(request: Request) -> Response:
        count = request.page_count()
        return page([user(i) for i in range(count)], start=1, per_page=count)

    server.routes[("GET", USERS)] = stuck

    run = apply(server, desired)

    assert_clean_failure(run, "asked for startIndex 501, the server answered 1")
    # refused at the second page; reading ahead wastes at most concurrency - 1 (3) more
    assert 2 <= server.count("GET", USERS) <= 2 + 3
    assert server.writes() == []


def endless_pages() -> Any:
    """A server that caps pages at one record and always has one more."""
    fresh = itertools.count()

    def endless(request: Request) -> Response:
        return page([user(next(fresh))], start=request.page_start(), per_page=1)

    return endless


def backend_for(server: HostileServer, **settings: Any) -> PlanviewBackend:
    env = server.env()
    return PlanviewBackend(
        ClientSettings(
            url=env["PLANVIEW_ADMIN_URL"],
            client_id=env["PLANVIEW_ADMIN_CLIENT_ID"],
            client_secret=env["PLANVIEW_ADMIN_CLIENT_SECRET"],
            **settings,
        )
    )


def test_pages_that_never_end_stop_at_the_clients_page_cap(server: HostileServer) -> None:
    server.routes[("GET", USERS)] = endless_pages()

    with backend_for(server, max_pages=100) as backend, pytest.raises(TransportError) as error:
        backend.read_live(["p-ap"])

    assert "still full pages after 100 pages" in str(error.value)
    assert server.count("GET", USERS) == 100


def test_pages_that_never_end_stop_at_the_page_cap_set_on_the_command_line(
    server: HostileServer, desired: Path
) -> None:
    server.routes[("GET", USERS)] = endless_pages()

    run = apply(server, desired, "--max-pages", "100", timeout=30)

    assert_clean_failure(run, "still full pages after 100 pages", "--max-pages")
    assert server.count("GET", USERS) == 100
    assert server.writes() == []


def test_pages_that_never_end_stop_at_the_default_page_cap(
    server: HostileServer, desired: Path
) -> None:
    server.routes[("GET", USERS)] = endless_pages()

    run = apply(server, desired)

    assert_clean_failure(run, "still full pages after 1000 pages", "--max-pages")
    assert server.count("GET", USERS) == 1000
    assert server.writes() == []


def test_the_request_timeout_is_configurable_on_the_command_line(
    server: HostileServer, desired: Path
) -> None:
    server.routes[("GET", USERS)] = fixed(Response(200, b"{}", delay=30))

    run = apply(server, desired, "--timeout", "0.5", timeout=30)

    assert_clean_failure(run, "ReadTimeout")
    assert server.writes() == []


def test_an_answer_dribbled_byte_by_byte_is_given_up_on(server: HostileServer) -> None:
    # Never silent for a whole timeout, yet it would take half a minute to finish. (In
    # process with one retry: the command line's six attempts add only back-off.)
    body = page([], per_page=50).encoded() + b" " * 300
    server.routes[("GET", USERS)] = fixed(Response(200, body, dribble=0.1))

    with (
        backend_for(server, timeout=0.3, retries=1) as backend,
        pytest.raises(TransportError) as error,
    ):
        backend.read_live(["p-ap"])

    assert "the answer was still arriving after" in str(error.value)
    assert "after 2 attempts" in str(error.value)


def test_an_endless_body_is_cut_off_and_refused(server: HostileServer, desired: Path) -> None:
    # A 40 MB answer to a page request: the client must not read it all into memory.
    server.routes[("GET", USERS)] = fixed(Response(200, b"[" + b"0," * 20_000_000 + b"0]"))

    run = apply(server, desired, timeout=60)

    assert_clean_failure(run, "GET /public/v1/user", "larger than 16 MiB")
    assert server.writes() == []


def test_a_server_that_repeats_the_same_page_is_refused_early(
    server: HostileServer, desired: Path
) -> None:
    # No startIndex in the answer (it is optional), and always the same full page.
    def same(request: Request) -> Response:
        count = request.page_count()
        return Response(200, {"itemsPerPage": count, "Resources": [user(i) for i in range(count)]})

    server.routes[("GET", USERS)] = same

    run = apply(server, desired, timeout=30)

    assert_clean_failure(run, "repeats only records already read")
    # refused at the second page; reading ahead wastes at most concurrency - 1 (3) more
    assert 2 <= server.count("GET", USERS) <= 2 + 3
    assert server.writes() == []


def test_an_enormous_page_is_refused(server: HostileServer, desired: Path) -> None:
    huge = [user(i) for i in range(5_000)]

    def ignores_count(request: Request) -> Response:
        # all 5,000 at once whatever `count` asked for, then a consistent empty page
        start = request.page_start()
        records = huge if start == 1 else []
        return page(records, start=start, per_page=len(huge))

    server.routes[("GET", USERS)] = ignores_count

    run = apply(server, desired)

    assert_clean_failure(run, "asked for at most 500 records", "larger than requested")
    assert server.count("GET", USERS) == 1
    assert server.writes() == []


def test_a_listing_with_one_email_twice_is_refused(server: HostileServer, desired: Path) -> None:
    twins = [user(1, "Twin@example.com"), user(2, "twin@example.com")]
    server.routes[("GET", USERS)] = fixed(page(twins, per_page=50))

    run = apply(server, desired)

    assert_clean_failure(run, "two users have the same email", "u-1", "u-2")
    assert server.writes() == []


# ------------------------------------------------------------------ rate limit and 5xx


def _in_a_day() -> str:
    return format_datetime(datetime.now(timezone.utc) + timedelta(days=1), usegmt=True)


@pytest.mark.parametrize("retry_after", ["86400", "day-as-http-date"])
def test_a_retry_after_of_a_day_is_an_error_not_a_wait(
    retry_after: str, server: HostileServer, desired: Path
) -> None:
    value = _in_a_day() if retry_after == "day-as-http-date" else retry_after
    body = {"status": 429, "code": "TooManyRequests", "detail": "come back tomorrow"}
    server.routes[("GET", PRODUCTS)] = fixed(Response(429, body, {"Retry-After": value}))

    run = apply(server, desired, timeout=30)

    assert_clean_failure(run, "Retry-After", "--max-wait")
    assert server.writes() == []


def test_max_wait_is_configurable(server: HostileServer, desired: Path) -> None:
    body = {"status": 429, "code": "TooManyRequests", "detail": "later"}
    server.routes[("GET", PRODUCTS)] = fixed(Response(429, body, {"Retry-After": "5"}))

    run = apply(server, desired, "--max-wait", "2", timeout=30)

    assert_clean_failure(run, "longer than the 2s limit (--max-wait)")
    assert server.count("GET", PRODUCTS) == 1  # refused at once, no waiting
    assert server.writes() == []


def test_429_forever_gives_up_after_bounded_waits(server: HostileServer, desired: Path) -> None:
    body = {"status": 429, "code": "TooManyRequests", "detail": "spent"}
    server.routes[("GET", PRODUCTS)] = fixed(Response(429, body, {"Retry-After": "0"}))

    run = apply(server, desired)

    assert_clean_failure(run, "still rate-limited (429)")
    assert 2 <= server.count("GET", PRODUCTS) <= 20
    assert server.writes() == []


def test_5xx_forever_gives_up_after_bounded_retries(server: HostileServer, desired: Path) -> None:
    body = {"status": 503, "code": "ServerError", "detail": "down"}
    server.routes[("GET", USERS)] = fixed(Response(503, body))

    run = apply(server, desired)

    assert_clean_failure(run, "kept failing (HTTP 503)")
    assert 2 <= server.count("GET", USERS) <= 10
    assert server.writes() == []


def test_a_rate_header_stuck_at_zero_slows_but_does_not_stop_the_run(
    server: HostileServer, desired: Path
) -> None:
    # Every answer says no points are left, yet none is a 429: the budget must not wait
    # for a refill forever. The run reaches its write (here refused: one clean error).
    def zero(response: Response) -> Any:
        return fixed(Response(response.status, response.body, {"X-Rate-Limit-Remaining": "0"}))

    server.routes[("GET", USERS)] = zero(page([], per_page=50))
    server.routes[("GET", PRODUCTS)] = zero(page([PRODUCT], per_page=50))
    server.routes[("GET", PRODUCT_USERS)] = zero(page([], per_page=50))

    run = apply(server, desired, timeout=90)

    # no POST route: the create is answered 404, a clear per-change failure
    assert run.code == 1 and "Traceback" not in run.output, run.output
    assert server.writes() == ["POST /public/v1/user"]


# ------------------------------------------------------------------ the token endpoint

BROKEN_TOKENS = {
    "no id_token": (Response(200, {"access_token": "abc", "token_type": "Bearer"}), "no id_token"),
    "not JSON": (Response(200, "token=abc", {"Content-Type": "text/plain"}), "no id_token"),
    "id_token not a JWT": (Response(200, {"id_token": "opaque-token-value"}), "not a JWT"),
    "JWT without exp": (
        Response(200, {"id_token": jwt({"sub": "hostile-client"})}),
        "without an expiry ('exp' claim)",
    ),
    "exp mistyped": (
        Response(200, {"id_token": jwt({"sub": "x", "exp": "tomorrow"})}),
        "without an expiry",
    ),
    "payload not base64 JSON": (Response(200, {"id_token": "a.%%%.c"}), "cannot be read"),
    "refused credentials": (Response(401, {"error": "invalid_client"}), "refused the client"),
}


@pytest.mark.parametrize("case", list(BROKEN_TOKENS))
def test_a_broken_token_answer_is_a_clear_error_and_no_api_call_is_made(
    case: str, server: HostileServer, desired: Path
) -> None:
    response, message = BROKEN_TOKENS[case]
    server.routes[("POST", TOKEN_PATH)] = fixed(response)

    run = apply(server, desired)

    assert_clean_failure(run, message)
    assert server.writes() == []
    api_calls = [r for r in server.requests if r.path.startswith("/public/")]
    assert api_calls == []  # nothing is asked with a token we could not read


def test_a_refused_token_is_asked_for_once_per_run(server: HostileServer) -> None:
    server.routes[("POST", TOKEN_PATH)] = fixed(Response(401, {"error": "invalid_client"}))

    run = run_subprocess(server.env(), "export", timeout=GUARD)

    assert_clean_failure(run, "refused the client credentials")
    assert server.count("POST", TOKEN_PATH) == 1


def test_ids_from_the_server_cannot_steer_a_write_to_another_path(
    server: HostileServer, desired: Path
) -> None:
    # A product id and a user id that look like paths: every write must still go to
    # the endpoint the change means, with the id as one encoded path segment.
    sneaky_product = {**PRODUCT, "id": "../user/u-victim/deactivate"}
    server.routes[("GET", PRODUCTS)] = listing([sneaky_product])
    sneaky_path = "/public/v1/product/..%2Fuser%2Fu-victim%2Fdeactivate/user"
    server.routes[("GET", sneaky_path)] = listing([])
    created = {**user(9, "new.person@example.com"), "id": "../../product/p-x/user"}
    server.routes[("POST", USERS)] = fixed(Response(201, created))
    server.routes[("POST", sneaky_path)] = fixed(Response(201, {"userId": created["id"]}))
    text = desired.read_text().replace("{id: p-ap}", '{name: "AgilePlace Production"}')
    desired.write_text(text)

    run = apply(server, desired)

    assert run.code == 0, run.output
    assert server.writes() == ["POST /public/v1/user", f"POST {sneaky_path}"]
    grant = [r for r in server.requests if r.method == "POST" and r.path == sneaky_path]
    assert grant[0].body == b'{"userId":"../../product/p-x/user"}'


def test_a_token_expired_on_arrival_is_not_fetched_for_every_request(
    server: HostileServer, tmp_path: Path
) -> None:
    def past_expiry(request: Request) -> Response:
        token = jwt({"sub": "hostile-client", "exp": int(time.time()) - 3600})
        server.tokens.append(token)
        return Response(200, {"id_token": token, "token_type": "Bearer"})

    server.routes[("POST", TOKEN_PATH)] = past_expiry
    server.routes[("GET", USERS)] = listing([user(i) for i in range(3000)])  # 7 pages
    desired = tmp_path / "users.yaml"
    desired.write_text("version: 1\nsettings: {unmanagedUsers: ignore}\nusers: []\n")

    run = run_subprocess(server.env(), "plan", str(desired), timeout=GUARD)

    assert run.code == 0, run.output
    api_requests = sum(1 for r in server.requests if r.path.startswith("/public/"))
    assert api_requests >= 8
    assert server.count("POST", TOKEN_PATH) <= 2
    assert run.stderr.count("expired on arrival") <= 1


# ------------------------------------------------------------------ every command, not only apply


PLAN = (["plan", "{desired}", "--out", "plan.json", "--detailed-exitcode"], "plan.json")
DRIFT = (["drift", "{desired}", "--format", "json"], None)
EXPORT = (["export", "--out", "export.yaml"], "export.yaml")
PROVISIONING = (PRODUCT_USERS, "/public/v1/product/{pid}/user")
AUDIT = ("/public/v1/audit", "/public/v1/audit")


@pytest.mark.parametrize(
    ("command", "output", "broken", "endpoint"),
    [
        (*PLAN, USERS, USERS),
        (*DRIFT, USERS, USERS),
        (*EXPORT, USERS, USERS),
        (*PLAN, *PROVISIONING),
        (*DRIFT, *PROVISIONING),
        (*EXPORT, *PROVISIONING),
        (*DRIFT, *AUDIT),  # only drift reads the audit log
    ],
    ids=["plan-users", "drift-users", "export-users", "plan-provisioning",
         "drift-provisioning", "export-provisioning", "drift-audit"],
)  # fmt: skip
def test_a_broken_listing_fails_every_command_with_exit_1_and_writes_no_file(
    command: list[str],
    output: str | None,
    broken: str,
    endpoint: str,
    server: HostileServer,
    desired: Path,
) -> None:
    # desired differs from live (a user to create), so drift would otherwise say 2
    server.routes[("GET", "/public/v1/audit")] = listing([])
    server.routes[("GET", broken)] = fixed(
        Response(200, "<html>proxy error</html>", {"Content-Type": "text/html"})
    )
    args = [arg.format(desired=desired) for arg in command]

    run = run_subprocess(server.env(), *args, cwd=desired.parent, timeout=GUARD)

    assert broken in {r.path for r in server.requests}
    assert_clean_failure(run, f"GET {endpoint}", "not JSON")  # 1, never drift's 2
    if output is not None:
        assert not (desired.parent / output).exists()
    assert server.writes() == []
