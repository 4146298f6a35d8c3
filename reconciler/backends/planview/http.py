"""One request, done properly: budget, token, retries, errors, accounting.

Redirects are never followed: the bearer token must not reach another host, and a
redirecting API endpoint is a misconfiguration the user should hear about.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from reconciler.backends.base import RequestStats
from reconciler.backends.planview import contract
from reconciler.backends.planview.auth import TokenManager
from reconciler.backends.planview.budget import RateBudget
from reconciler.backends.planview.retry import (
    RetryPolicy,
    WaitTooLong,
    certificate_refused,
    describe_failure,
)
from reconciler.backends.planview.wire import AnswerTooLarge, exchange
from reconciler.errors import ApiError, TransportError, WriteOutcomeUnknown

log = logging.getLogger(__name__)

# Raised before a byte of the request reached the server: always safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any  # parsed JSON, or None for an empty body


class Transport:
    """Thread-safe; shared by every worker of a backend."""

    def __init__(
        self,
        client: httpx.Client,
        auth: TokenManager,
        budget: RateBudget,
        *,
        policy: RetryPolicy,
        answer_seconds: float,
    ) -> None:
        self._client = client
        self._auth = auth
        self._budget = budget
        self._policy = policy
        self._answer_seconds = answer_seconds
        self._lock = threading.Lock()
        self._stats = RequestStats()

    def stats(self) -> RequestStats:
        with self._lock:
            snapshot = RequestStats(
                requests=self._stats.requests,
                by_endpoint=dict(self._stats.by_endpoint),
                throttled=self._stats.throttled,
                retries=self._stats.retries,
            )
        # the token endpoint costs no budget point, but its 429s and pauses count too
        token_throttled, token_waited = self._auth.throttling()
        snapshot.throttled += token_throttled
        snapshot.wait_seconds = self._budget.wait_seconds + token_waited
        snapshot.lowest_remaining = self._budget.lowest_remaining
        return snapshot

    def request(
        self,
        method: str,
        template: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        idempotent: bool,
        expect: tuple[int, ...] = (200,),
    ) -> Reply:
        """Send until there is an answer worth returning.

        Reads and idempotent writes are retried on 5xx and lost connections. A
        non-idempotent write whose outcome is unknown (the connection dropped after it
        was sent, or the server failed mid-way) raises `WriteOutcomeUnknown`: the
        caller reads the live record before deciding to send it again.
        """
        endpoint = f"{method} {template}"
        failures = 0
        throttled = 0
        renewed = False
        while True:
            token = self._auth.token()
            ticket = self._budget.acquire()
            self._count(endpoint, retry=failures > 0 or throttled > 0 or renewed)
            try:
                response, content = exchange(
                    self._client,
                    method,
                    path,
                    limit_seconds=self._answer_seconds,
                    params=params,
                    json_body=json_body,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except AnswerTooLarge as exc:
                self._budget.release(ticket, remaining=None, answered=True)
                raise TransportError(f"{endpoint}: {exc}.") from None
            except BaseException as exc:
                if not isinstance(exc, httpx.TransportError):
                    # e.g. an interrupt: the ticket must not stay in flight for ever
                    self._budget.release(ticket, remaining=None, answered=False)
                    raise
                sent = not isinstance(exc, _NOT_SENT)
                self._budget.release(ticket, remaining=None, answered=sent)
                reason = describe_failure(exc)
                if certificate_refused(exc):
                    raise TransportError(
                        f"{endpoint}: the server's TLS certificate was refused ({reason})."
                    ) from None
                if sent and not idempotent:
                    raise WriteOutcomeUnknown(
                        f"{endpoint}: the connection was lost after the request was sent "
                        f"({reason}); whether it took effect is unknown."
                    ) from None
                failures += 1
                if failures > self._policy.backoff.attempts:
                    raise TransportError(
                        f"{endpoint}: could not reach the API ({reason}) after {failures} attempts."
                    ) from None
                self._back_off(endpoint, failures, reason, None)
                continue

            status = response.status_code
            remaining = _remaining(response)
            if status == 429:
                throttled += 1
                with self._lock:
                    self._stats.throttled += 1
                try:
                    asking = f"{endpoint}: the API asked to wait"
                    pause = self._policy.throttled_wait(response, asking)
                except WaitTooLong as error:
                    # before the release: the other workers must fail now, not sit out the pause
                    self._budget.fail(str(error))
                    self._budget.release(ticket, remaining=None, retry_after=error.seconds)
                    raise
                # the budget sits out the pause, for every worker at once
                self._budget.release(ticket, remaining=None, retry_after=pause)
                if throttled > self._policy.max_throttled:
                    raise TransportError(
                        f"{endpoint}: still rate-limited (429) after {throttled} waits; "
                        "another integration may be using the whole limit."
                    )
                log.info("%s: rate-limited, waiting %.2fs (Retry-After)", endpoint, pause)
                continue
            self._budget.release(ticket, remaining=remaining)

            if 300 <= status < 400:
                location = httpx.URL(response.headers.get("location", ""))
                host = location.host or "an unnamed host"
                raise TransportError(
                    f"{endpoint}: the API redirected to {host} (HTTP {status}). Redirects are "
                    "not followed, so the access token never leaves the configured host; "
                    "check --url."
                )
            if status == 401 and not renewed:
                # the token expired early or was revoked: renew once, then try again
                self._auth.invalidate(token)
                renewed = True
                continue
            if status >= 500:
                if not idempotent:
                    raise WriteOutcomeUnknown(
                        f"{endpoint}: the server failed (HTTP {status}) while handling the "
                        "request; whether it took effect is unknown."
                    )
                failures += 1
                if failures > self._policy.backoff.attempts:
                    raise TransportError(
                        f"{endpoint}: the server kept failing (HTTP {status}) after "
                        f"{failures} attempts."
                    )
                self._back_off(endpoint, failures, f"HTTP {status}", response)
                continue
            body = _json(response, content, endpoint)
            if status in expect:
                log.debug("%s -> %s (remaining %s)", endpoint, status, remaining)
                return Reply(status, body)
            raise _api_error(method, template, status, body)

    # ------------------------------------------------------------------ helpers

    def _count(self, endpoint: str, *, retry: bool) -> None:
        with self._lock:
            self._stats.requests += 1
            self._stats.by_endpoint[endpoint] = self._stats.by_endpoint.get(endpoint, 0) + 1
            if retry:
                self._stats.retries += 1

    def _back_off(
        self, endpoint: str, failures: int, reason: str, response: httpx.Response | None
    ) -> None:
        delay = self._policy.failure_wait(failures, f"{endpoint}: the API asked to wait", response)
        log.info("%s: %s, retrying in %.2fs", endpoint, reason, delay)
        self._policy.sleep(delay)


def _remaining(response: httpx.Response) -> int | None:
    value = response.headers.get(contract.RATE_REMAINING_HEADER)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _json(response: httpx.Response, content: bytes, endpoint: str) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        if response.is_success:
            raise TransportError(
                f"{endpoint}: the API answered HTTP {response.status_code} with a body that "
                "is not JSON."
            ) from None
        return None


def _api_error(method: str, template: str, status: int, body: Any) -> ApiError:
    error = contract.error_from_json(body)
    code = error.code or "Error"
    detail = f": {error.detail}" if error.detail else ""
    if status == 401:
        detail += " (the access token was refused even after renewing it)"
    return ApiError(
        f"{method} {template} failed with HTTP {status} {code}{detail}",
        status=status,
        code=error.code,
        detail=error.detail,
        method=method,
        path=template,
    )
