"""Retry arithmetic: how long to back off, and what a server's Retry-After means."""

from __future__ import annotations

import random
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx


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
