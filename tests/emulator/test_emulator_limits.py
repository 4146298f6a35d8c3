"""The rate window, Retry-After, the second consumer, and tokens."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import httpx
from emulator_http import Api, error_of, token

from reconciler.emulator import Emulator
from reconciler.emulator.limits import RateWindow

USERS = "/public/v1/user"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _remaining(reply: httpx.Response) -> int:
    return int(reply.headers["X-Rate-Limit-Remaining"])


def test_every_success_carries_the_remaining_budget_and_429_follows(
    emulator_factory: Callable[..., Emulator],
) -> None:
    api = Api(emulator_factory(users=3, rate_limit_points=4, rate_limit_window=30))
    seen = [_remaining(api.get(USERS)) for _ in range(4)]
    assert seen == [3, 2, 1, 0]
    refused = api.get(USERS)
    assert error_of(refused) == (429, "TooManyRequests")
    retry_after = int(refused.headers["Retry-After"])
    # Seconds until this 30 s window ends: at least 1, never more than the window.
    assert 1 <= retry_after <= 30
    assert retry_after >= 20  # the window started moments ago
    stats = api.emulator.stats()
    assert stats["rate_limited"] == 1 and stats["lowest_remaining"] == 0


def test_the_window_resets_and_429s_cost_nothing(emulator_factory: Callable[..., Emulator]) -> None:
    api = Api(emulator_factory(users=3, rate_limit_points=2, rate_limit_window=0.5))
    while api.get(USERS).status_code != 429:
        pass
    for _ in range(3):
        refused = api.get(USERS)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    time.sleep(0.6)
    assert _remaining(api.get(USERS)) == 1


def test_token_requests_cost_nothing_and_errors_cost_a_point(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emulator = emulator_factory(users=3, rate_limit_points=10, rate_limit_window=60)
    for _ in range(5):
        token(emulator)
    api = Api(emulator)
    assert _remaining(api.get(f"{USERS}/u-nobody")) == 9  # the 404 cost its point
    assert _remaining(api.post(USERS, {"email": "bad"})) == 8  # so did the 400
    with httpx.Client(base_url=emulator.url) as anonymous:
        assert anonymous.get(USERS).status_code == 401
    assert _remaining(api.get(USERS)) == 6


def test_a_greedy_second_consumer_exhausts_the_shared_budget(
    emulator_factory: Callable[..., Emulator],
) -> None:
    api = Api(
        emulator_factory(
            users=3, rate_limit_points=100, rate_limit_window=5, second_consumer_points=20_000
        )
    )
    time.sleep(0.2)  # the other integration has spent far more than 100 points by now
    refused = api.get(USERS)
    assert error_of(refused) == (429, "TooManyRequests")
    assert int(refused.headers["Retry-After"]) >= 1


def test_second_consumer_spends_evenly_across_each_window() -> None:
    clock = FakeClock()
    window = RateWindow(100, 10.0, second_consumer=50, clock=clock)
    assert window.remaining() == 100
    clock.now += 5
    assert window.remaining() == 75
    allowed, left, retry_after = window.take()
    assert (allowed, left, retry_after) == (True, 74, 5)
    clock.now += 4.99
    assert window.remaining() == 100 - 1 - 49
    clock.now += 0.02  # a new window: both consumers start again
    assert window.remaining() == 100


def test_fixed_window_refuses_until_it_ends() -> None:
    clock = FakeClock()
    window = RateWindow(3, 60.0, clock=clock)
    assert [window.take()[0] for _ in range(4)] == [True, True, True, False]
    clock.now += 59.5
    assert window.take() == (False, 0, 1)  # Retry-After is never 0
    clock.now += 0.5
    assert window.take() == (True, 2, 60)


def test_configure_changes_the_limit_at_run_time(emulator: Emulator) -> None:
    api = Api(emulator)
    emulator.configure(rate_limit_points=1, rate_limit_window=60)
    assert _remaining(api.get(USERS)) == 0
    assert api.get(USERS).status_code == 429


# ---------------------------------------------------------------------- tokens


def _token_reply(emulator: Emulator, **kwargs: object) -> httpx.Response:
    with httpx.Client(base_url=emulator.url) as client:
        return client.post("/io/v1/oauth2/token", **kwargs)  # type: ignore[arg-type]


def test_token_endpoint_checks_basic_auth_and_grant_type(emulator: Emulator) -> None:
    good = (emulator.client_id, emulator.client_secret)
    grant = {"grant_type": "client_credentials"}
    wrong = _token_reply(emulator, data=grant, auth=(emulator.client_id, "wrong"))
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})
    missing = _token_reply(emulator, data=grant)
    assert (missing.status_code, missing.json()) == (401, {"error": "invalid_client"})
    other = _token_reply(emulator, data=grant, auth=("someone-else", emulator.client_secret))
    assert other.status_code == 401
    bad_grant = _token_reply(emulator, data={"grant_type": "password"}, auth=good)
    assert (bad_grant.status_code, bad_grant.json()) == (400, {"error": "unsupported_grant_type"})
    ok = _token_reply(emulator, data=grant, auth=good).json()
    assert ok["token_type"] == "Bearer" and ok["expires_in"] == 3600


def _claims(jwt: str) -> dict[str, object]:
    header, payload, _ = jwt.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "typ": "JWT"}
    return dict(json.loads(base64.urlsafe_b64decode(payload + "==")))


def test_tokens_are_jwts_that_expire(emulator_factory: Callable[..., Emulator]) -> None:
    emulator = emulator_factory(users=2, token_lifetime=0.5)
    api = Api(emulator)
    claims = _claims(api.token)
    assert isinstance(claims["exp"], (int, float)) and claims["sub"] == emulator.client_id
    assert api.get(USERS).status_code == 200
    time.sleep(0.6)
    assert error_of(api.get(USERS)) == (401, "Unauthorized")
    api.token = token(emulator)
    assert api.get(USERS).status_code == 200


def test_unknown_and_revoked_tokens_are_refused(
    emulator: Emulator, emulator_factory: Callable[..., Emulator]
) -> None:
    api = Api(emulator)
    stranger = token(emulator_factory(users=1))
    for bad in (stranger, "not-a-jwt", api.token[:-2] + "xx", "a.b.c"):
        reply = api.request("GET", USERS, headers={"Authorization": f"Bearer {bad}"})
        assert error_of(reply) == (401, "Unauthorized")
    assert api.get(USERS).status_code == 200
    emulator.revoke_tokens()
    assert error_of(api.get(USERS)) == (401, "Unauthorized")
