"""The rate budget every request of one run shares, across all worker threads.

The limit is per customer and its window is not published, so the budget learns it:

- `X-Rate-Limit-Remaining` on each response tells the points left. Within a window the
  lowest value seen is the truth (responses of concurrent requests arrive out of
  order); requests in flight are counted against it before they are answered.
- Normal requests stop one point above the reserve, plus what other integrations are
  seen to spend before the next refill (so the reserve is still there for them at
  the end of the window). That one spare point pays for a single early "probe" per
  window, so even a probe that comes too soon leaves the reserve intact.
- A jump of Remaining is a refill. Each refill is bracketed in time: after the latest
  request that still saw the old window was sent, and before the first response that
  saw the new one arrived. Fixed windows make the brackets of successive refills line
  up with one period, so intersecting them narrows period and phase every window.
- Blocked at the reserve with nothing in flight, the budget sleeps until the refill
  is due, then lets one probe through. Before it knows the period it probes with an
  exponential back-off (those first probes may dip into the reserve: until one
  refill has been seen there is no other way to find out when it comes).
- A 429 pauses everyone for Retry-After (plus jitter, from the transport), after which
  one probe goes first.
- No caller waits longer than `max_wait` in one go: a wait the budget knows would be
  longer fails at once, and learning probes back off no further than `max_wait`. Once
  a request has failed that way (here, or a 429 whose Retry-After is too long, which
  the transport reports with `fail`), the run cannot proceed: every waiting and later
  caller fails at once with that same error instead of sitting out the wait.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.errors import TransportError

log = logging.getLogger(__name__)

INFINITY = math.inf
FIRST_PROBE_STEP = 0.05  # seconds; doubles after each probe that came too early
MAX_OBSERVATIONS = 32
MAX_WINDOWS_BETWEEN = 64


@dataclass(slots=True)
class Ticket:
    """One request's claim on the budget, handed back with its outcome."""

    sent: float
    probe: bool = False
    sure: bool = False  # a probe sent at the latest time the refill could happen


@dataclass(frozen=True, slots=True)
class _Refill:
    lo: float  # the refill happened after this (send time of an old-window request)
    hi: float  # ... and before this (arrival of the first new-window response)
    k: int  # window number relative to the first observed refill


class WindowEstimator:
    """Period and phase of a fixed rate window, from bracketed refill observations.

    Each refill i happened in (lo_i, hi_i] and is window k_i, so with period T:
    T in [(lo_j - hi_i)/(k_j - k_i), (hi_j - lo_i)/(k_j - k_i)] for every pair, and
    the next refill lies in the intersection of (lo_i + n*T_lo, hi_i + n*T_hi].
    Observations that contradict each other (the window is not fixed, or changed)
    are dropped oldest first.
    """

    def __init__(self) -> None:
        self._obs: list[_Refill] = []
        self._period: tuple[float, float] | None = None

    def reset(self) -> None:
        self._obs.clear()
        self._period = None

    def add(self, lo: float, hi: float) -> None:
        """Record a refill in (lo, hi]. Its window number is the one that fits every
        observation; a refill that several numbers fit (after a long idle stretch)
        teaches nothing once the period is known and is left out; observations no
        period explains are dropped oldest first."""
        lo = min(lo, hi)
        if not self._obs:
            self._obs.append(_Refill(lo, hi, 0))
            return
        last = self._obs[-1]
        # the old window lasted at least from the previous refill to `lo`
        t_min = max(self._period[0] if self._period else 0.0, lo - last.hi)
        fits: list[tuple[int, tuple[float, float]]] = []
        for n in range(1, MAX_WINDOWS_BETWEEN + 1):
            if (hi - last.lo) / n < t_min:
                break  # more windows would make the period impossibly short
            self._obs.append(_Refill(lo, hi, last.k + n))
            period = self._fit()
            self._obs.pop()
            if period is not None:
                fits.append((n, period))
        if len(fits) > 1 and self._period is not None:
            t_lo, t_hi = self._period
            if t_hi - t_lo < 0.1 * t_lo:
                return  # the period is known well: a refill this vague adds nothing
            # still learning: the likeliest count, a wrong guess is dropped later
            guess = ((hi + lo) - (last.hi + last.lo)) / (t_lo + t_hi)
            fits.sort(key=lambda fit: abs(fit[0] - guess))
        if fits:
            n, self._period = fits[0]
            self._obs.append(_Refill(lo, hi, last.k + n))
            del self._obs[:-MAX_OBSERVATIONS]
            return
        self._obs[:] = [_Refill(lo, hi, 0)]
        self._period = None

    @property
    def period(self) -> tuple[float, float] | None:
        return self._period

    def next_refill(self, after: float = -INFINITY) -> tuple[float, float] | None:
        """(earliest, latest) time of the first refill that may still come after
        `after` (the latest refill seen)."""
        if self._period is None:
            return None
        t_lo, t_hi = self._period
        k_next = self._obs[-1].k + 1
        for _ in range(MAX_WINDOWS_BETWEEN):
            lo = max(o.lo + (k_next - o.k) * t_lo for o in self._obs)
            hi = min(o.hi + (k_next - o.k) * t_hi for o in self._obs)
            if lo > hi:
                return None
            if hi > after:
                return lo, hi
            k_next += 1
        return None

    def _fit(self) -> tuple[float, float] | None:
        if len(self._obs) < 2:
            return None
        t_lo, t_hi = 0.0, INFINITY
        for i, a in enumerate(self._obs):
            for b in self._obs[i + 1 :]:
                n = b.k - a.k
                t_lo = max(t_lo, (b.lo - a.hi) / n)
                t_hi = min(t_hi, (b.hi - a.lo) / n)
        if t_hi <= 0 or t_lo > t_hi:
            return None
        return (t_lo, t_hi)


