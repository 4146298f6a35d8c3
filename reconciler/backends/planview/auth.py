"""The access token: client credentials in, a JWT out, held in memory only.

The JWT's `exp` is authoritative (the contract says so), so the payload is decoded
without verifying it (we are its audience, not its judge) to learn when to renew.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import logging
import math
import threading
import time
from collections.abc import Callable

import httpx

from reconciler.backends.planview import contract
from reconciler.backends.planview.retry import RetryPolicy, certificate_refused, describe_failure
from reconciler.backends.planview.wire import AnswerTooLarge, exchange
from reconciler.errors import ConfigError, ReconcilerError, TransportError
from reconciler.redact import register_secret

log = logging.getLogger(__name__)

# Renew this share of a token's lifetime before it ends (at most RENEW_MAX seconds),
# so a request never leaves with a token that expires on the way.
RENEW_SHARE = 0.1
RENEW_MAX = 60.0


def jwt_expiry(token: str) -> float:
    """The `exp` claim (seconds since the epoch) of a JWT, read without verification."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TransportError("The token endpoint returned an id_token that is not a JWT.")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError):
        raise TransportError(
            "The token endpoint returned an id_token whose payload cannot be read."
        ) from None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise TransportError(
            "The token endpoint returned an id_token without an expiry ('exp' claim); "
            "the client cannot tell when to renew it."
        )
    return float(exp)


class TokenManager:
    """Thread-safe: one token shared by all workers, fetched once when it is due."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        client_id: str,
        client_secret: str,
        policy: RetryPolicy,
        answer_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        register_secret(client_secret)
        self._client = client
        self._client_id = client_id
        self._secret = client_secret
        self._policy = policy
        self._answer_seconds = answer_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self._clock_warned = False
        self._counts_lock = threading.Lock()  # not self._lock: that is held while fetching
        self._throttled = 0  # 429s from the token endpoint
        self._waited = 0.0  # seconds paused for its Retry-After
        self._finished = 0  # fetches that ended, either way
        self._failure: ReconcilerError | None = None  # how the last one failed, if it did
        self._refused: ConfigError | None = None  # credentials refused: final for the run

    def token(self) -> str:
        waited_for = self._finished  # read before queueing: which fetch we may wait for
        with self._lock:
            if self._refused is not None:
                raise _again(self._refused)
            if self._token is not None and self._clock() < self._renew_at:
                return self._token
            if self._finished != waited_for and self._failure is not None:
                # The fetch this worker queued behind failed after all its retries;
                # another full round now would only double the wait and the requests.
                raise _again(self._failure)
            try:
                self._token = self._fetch()
            except ReconcilerError as exc:
                self._failure = exc
                if isinstance(exc, ConfigError):
                    self._refused = exc
                raise
            else:
                self._failure = None
            finally:
                self._finished += 1
            return self._token

    def invalidate(self, token: str) -> None:
        """A request was refused with this token: renew it, unless a worker already did."""
        with self._lock:
            if self._token == token:
                self._token = None

    def throttling(self) -> tuple[int, float]:
        """(429s met, seconds paused) on the token endpoint, for the stats line."""
        with self._counts_lock:
            return self._throttled, self._waited

    def _fetch(self) -> str:
        failures = 0
        throttled = 0
        while True:
            try:
                response, content = exchange(
                    self._client,
                    "POST",
                    contract.TOKEN_PATH,
                    limit_seconds=self._answer_seconds,
                    data=contract.token_form(),
                    auth=(self._client_id, self._secret),
                )
            except AnswerTooLarge as exc:
                raise TransportError(f"The token endpoint's answer: {exc}.") from None
            except httpx.TransportError as exc:
                reason = describe_failure(exc)
                if certificate_refused(exc):
                    raise TransportError(
                        f"The token endpoint's TLS certificate was refused ({reason})."
                    ) from None
                failures += 1
                if failures > self._policy.backoff.attempts:
                    raise TransportError(
                        f"Could not reach the token endpoint ({reason}) after "
                        f"{failures} attempts."
                    ) from None
                self._pause(self._policy.failure_wait(failures, _ASKING, None), reason)
                continue
            status = response.status_code
            if status == 429:
                throttled += 1
                with self._counts_lock:
                    self._throttled += 1
                wait = self._policy.throttled_wait(response, _ASKING)
                if throttled > self._policy.max_throttled:
                    raise TransportError(
                        f"The token endpoint still rate-limited the client (429) after "
                        f"{throttled} waits."
                    )
                self._pause(wait, "rate-limited (429)")
                with self._counts_lock:
                    self._waited += wait
                continue
            if status >= 500:
                failures += 1
                if failures > self._policy.backoff.attempts:
                    raise TransportError(
                        f"The token endpoint kept failing (HTTP {status}) after "
                        f"{failures} attempts."
                    )
                wait = self._policy.failure_wait(failures, _ASKING, response)
                self._pause(wait, f"HTTP {status}")
                continue
            return self._accept(response, content)

    def _pause(self, seconds: float, reason: str) -> None:
        log.info("token endpoint: %s, retrying in %.2fs", reason, seconds)
        self._policy.sleep(seconds)

    def _accept(self, response: httpx.Response, content: bytes) -> str:
        status = response.status_code
        if 300 <= status < 400:
            host = httpx.URL(response.headers.get("location", "")).host or "an unnamed host"
            raise TransportError(
                f"The token endpoint redirected to {host} (HTTP {status}); the client does not "
                "follow redirects, so credentials never leave the configured host. Check --url."
            )
        try:
            body = json.loads(content)
        except ValueError:  # not JSON, or not text at all
            body = None
        if status in (400, 401, 403):
            error = contract.error_from_json(body)
            raise ConfigError(
                f"The token endpoint refused the client credentials (HTTP {status}"
                f"{', ' + error.code if error.code else ''}). Check --client-id and the "
                "client secret (PLANVIEW_ADMIN_CLIENT_SECRET or --client-secret-file)."
            )
        if status != 200:
            raise TransportError(f"The token endpoint answered HTTP {status}.")
        token = contract.token_from_json(body)
        if token is None:
            raise TransportError("The token endpoint's answer has no id_token.")
        register_secret(token)
        expires = jwt_expiry(token)
        now = self._clock()
        lifetime = expires - now
        if lifetime <= 0:
            # Our clock is ahead of the server's: keep the token until the API refuses
            # it (a 401 renews it), rather than fetching a new one for every request.
            if not self._clock_warned:
                log.warning("the access token looks expired on arrival; is the clock right?")
                self._clock_warned = True
            self._renew_at = math.inf
        else:
            self._renew_at = expires - min(RENEW_MAX, lifetime * RENEW_SHARE)
        log.debug("access token obtained, valid for %.0fs", max(0.0, lifetime))
        return token


_ASKING = "The token endpoint asked to wait"


def _again(error: ReconcilerError) -> ReconcilerError:
    """The same error for another worker, without the first worker's traceback."""
    return copy.copy(error).with_traceback(None)
