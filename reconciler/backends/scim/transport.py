"""One SCIM request: token, rate limits, retries, SCIM error bodies, accounting.

What differs from the Planview transport: SCIM media types, `If-Match` and `ETag`,
SCIM error bodies (`status`, `scimType`, `detail`), and rate-limit headers that a
provider may or may not send. The shared rate budget only starts metering once the
provider has shown a remaining count (`X-Rate-Limit-Remaining`, `RateLimit-Remaining`
or the IETF `RateLimit: ...;r=N`); before that, a budget without a count would let
only one request be in flight at a time. A 429 pauses every worker for Retry-After
either way. Redirects are never followed, so the token stays with the configured host.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from reconciler.backends.base import RequestStats
from reconciler.backends.planview.budget import RateBudget, Ticket
from reconciler.backends.planview.retry import (
    Backoff,
    certificate_refused,
    describe_failure,
    parse_retry_after,
    throttle_jitter,
)
from reconciler.backends.planview.wire import AnswerTooLarge, exchange
from reconciler.backends.scim.auth import TokenSource
from reconciler.errors import ApiError, ConfigError, TransportError, WriteOutcomeUnknown

log = logging.getLogger(__name__)

SCIM_JSON = "application/scim+json"
# Failures before a byte reached the server: a retry can never duplicate anything.
_BEFORE_SEND = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_IETF_REMAINING = re.compile(r"(?:;\s*r\s*=\s*|\bremaining\s*=\s*)(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any  # parsed JSON, or None for an empty body
    etag: str | None  # the ETag header, if any


def remaining_points(headers: httpx.Headers) -> int | None:
    """The requests left in the provider's window, from whichever header it uses; with
    several IETF policies the tightest counts."""
    for name in ("x-rate-limit-remaining", "ratelimit-remaining"):
        value = headers.get(name)
        if value is not None and value.strip().isdigit():
            return int(value.strip())
    combined = headers.get("ratelimit")
    if combined:
        found = [int(n) for n in _IETF_REMAINING.findall(combined)]
        if found:
            return min(found)
    return None


class ScimTransport:
    """Thread-safe; shared by every worker of one backend."""

    def __init__(
        self,
        client: httpx.Client,
        auth: TokenSource,
        budget: RateBudget,
        *,
        backoff: Backoff,
        max_wait: float,
        max_throttled: int,
        answer_seconds: float,
    ) -> None:
        self._client = client
        self._auth = auth
        self._budget = budget
        self._backoff = backoff
        self._max_wait = max_wait
        self._max_throttled = max_throttled
        self._answer_seconds = answer_seconds
        self._lock = threading.Lock()
        self._stats = RequestStats()
        self._metered = False  # the provider has sent a remaining count
        self._pause_until = 0.0  # after a 429 while not metered: nobody sends before this
        self._unmetered_wait = 0.0

    def stats(self) -> RequestStats:
        with self._lock:
            return RequestStats(
                requests=self._stats.requests,
                by_endpoint=dict(self._stats.by_endpoint),
                throttled=self._stats.throttled,
                retries=self._stats.retries,
                wait_seconds=self._budget.wait_seconds + self._unmetered_wait,
                lowest_remaining=self._budget.lowest_remaining,
            )

    def request(
        self,
        method: str,
        template: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        if_match: str | None = None,
        idempotent: bool,
        expect: tuple[int, ...] = (200,),
    ) -> Reply:
        """Send until there is an answer worth returning. Reads and idempotent writes
        are retried after 5xx and lost connections; a non-idempotent write whose
        outcome is unknown raises `WriteOutcomeUnknown` for the caller to read back."""
        endpoint = f"{method} {template}"
        headers = {"Accept": f"{SCIM_JSON}, application/json"}
        if json_body is not None:
            headers["Content-Type"] = SCIM_JSON
        if if_match is not None:
            headers["If-Match"] = if_match
        failures = throttled = 0
        renewed = False
        while True:
            token = self._auth.token()
            ticket = self._gate()
            self._count(endpoint, retry=bool(failures or throttled or renewed))
            try:
                response, content = exchange(
                    self._client,
                    method,
                    path,
                    limit_seconds=self._answer_seconds,
                    params=params,
                    json_body=json_body,
                    headers={**headers, "Authorization": f"Bearer {token}"},
                )
            except AnswerTooLarge as exc:
                self._settle(ticket, None, answered=True)
                raise TransportError(f"{endpoint}: {exc}.") from None
            except httpx.TransportError as exc:
                sent = not isinstance(exc, _BEFORE_SEND)
                self._settle(ticket, None, answered=sent)
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
                self._pause_or_give_up(endpoint, failures, reason, "could not reach the server")
                continue
            except BaseException:
                self._settle(ticket, None, answered=False)
                raise

            status = response.status_code
            if status == 429:
                throttled += 1
                self._throttled(endpoint, ticket, response, throttled)
                continue
            self._settle(ticket, remaining_points(response.headers), answered=True)
            if 300 <= status < 400 and status != 304:
                host = httpx.URL(response.headers.get("location", "")).host or "an unnamed host"
                raise TransportError(
                    f"{endpoint}: the server redirected to {host} (HTTP {status}). Redirects "
                    "are not followed, so the token never leaves the configured host; check "
                    "--url (it must be the SCIM base URL itself)."
                )
            if status == 401:
                if self._auth.renewable and not renewed:
                    self._auth.invalidate(token)
                    renewed = True
                    continue
                raise ConfigError(
                    f"{endpoint}: the SCIM service refused the credentials (HTTP 401). Check "
                    "SCIM_TOKEN or --token-file (or the client credentials with --token-url)."
                )
            if status >= 500:
                if not idempotent:
                    raise WriteOutcomeUnknown(
                        f"{endpoint}: the server failed (HTTP {status}) while handling the "
                        "request; whether it took effect is unknown."
                    )
                failures += 1
                self._pause_or_give_up(endpoint, failures, f"HTTP {status}", "the server failed")
                continue
            body = _parse_json(content, endpoint, status, success=status in expect)
            if status in expect:
                return Reply(status, body, response.headers.get("etag"))
            raise scim_error(method, template, status, body)

    # ------------------------------------------------------------------ rate limits

    def _gate(self) -> Ticket | None:
        with self._lock:
            metered = self._metered
            pause = self._pause_until - time.monotonic()
        if metered:
            return self._budget.acquire()
        if pause > 0:
            time.sleep(pause)
            with self._lock:
                self._unmetered_wait += pause
        return None

    def _settle(self, ticket: Ticket | None, remaining: int | None, *, answered: bool) -> None:
        if ticket is not None:
            self._budget.release(ticket, remaining=remaining, answered=answered)
        elif remaining is not None:
            with self._lock:
                if not self._metered:
                    log.debug("the SCIM service reports its rate limit: metering requests")
                self._metered = True

    def _throttled(
        self, endpoint: str, ticket: Ticket | None, response: httpx.Response, count: int
    ) -> None:
        with self._lock:
            self._stats.throttled += 1
        wait = parse_retry_after(response.headers.get("retry-after"))
        wait = 1.0 if wait is None else wait
        if wait > self._max_wait:
            error = TransportError(
                f"{endpoint}: the SCIM service asked to wait {wait:.0f}s (Retry-After of a "
                f"429), longer than the {self._max_wait:g}s limit (--max-wait)."
            )
            self._budget.fail(str(error))
            if ticket is not None:
                self._budget.release(ticket, remaining=None, retry_after=wait)
            raise error
        pause = min(wait + throttle_jitter(), self._max_wait)
        if ticket is not None:
            self._budget.release(ticket, remaining=None, retry_after=pause)
        else:
            with self._lock:
                self._pause_until = max(self._pause_until, time.monotonic() + pause)
        if count > self._max_throttled:
            raise TransportError(
                f"{endpoint}: still rate-limited (429) after {count - 1} waits; another "
                "integration may be using the whole limit."
            )
        log.info("%s: rate-limited, waiting %.2fs (Retry-After)", endpoint, pause)

    # ------------------------------------------------------------------ helpers

    def _count(self, endpoint: str, *, retry: bool) -> None:
        with self._lock:
            self._stats.requests += 1
            self._stats.by_endpoint[endpoint] = self._stats.by_endpoint.get(endpoint, 0) + 1
            self._stats.retries += int(retry)

    def _pause_or_give_up(self, endpoint: str, failures: int, reason: str, summary: str) -> None:
        if failures > self._backoff.attempts:
            raise TransportError(f"{endpoint}: {summary} ({reason}) after {failures} attempts.")
        delay = self._backoff.delay(failures - 1)
        log.info("%s: %s, retrying in %.2fs", endpoint, reason, delay)
        time.sleep(delay)


def _parse_json(content: bytes, endpoint: str, status: int, *, success: bool) -> Any:
    if not content.strip():
        return None
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        if success:
            raise TransportError(
                f"{endpoint}: the SCIM service answered HTTP {status} with a body that is not JSON."
            ) from None
        return None  # an error page: the status alone explains it


def scim_error(method: str, template: str, status: int, body: Any) -> ApiError:
    """An `ApiError` from a SCIM error body (RFC 7644 §3.12), tolerant of other shapes."""
    scim_type = detail = None
    if isinstance(body, dict):
        raw_type, raw_detail = body.get("scimType"), body.get("detail")
        scim_type = str(raw_type) if raw_type is not None else None
        detail = str(raw_detail) if raw_detail is not None else None
    if status == 412:
        message = (
            f"{method} {template} was refused with HTTP 412: the resource changed on the "
            "server since it was read (its ETag no longer matches), so it was not "
            "overwritten; run plan again to see the change"
        )
    else:
        kind = f" {scim_type}" if scim_type else ""
        message = f"{method} {template} failed with HTTP {status}{kind}"
        if detail:
            message += f": {detail}"
    return ApiError(
        message, status=status, code=scim_type, detail=detail, method=method, path=template
    )