class RateBudget:
    """Thread-safe gate in front of every request that costs a point."""

    def __init__(
        self,
        *,
        reserve: int = 10,
        max_rps: float | None = None,
        max_wait: float = INFINITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reserve = max(0, reserve)
        self.max_rps = max_rps
        self.max_wait = max_wait
        self._clock = clock
        self._cond = threading.Condition()
        self._windows = WindowEstimator()
        self._known: int | None = None  # lowest Remaining seen in the current window
        self._known_at = -INFINITY  # arrival of the response that set it
        self._others_rate: float | None = None  # points/s other integrations spend
        self._debits = 0  # points taken off `_known` by guess, not by an answer
        self._in_flight = 0
        self._old_window_sent = -INFINITY  # latest send answered within the current window
        self._window_began = -INFINITY  # arrival of the response that showed the refill
        self._refill_sent = -INFINITY  # when the request that showed it was sent
        self._peak_in_flight = 1
        self._probe_step = FIRST_PROBE_STEP
        self._probe_not_before = -INFINITY  # earliest next probe while learning
        self._forced_probe_at: float | None = None  # after a 429: Retry-After says when
        self._pause_until = -INFINITY
        self._next_slot = -INFINITY  # --max-rps spacing
        self._waiters = 0
        self._wait_from = 0.0
        self.wait_seconds = 0.0
        self.lowest_remaining: int | None = None
        self._failure: str | None = None  # why the run cannot go on: every caller fails

    # ------------------------------------------------------------------ gate

    def acquire(self) -> Ticket:
        """Block until a request may be sent; the caller must `release` the ticket.
        Raises `TransportError` when the wait would be longer than `max_wait`, or once
        the budget has failed (`fail`)."""
        with self._cond:
            waiting = False
            try:
                while True:
                    if self._failure is not None:
                        raise TransportError(self._failure)
                    now = self._clock()
                    delay = self.delay(now)
                    if delay <= 0:
                        break
                    too_long = self._too_long(now, delay)
                    if too_long is not None:
                        self._fail(too_long)
                        continue
                    if not waiting:
                        waiting = True
                        self._start_waiting(now)
                    # Capped so that a missed notification can only cost a moment.
                    self._cond.wait(timeout=min(delay, 1.0))
            finally:
                if waiting:
                    self._stop_waiting(self._clock())
            ticket = Ticket(sent=now)
            if self._is_blocked(now):
                ticket.probe = True
                ticket.sure = self._probe_plan()[1]
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            if self.max_rps:
                self._next_slot = max(now, self._next_slot) + 1.0 / self.max_rps
            return ticket

    def delay(self, now: float) -> float:
        """Seconds until the next request may go (0: now; inf: wait for a response)."""
        if now < self._pause_until:
            return self._pause_until - now
        if self.max_rps and now < self._next_slot:
            return self._next_slot - now
        if self._known is None:
            return 0.0 if self._in_flight == 0 else INFINITY
        if not self._is_blocked(now):
            return 0.0
        if self._in_flight:
            return INFINITY  # their answers may show a refill
        return max(0.0, self._probe_plan()[0] - now)

    def fail(self, reason: str) -> None:
        """Stop the run: every caller waiting in `acquire`, and every later one, raises
        `TransportError(reason)` at once. For a wait longer than `max_wait` the caller
        learned of (a 429's Retry-After); call it before releasing that request's
        ticket, so that no waiter wakes to the long pause instead of the reason."""
        with self._cond:
            self._fail(reason)

    def has_room(self, extra: int) -> bool:
        """Whether `extra` more requests could be sent now without waiting and without
        touching the reserve: asked before spending points that may turn out unneeded
        (pages read ahead of a listing's end)."""
        with self._cond:
            now = self._clock()
            if self._failure is not None or now < self._pause_until:
                return False
            if self._known is None:
                return self._in_flight == 0
            keep = self.reserve + 1 + self._others_until_refill(now)
            return self._known - self._in_flight - extra - 1 >= keep

    @property
    def failure(self) -> str | None:
        """The reason the budget failed, if it did."""
        return self._failure

    def release(
        self,
        ticket: Ticket,
        *,
        remaining: int | None,
        answered: bool = True,
        retry_after: float | None = None,
    ) -> None:
        """Report a request's outcome: the Remaining header if any, whether the server
        answered at all, and for a 429 how long everyone must pause."""
        with self._cond:
            now = self._clock()
            self._in_flight = max(0, self._in_flight - 1)
            if retry_after is not None:
                self._throttled(ticket, now, retry_after)
            elif remaining is not None:
                self._observe(ticket, now, remaining)
            elif self._known is not None and answered:
                # errors cost their point too, but the server did not say how many are left
                self._known = max(0, self._known - 1)
                self._debits += 1
            if ticket.probe and not self._refilled_since(ticket):
                self._probe_failed(ticket, now)
            self._cond.notify_all()

    # ------------------------------------------------------------------ internals

    def _fail(self, reason: str) -> None:
        if self._failure is None:
            self._failure = reason
            log.debug("rate budget: failing every request: %s", reason)
        self._cond.notify_all()

    def _too_long(self, now: float, delay: float) -> str | None:
        """Why a wait of `delay` seconds must not be sat out, or None if it may."""
        if delay == INFINITY or delay <= self.max_wait:
            return None  # INFINITY: an answer in flight ends it, within its own timeout
        limit = f"longer than the {self.max_wait:g}s limit (--max-wait)"
        if now < self._pause_until:
            return (
                f"the API asked to pause for {_seconds(delay)}s more (Retry-After of a 429), "
                f"{limit}."
            )
        if self.max_rps and now < self._next_slot:
            return None  # the spacing the user asked for with --max-rps
        return (
            f"rate limit: {self._known} points left (reserve {self.reserve}, kept for "
            f"other integrations) and the next refill is due in about {_seconds(delay)}s, "
            f"{limit}; run again after the refill, or lower --rate-reserve."
        )

    def _is_blocked(self, now: float) -> bool:
        if self._known is None:
            return False
        # Stop one point above the reserve (that point pays for an early probe), plus
        # what the other integrations are expected to spend before the refill: the
        # reserve is for them to use when they need it, not for us to leave drained.
        keep = self.reserve + 1 + self._others_until_refill(now)
        return self._known - self._in_flight - 1 < keep

    def _others_until_refill(self, now: float) -> int:
        if not self._others_rate:
            return 0
        window = self._windows.next_refill(self._window_began)
        if window is None:
            return 0
        return math.ceil(self._others_rate * max(0.0, window[1] - now))

    def _observe(self, ticket: Ticket, now: float, remaining: int) -> None:
        remaining = max(0, remaining)
        if self.lowest_remaining is None or remaining < self.lowest_remaining:
            self.lowest_remaining = remaining
        if self._known is None:
            self._known, self._known_at = remaining, now
            self._old_window_sent = max(self._old_window_sent, ticket.sent)
            return
        # A request sent after the current low arrived was handled after it, so if it
        # shows more points the window has refilled. Answers to older requests may be
        # stale by any amount and prove nothing (a fresh answer follows soon enough).
        fresh = ticket.sent > self._known_at
        rise = remaining - self._known
        if ticket.sent < self._refill_sent and rise < -(self._peak_in_flight + 2):
            # sent before the refill was seen and far below the new window's count:
            # the old window's answer arriving late, not news about this one
            return
        if fresh and rise > self._debits:
            if self._old_window_sent > -INFINITY:
                self._windows.add(self._old_window_sent, now)
            self._known, self._known_at, self._debits = remaining, now, 0
            self._window_began = now
            self._refill_sent = ticket.sent
            self._old_window_sent = ticket.sent
            self._probe_step = FIRST_PROBE_STEP
            self._probe_not_before = -INFINITY
            self._forced_probe_at = None
            return
        if fresh and ticket.probe and now > self._known_at:
            # nothing else of ours was in flight: every other point spent was someone else's
            others = max(0, self._known - self._debits - remaining - 1)
            rate = others / (now - self._known_at)
            previous = self._others_rate
            self._others_rate = rate if previous is None else (previous + rate) / 2
        if remaining <= self._known or fresh:
            self._known, self._known_at, self._debits = remaining, now, 0
        self._old_window_sent = max(self._old_window_sent, ticket.sent)

    def _refilled_since(self, ticket: Ticket) -> bool:
        return self._window_began >= ticket.sent

    def _probe_failed(self, ticket: Ticket, now: float) -> None:
        if ticket.sure:
            # the refill did not come when the estimate said it must: it is wrong
            self._windows.reset()
            self._probe_step = FIRST_PROBE_STEP
        # while learning, a long window must not turn into a wait longer than max_wait
        self._probe_not_before = now + min(self._probe_step, self.max_wait)
        self._probe_step = min(self._probe_step * 2, self.max_wait)

    def _throttled(self, ticket: Ticket, now: float, retry_after: float) -> None:
        self._known, self._known_at = 0, now
        self._old_window_sent = max(self._old_window_sent, ticket.sent)
        self._pause_until = max(self._pause_until, now + retry_after)
        self._forced_probe_at = self._pause_until
        if self.lowest_remaining is None or self.lowest_remaining > 0:
            self.lowest_remaining = 0

    def _projected(self, at: float) -> float:
        """Points likely left at `at` in this window, counting other integrations'
        spending since the last answer."""
        assert self._known is not None
        spent = (self._others_rate or 0.0) * max(0.0, at - self._known_at)
        return self._known - spent

    def _probe_allowed(self, at: float) -> bool:
        """Whether an early probe at `at` may spend a point: only the spare one, so a
        probe that comes too soon still leaves the reserve whole."""
        return self._projected(at) - 1 >= self.reserve

    def _probe_plan(self) -> tuple[float, bool]:
        """When the next probe may go, and whether it is a sure one (sent when the
        estimate says the refill must have happened)."""
        if self._forced_probe_at is not None:
            return self._forced_probe_at, False
        window = self._windows.next_refill(self._window_began)
        if window is None or self._windows.period is None:
            step = min(self._probe_step, self.max_wait)
            return max(self._probe_not_before, self._known_at + step), False
        lo, hi = window
        lo = max(lo, self._old_window_sent)
        margin = 0.002 + 0.002 * self._windows.period[0]
        if hi - lo > margin and self._probe_allowed((lo + hi) / 2):
            return (lo + hi) / 2, False
        return hi + margin, True

    def _start_waiting(self, now: float) -> None:
        if self._waiters == 0:
            self._wait_from = now
            log.debug(
                "rate budget: holding requests (%s points left, reserve %d, %d in flight)",
                "unknown" if self._known is None else self._known,
                self.reserve,
                self._in_flight,
            )
        self._waiters += 1

    def _stop_waiting(self, now: float) -> None:
        self._waiters -= 1
        if self._waiters == 0:
            self.wait_seconds += max(0.0, now - self._wait_from)


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"
