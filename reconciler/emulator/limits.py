"""The customer's rate budget: a fixed window of points shared by every integration.

A second consumer (another integration of the same customer) spends its points
evenly across each window; its spending is computed from the time rather than by a
timer, which is exact and costs nothing when nobody asks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RateWindow:
    def __init__(
        self,
        points: int,
        window: float,
        *,
        second_consumer: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.points = points
        self.window = float(window)
        self.second_consumer = second_consumer
        self._start = clock()
        self._index = 0
        self._used = 0

    def reset(self, points: int, window: float, second_consumer: int) -> None:
        self.points, self.window, self.second_consumer = points, float(window), second_consumer
        self._start, self._index, self._used = self.clock(), 0, 0

    def _roll(self, now: float) -> float:
        """Move to the window containing `now`; return the time into it."""
        index = int((now - self._start) // self.window)
        if index != self._index:
            self._index, self._used = index, 0
        return now - self._start - index * self.window

    def _others(self, elapsed: float) -> int:
        if not self.second_consumer:
            return 0
        return min(self.second_consumer, int(self.second_consumer * elapsed / self.window))

    def remaining(self) -> int:
        elapsed = self._roll(self.clock())
        return max(0, self.points - self._used - self._others(elapsed))

    def take(self) -> tuple[bool, int, int]:
        """Spend one point: (allowed, remaining after, seconds until the window resets)."""
        now = self.clock()
        elapsed = self._roll(now)
        left = self.points - self._used - self._others(elapsed)
        retry_after = max(1, math.ceil(self.window - elapsed))
        if left <= 0:
            return False, 0, retry_after
        self._used += 1
        return True, left - 1, retry_after
