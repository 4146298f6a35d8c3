"""The token request follows the same retry policy as the API requests: a 429 or 503
with Retry-After is waited out (bounded by --max-wait), and shows in the stats line."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from client_fakeapi import SECRET, TOKEN_PATH, make_jwt

from reconciler.backends.planview import ClientSettings, PlanviewBackend
from reconciler.errors import TransportError

PRODUCTS = "/public/v1/product"
Answer = Callable[[], httpx.Response]


def token_ok() -> httpx.Response:
    return httpx.Response(200, json={"id_token": make_jwt(time.time() + 3600)})


def busy(status: int, retry_after: str) -> Answer:
    return lambda: httpx.Response(status, headers={"Retry-After": retry_after})


class Scripted:
    """The token endpoint answers from `script` in turn (its last answer for ever);
    the product listing always works. Every pause the client takes is recorded."""

    def __init__(self, *script: Answer, products: list[Answer] | None = None) -> None:
        self.script = list(script)
        self.products = products or []
        self.token_requests = 0
        self.pauses: list[float] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            self.token_requests += 1
            answer = self.script.pop(0) if len(self.script) > 1 else self.script[0]
            return answer()
        if self.products:
            return self.products.pop(0)()
        page = {"startIndex": 1, "itemsPerPage": 0, "Resources": []}
        return httpx.Response(200, json=page, headers={"X-Rate-Limit-Remaining": "100"})

    def backend(self, **settings: float) -> PlanviewBackend:
        return PlanviewBackend(
            ClientSettings(
                url="http://127.0.0.1:9", client_id="client", client_secret=SECRET,
                backoff_base=0.001, **settings,  # type: ignore[arg-type]
            ),
            transport=httpx.MockTransport(self.handle),
            sleep=self.pauses.append,
        )  # fmt: skip


@pytest.fixture
def run() -> Iterator[Callable[..., tuple[Scripted, PlanviewBackend]]]:
    opened: list[PlanviewBackend] = []

    def start(
        *script: Answer, products: list[Answer] | None = None, **settings: float
    ) -> tuple[Scripted, PlanviewBackend]:
        api = Scripted(*script, products=products)
        backend = api.backend(**settings)
        opened.append(backend)
        return api, backend

    yield start
    for backend in opened:
        backend.close()


def test_a_429_from_the_token_endpoint_waits_for_its_retry_after(run: Callable) -> None:
    api, backend = run(busy(429, "1"), token_ok)

    assert backend.list_products() == []

    assert api.token_requests == 2
    assert len(api.pauses) == 1 and 1.0 <= api.pauses[0] <= 1.1  # Retry-After, plus jitter
    stats = backend.stats()
    assert stats.throttled == 1
    assert "1 rate-limited (429)" in stats.summary()
    assert stats.wait_seconds == pytest.approx(api.pauses[0])


def test_a_503_with_retry_after_from_the_token_endpoint_is_honoured(run: Callable) -> None:
    api, backend = run(busy(503, "2"), token_ok)

    assert backend.list_products() == []

    assert api.token_requests == 2
    assert len(api.pauses) == 1 and 2.0 <= api.pauses[0] <= 2.1


def test_a_retry_after_beyond_max_wait_fails_at_once(run: Callable) -> None:
    api, backend = run(busy(429, "600"), max_wait=5)

    with pytest.raises(TransportError) as failed:
        backend.list_products()

    message = str(failed.value)
    assert "token endpoint asked to wait 600s" in message
    assert "Retry-After" in message and "--max-wait" in message
    assert api.pauses == []  # not a second sat out
    assert api.token_requests == 1


def test_an_http_date_retry_after_beyond_max_wait_fails_at_once(run: Callable) -> None:
    api, backend = run(busy(503, "Wed, 21 Oct 2099 07:28:00 GMT"), max_wait=5)

    with pytest.raises(TransportError, match=r"Retry-After.*--max-wait"):
        backend.list_products()
    assert api.pauses == [] and api.token_requests == 1


def test_a_token_endpoint_that_stays_rate_limited_is_given_up(run: Callable) -> None:
    api, backend = run(busy(429, "0"))

    with pytest.raises(TransportError, match=r"still rate-limited the client \(429\) after 11"):
        backend.list_products()
    assert api.token_requests == 11  # the first try and 10 waits, as for API requests
    assert len(api.pauses) == 10


def test_an_api_503_with_retry_after_follows_the_same_policy(run: Callable) -> None:
    api, backend = run(token_ok, products=[busy(503, "2")])

    assert backend.list_products() == []
    assert len(api.pauses) == 1 and 2.0 <= api.pauses[0] <= 2.1


def test_an_api_503_with_retry_after_beyond_max_wait_fails_at_once(run: Callable) -> None:
    api, backend = run(token_ok, products=[busy(503, "600")], max_wait=5)

    with pytest.raises(TransportError, match=r"the API asked to wait 600s.*--max-wait"):
        backend.list_products()
    assert api.pauses == []
