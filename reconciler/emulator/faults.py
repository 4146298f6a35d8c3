"""Which request gets which fault, drawn from a seeded generator.

One draw per API request, whatever the rates, so a run with the same seed and the
same sequence of requests meets the same faults.
"""

from __future__ import annotations

import random
from enum import Enum


class Fault(Enum):
    NONE = "none"
    SERVER_ERROR = "5xx"
    RESET_BEFORE = "reset_before"
    RESET_AFTER = "reset_after"


class FaultPlan:
    def __init__(
        self,
        *,
        rate_5xx: float = 0.0,
        reset_before: float = 0.0,
        reset_after: float = 0.0,
        latency: float = 0.0,
        jitter: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.rate_5xx = rate_5xx
        self.reset_before = reset_before
        self.reset_after = reset_after
        self.latency = latency
        self.jitter = jitter
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self._faults = random.Random(f"emulator-faults-{seed}")
        self._delays = random.Random(f"emulator-latency-{seed}")

    def draw(self, is_write: bool) -> Fault:
        if not (self.rate_5xx or self.reset_before or self.reset_after):
            return Fault.NONE
        roll = self._faults.random()
        if roll < self.rate_5xx:
            return Fault.SERVER_ERROR
        # Resets model a write whose outcome the client cannot know; reads just retry.
        if is_write:
            roll -= self.rate_5xx
            if roll < self.reset_before:
                return Fault.RESET_BEFORE
            if roll < self.reset_before + self.reset_after:
                return Fault.RESET_AFTER
        return Fault.NONE

    def delay(self) -> float:
        if not self.latency and not self.jitter:
            return 0.0
        spread = self._delays.uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        return max(0.0, self.latency + spread)
