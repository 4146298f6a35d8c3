"""The shared rate budget, on a simulated clock and a simulated fixed-window server."""

from __future__ import annotations

import math
import threading

import pytest

from reconciler.backends.planview.budget import RateBudget, Ticket, WindowEstimator
from reconciler.errors import TransportError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FixedWindow:
    """The emulator's rule: `points` per `window` seconds from `phase`, others spending
    `others` points evenly through each window."""

    def __init__(self, points: int, window: float, phase: float, others: int = 0) -> None:
        self.points, self.window, self.phase, self.others = points, window, phase, others
        self.used: dict[int, int] = {}

    def take(self, at: float) -> tuple[bool, int]:
        index = math.floor((at - self.phase) / self.window)
        elapsed = at - self.phase - index * self.window
        theirs = min(self.others, int(self.others * elapsed / self.window))
        left = self.points - self.used.get(index, 0) - theirs
        if left <= 0:
            return False, 0
        self.used[index] = self.used.get(index, 0) + 1
        return True, left - 1


def simulate(
    requests: int, *, reserve: int = 10, others: int = 0, rtt: float = 0.002
) -> tuple[int, list[int], float]:
    """One worker sending `requests` through the budget; returns 429s, the Remaining
    values seen, and the simulated time taken."""
    clock = Clock()
    server = FixedWindow(100, 1.0, phase=100.37, others=others)
    budget = RateBudget(reserve=reserve, clock=clock)
    throttled, seen = 0, []
    start = clock.now
    done = 0
    while done < requests:
        delay = budget.delay(clock.now)
        assert delay != math.inf, "one worker with nothing in flight must never wait forever"
        clock.now += delay
        ticket = budget.acquire()
        allowed, remaining = server.take(clock.now + rtt / 2)
        clock.now += rtt
        if allowed:
            budget.release(ticket, remaining=remaining)
            seen.append(remaining)
            done += 1
        else:
            throttled += 1
            budget.release(ticket, remaining=None, retry_after=math.ceil(1.0))
    return throttled, seen, clock.now - start


def test_a_lone_client_never_meets_a_429_and_keeps_the_reserve_once_it_knows_the_window() -> None:
    throttled, seen, elapsed = simulate(3000)
    assert throttled == 0
    learned = seen[400:]  # the first windows are spent learning the period
    assert min(learned) >= 10
    ideal = 3000 / 90
    assert elapsed < ideal * 1.1, f"{elapsed:.2f}s of simulated time for {ideal:.1f} windows"


def test_a_second_consumer_does_not_make_the_client_hammer() -> None:
    throttled, _, elapsed = simulate(1500, others=20)
    assert throttled <= 3
    assert elapsed < 1500 / 70 * 1.15


def test_a_larger_reserve_is_kept() -> None:
    throttled, seen, _ = simulate(1000, reserve=40)
    assert throttled == 0
    assert min(seen[300:]) >= 40


def test_requests_in_flight_count_against_the_budget() -> None:
    clock = Clock()
    budget = RateBudget(reserve=10, clock=clock)
    first = budget.acquire()
    assert budget.delay(clock.now) == math.inf  # nothing known yet: one request at a time
    budget.release(first, remaining=15)
    # 15 left: four may go (leaving 11: the reserve of 10 and one spare point for a probe)
    tickets = [budget.acquire() for _ in range(4)]
    assert budget.delay(clock.now) == math.inf  # a fifth would dig into the reserve
    for ticket, remaining in zip(tickets, (14, 13, 12, 11), strict=True):
        budget.release(ticket, remaining=remaining)
    assert budget.delay(clock.now) > 0  # blocked at the reserve: wait for a refill


def test_a_429_pauses_every_worker_for_retry_after() -> None:
    clock = Clock()
    budget = RateBudget(reserve=0, clock=clock)
    budget.release(budget.acquire(), remaining=None, retry_after=2.5)
    assert budget.delay(clock.now) == pytest.approx(2.5)
    clock.now += 2.5
    probe = budget.acquire()  # after the pause, one request goes first
    assert budget.delay(clock.now) == math.inf
    budget.release(probe, remaining=99)
    assert budget.delay(clock.now) == 0


