"""Retry-After parsing, back-off bounds, JWT expiry and token renewal (no network)."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timezone

import httpx
import pytest
from client_fakeapi import SECRET, FakeApi, make_jwt, page, user

from reconciler.backends.planview.auth import TokenManager, jwt_expiry
from reconciler.backends.planview.retry import Backoff, RetryPolicy, parse_retry_after
from reconciler.errors import ConfigError, TransportError

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("Sun, 29 Nov 2026 12:00:30 GMT", 30.0),
        ("Sun, 29 Nov 2026 11:59:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_backoff_grows_is_jittered_and_capped() -> None:
    backoff = Backoff(base=0.5, cap=4.0, attempts=5)
    rng = random.Random(1)
    for retry in range(8):
        ceiling = min(4.0, 0.5 * 2**retry)
        delays = [backoff.delay(retry, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered, so workers do not retry in lockstep


def test_jwt_expiry_is_read_without_verification() -> None:
    assert jwt_expiry(make_jwt(1_900_000_000.5)) == 1_900_000_000.5


# a fixed jti: parameters must be the same in every test worker that collects them
@pytest.mark.parametrize(
    "token", ["not-a-jwt", "a.%%%.c", make_jwt(None, "fixed")], ids=["not-a-jwt", "bad", "no-exp"]
)
def test_unusable_tokens_are_clear_errors(token: str) -> None:
    with pytest.raises(TransportError, match="id_token"):
        jwt_expiry(token)


def test_token_is_reused_then_renewed_before_it_expires() -> None:
    api = FakeApi(token_lifetime=0.6)
    api.routes[("GET", "/public/v1/product")] = lambda r: page(1, 100, [])
    backend = api.backend()
    backend.list_products()
    backend.list_products()
    assert len(api.tokens) == 1
    time.sleep(0.6 * 0.95)  # inside the renewal margin, before exp
    backend.list_products()
    assert len(api.tokens) == 2
    sent = [r.headers["authorization"] for r in api.api_requests("/public/v1/product")]
    assert sent == [f"Bearer {api.tokens[0]}"] * 2 + [f"Bearer {api.tokens[1]}"]


def test_a_401_renews_the_token_once_and_retries() -> None:
    api = FakeApi()
    calls = []

    def products(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["authorization"])
        if len(calls) == 1:
            return httpx.Response(401, json={"status": 401, "code": "Unauthorized"})
        return page(1, 100, [])

    api.routes[("GET", "/public/v1/product")] = products
    assert api.backend().list_products() == []
    assert len(api.tokens) == 2
    assert calls == [f"Bearer {t}" for t in api.tokens]


def test_a_second_401_is_an_error_not_a_loop() -> None:
    api = FakeApi()
    api.routes[("GET", "/public/v1/product")] = lambda r: httpx.Response(
        401, json={"status": 401, "code": "Unauthorized", "detail": "token revoked"}
    )
    with pytest.raises(Exception, match="401 Unauthorized: token revoked"):
        api.backend().list_products()
    assert len(api.tokens) == 2


def test_refused_credentials_are_a_config_error_without_the_secret() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "invalid_client"})

    api = FakeApi()
    api.handle = handler  # type: ignore[method-assign]
    with pytest.raises(ConfigError) as caught:
        api.backend().list_products()
    assert "invalid_client" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_token_answer_without_id_token_is_a_clear_error() -> None:
    api = FakeApi()
    api.handle = lambda request: httpx.Response(200, json={"access_token": "x"})  # type: ignore[method-assign]
    with pytest.raises(TransportError, match="no id_token"):
        api.backend().list_products()


def test_users_listing_maps_to_neutral_fields() -> None:
    api = FakeApi()
    record = user(1) | {"status": "Pending", "role": "Administrator", "passwordRequired": True}
    api.routes[("GET", "/public/v1/user")] = lambda r: page(1, 500, [record])
    api.routes[("GET", "/public/v1/product")] = lambda r: page(1, 100, [])
    live = api.backend().read_live()
    (only,) = live.users.values()
    assert (only.status, only.role, only.password_required, only.first_name) == (
        "pending",
        "Administrator",
        True,
        "User",
    )
    assert live.users == {"user1@example.com": only}


def token_manager(answer: httpx.Response, asked: list[str]) -> TokenManager:
    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        time.sleep(0.02)  # long enough for the other workers to queue on the lock
        return answer

    client = httpx.Client(base_url="http://127.0.0.1:9", transport=httpx.MockTransport(handler))
    policy = RetryPolicy(Backoff(base=0.001, attempts=2), max_wait=300.0)
    return TokenManager(client, client_id="c", client_secret=SECRET, policy=policy)


def concurrently(manager: TokenManager, workers: int = 4) -> list[BaseException]:
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work() -> None:
        start.wait()
        try:
            manager.token()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_workers_waiting_on_a_failing_token_fetch_share_its_failure() -> None:
    asked: list[str] = []
    manager = token_manager(httpx.Response(503), asked)
    errors = concurrently(manager)
    # one fetch of three attempts, not one per worker
    assert len(asked) == 3
    assert len(errors) == 4
    assert all(isinstance(e, TransportError) and "kept failing" in str(e) for e in errors)


def test_refused_credentials_are_asked_for_once_per_run() -> None:
    asked: list[str] = []
    manager = token_manager(httpx.Response(401, json={"error": "invalid_client"}), asked)
    errors = concurrently(manager)
    with pytest.raises(ConfigError, match="refused the client credentials"):
        manager.token()  # later callers too: the same credentials cannot start working
    assert len(asked) == 1
    assert len(errors) == 4 and all(isinstance(e, ConfigError) for e in errors)
