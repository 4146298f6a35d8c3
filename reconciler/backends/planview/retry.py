"""Retry arithmetic: how long to back off, what a server's Retry-After means, and the
one policy the token request and the API requests both follow."""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

from reconciler.errors import TransportError


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait: `Retry-After` is either delta-seconds or an HTTP date.
    None when absent or unreadable (the caller then falls back to its own back-off)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is unreadable
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class Backoff:
    """Jittered exponential back-off for transient failures (5xx, lost connections)."""

    base: float = 0.25
    cap: float = 10.0
    attempts: int = 5  # retries after the first try

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Delay before retry number `retry` (0-based): full jitter over the upper half,
        so concurrent clients spread out but never retry instantly."""
        ceiling = min(self.cap, self.base * (2**retry))
        return ceiling * (0.5 + 0.5 * (rng or random).random())


def throttle_jitter(rng: random.Random | None = None) -> float:
    """A little extra after Retry-After so waiting clients do not return in lockstep."""
    return 0.01 + 0.09 * (rng or random).random()


def certificate_refused(exc: BaseException) -> bool:
    """True when TLS verification refused the server's certificate. Trying again cannot
    help (the same certificate comes back), so callers fail at once instead of retrying."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        if isinstance(current, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def describe_failure(exc: httpx.TransportError) -> str:
    """What went wrong on the wire, in words a user can act on (no headers, no body)."""
    text = str(exc).strip()
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if certificate_refused(exc):
        reason += "; if a proxy or private CA signs the certificate, pass it with --ca-bundle"
    return reason


class WaitTooLong(TransportError):
    """The server asked for a pause longer than --max-wait: fail now, not after it."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait before trying a request again, for every request the client
    sends (the token request and the API's), so that none of them ignores a server's
    Retry-After or outwaits --max-wait.

    - 429: the Retry-After exactly, plus a little jitter (a polite second when the
      header is missing or unreadable), at most `max_throttled` times in a row.
    - 5xx or a lost connection, where a retry is safe: the jittered back-off, at most
      `backoff.attempts` times; a Retry-After on a 5xx (a 503 saying when the service
      returns) is waited for when it is the longer of the two.
    - A Retry-After longer than `max_wait` raises `WaitTooLong` at once.
    """

    backoff: Backoff
    max_wait: float
    max_throttled: int = 10
    sleep: Callable[[float], None] = field(default=time.sleep)

    def throttled_wait(self, response: httpx.Response, asking: str) -> float:
        """Seconds to pause after a 429. `asking` starts the error for a wait beyond
        --max-wait: who "asked to wait", e.g. "The token endpoint asked to wait"."""
        wait = _retry_after(response)
        wait = 1.0 if wait is None else wait  # unreadable: a polite second, then a probe
        self._check(wait, asking)
        # the jitter never stretches a pause beyond --max-wait
        return min(wait + throttle_jitter(), self.max_wait)

    def failure_wait(
        self, failures: int, asking: str, response: httpx.Response | None
    ) -> float:
        """Seconds to back off before retry number `failures` (1-based) after a 5xx
        answer or, with no `response`, a lost connection."""
        delay = self.backoff.delay(failures - 1)
        asked = _retry_after(response) if response is not None else None
        if asked is not None:
            self._check(asked, asking)
            delay = max(delay, min(asked + throttle_jitter(), self.max_wait))
        return delay

    def _check(self, wait: float, asking: str) -> None:
        if wait > self.max_wait:
            raise WaitTooLong(
                f"{asking} {wait:.0f}s before the next request (Retry-After), "
                f"longer than the {self.max_wait:g}s limit (--max-wait).",
                wait,
            )


def _retry_after(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("retry-after"))