def test_max_rps_spaces_requests() -> None:
    clock = Clock()
    budget = RateBudget(reserve=0, max_rps=4, clock=clock)
    budget.release(budget.acquire(), remaining=1000)
    assert budget.delay(clock.now) == pytest.approx(0.25)


def test_the_estimator_finds_period_and_phase_from_brackets() -> None:
    estimator = WindowEstimator()
    boundaries = [10.3 + 2.0 * k for k in range(8)]
    for k, boundary in enumerate(boundaries):
        if k == 4:
            continue  # nobody watched: the refill after it was bracketed very loosely
        lo = boundaries[3] + 0.2 if k == 5 else boundary - 0.3 + 0.04 * k
        estimator.add(lo, boundary + 0.05)
    assert estimator.period is not None
    low, high = estimator.period
    assert low <= 2.0 <= high and high - low < 0.1
    window = estimator.next_refill()
    assert window is not None and window[0] <= 10.3 + 16.0 <= window[1]


def test_contradicting_refills_start_the_estimate_again() -> None:
    estimator = WindowEstimator()
    for k in range(4):
        estimator.add(5.0 * k - 0.01, 5.0 * k + 0.01)
    estimator.add(16.0, 16.02)  # the window changed length
    assert estimator.period is None or estimator.period[0] <= 16.02 - 14.99


def test_a_failed_budget_fails_every_waiting_and_later_caller_at_once() -> None:
    budget = RateBudget(reserve=0, max_wait=5)
    first = budget.acquire()  # nothing known yet: the next caller waits for its answer
    outcome: list[BaseException | Ticket] = []

    def second_worker() -> None:
        try:
            outcome.append(budget.acquire())
        except TransportError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=second_worker, daemon=True)
    worker.start()
    reason = "GET /x: the API asked to wait 3600s (Retry-After), longer than 5s (--max-wait)."
    budget.fail(reason)
    budget.release(first, remaining=None, retry_after=3600)
    worker.join(timeout=30)
    assert not worker.is_alive(), "a waiting worker sat out the Retry-After"
    assert isinstance(outcome[0], TransportError) and str(outcome[0]) == reason
    with pytest.raises(TransportError) as later:
        budget.acquire()
    assert str(later.value) == reason
    assert budget.failure == reason


def test_a_pause_longer_than_max_wait_fails_instead_of_blocking() -> None:
    clock = Clock()
    budget = RateBudget(reserve=0, max_wait=10, clock=clock)
    budget.release(budget.acquire(), remaining=None, retry_after=60)
    with pytest.raises(TransportError, match=r"Retry-After.*--max-wait"):
        budget.acquire()
    clock.now += 60  # even once the pause is over: the run has already failed
    with pytest.raises(TransportError, match="--max-wait"):
        budget.acquire()


def test_a_learned_window_longer_than_max_wait_fails_instead_of_blocking() -> None:
    """One worker spends a 1 s window down to the reserve again and again with
    --max-wait 0.3: while it learns the window its probes back off no further than
    max_wait, and once it knows the refill is further off it fails instead of waiting."""
    clock = Clock()
    server = FixedWindow(100, 1.0, phase=100.37)
    budget = RateBudget(reserve=10, max_wait=0.3, clock=clock)
    requests = 0
    while requests < 5000:
        delay = budget.delay(clock.now)
        assert delay != math.inf
        if delay > budget.max_wait:
            break
        clock.now += delay
        ticket = budget.acquire()
        allowed, remaining = server.take(clock.now + 0.001)
        clock.now += 0.002
        assert allowed, "the budget kept the reserve: the server never refused"
        budget.release(ticket, remaining=remaining)
        requests += 1
    else:
        pytest.fail("the budget never noticed that the refill was further off than max_wait")
    assert requests > 200  # it did learn the window first: several refills were seen
    with pytest.raises(TransportError, match=r"next refill is due in about .*--max-wait") as error:
        budget.acquire()
    with pytest.raises(TransportError) as later:
        budget.acquire()
    assert str(later.value) == str(error.value)
