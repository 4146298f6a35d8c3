"""What the emulator saw and did, as GET /_emulator/stats reports it."""

from __future__ import annotations

from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        # Requests waiting out the added latency right now. Not a counter: a reset
        # while they wait must not make their answers count below zero.
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        self.requests: Counter[str] = Counter()
        self.responses: Counter[int] = Counter()
        self.rate_limited = 0
        self.lowest_remaining: int | None = None
        self.faults: Counter[str] = Counter({"5xx": 0, "reset_before": 0, "reset_after": 0})
        self.tokens_issued = 0
        # The most requests held at once by the added latency: how many reads a client
        # really had under way together, whatever its own threads claim.
        self.max_in_flight = self.in_flight

    def held(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def released(self) -> None:
        self.in_flight -= 1

    def sent_remaining(self, remaining: int) -> None:
        if self.lowest_remaining is None or remaining < self.lowest_remaining:
            self.lowest_remaining = remaining

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests_total": sum(self.requests.values()),
            "requests": dict(sorted(self.requests.items())),
            "responses": {str(status): n for status, n in sorted(self.responses.items())},
            "rate_limited": self.rate_limited,
            "lowest_remaining": self.lowest_remaining,
            "faults": dict(self.faults),
            "tokens_issued": self.tokens_issued,
            "max_in_flight": self.max_in_flight,
        }
