"""Settings of one emulator instance: the tenant to start with and how the API behaves."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# Paging as the contract publishes it: endpoint -> (default count, maximum count).
PAGE_LIMITS: dict[str, tuple[int, int]] = {
    "users": (50, 500),
    "user_audit": (50, 200),
    "audit": (50, 200),
    "products": (50, 100),
    "product_users": (100, 1000),
}

# The same endpoints named by their path templates, which callers may use instead.
PAGE_ALIASES: dict[str, str] = {
    "/public/v1/user": "users",
    "/public/v1/user/{id}/audit": "user_audit",
    "/public/v1/audit": "audit",
    "/public/v1/product": "products",
    "/public/v1/product/{pid}/user": "product_users",
}

# Settings that may change while the server runs (`Emulator.configure`).
RUNTIME_SETTINGS: frozenset[str] = frozenset(
    {
        "rate_limit_points",
        "rate_limit_window",
        "page_max",
        "latency",
        "jitter",
        "token_lifetime",
        "fault_5xx",
        "fault_reset_before",
        "fault_reset_after",
        "fault_seed",
        "second_consumer_points",
    }
)


@dataclass
class EmulatorConfig:
    """Everything an emulator is started with.

    The tenant is `state` when given (the shape of GET /_emulator/state), otherwise one
    generated from `users`, `products` and `seed`. The in-process default rate limit is
    generous so that tests only meet 429s when they ask for them.
    """

    users: int = 25
    products: int = 5
    seed: int = 1
    state: Mapping[str, Any] | None = None
    rate_limit_points: int = 100_000
    rate_limit_window: float = 60.0
    page_max: Mapping[str, int] = field(default_factory=dict)
    latency: float = 0.0
    jitter: float = 0.0
    token_lifetime: float = 3600.0
    fault_5xx: float = 0.0
    fault_reset_before: float = 0.0
    fault_reset_after: float = 0.0
    fault_seed: int = 0
    second_consumer_points: int = 0
    client_id: str = "reconciler-emulator"
    client_secret: str = field(default_factory=lambda: "emu-" + secrets.token_urlsafe(24))
    host: str = "127.0.0.1"
    port: int = 0
    # /_emulator/ answers only peers on loopback unless this is set.
    admin_from_anywhere: bool = False

    def __post_init__(self) -> None:
        validate_settings({f.name: getattr(self, f.name) for f in fields(self)})


def page_limits(page_max: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """Per-endpoint (default, maximum) after the configured maxima are applied."""
    named = {PAGE_ALIASES.get(key, key): value for key, value in page_max.items()}
    limits = {}
    for endpoint, (default, maximum) in PAGE_LIMITS.items():
        maximum = int(named.get(endpoint, maximum))
        limits[endpoint] = (min(default, maximum), maximum)
    return limits


def validate_settings(settings: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first setting that cannot work."""

    def check(name: str, ok: bool, expected: str) -> None:
        if name in settings and not ok:
            raise ValueError(f"{name} must be {expected}, got {settings[name]!r}")

    def number(name: str) -> float:
        value = settings.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        return float(value)

    for name in ("users", "products", "rate_limit_points", "second_consumer_points"):
        if name in settings:
            value = settings[name]
            check(name, isinstance(value, int) and not isinstance(value, bool), "an integer")
            check(name, value >= 0, "zero or more")
    for name in ("latency", "jitter"):
        if name in settings:
            check(name, number(name) >= 0, "zero or more seconds")
    for name in ("rate_limit_window", "token_lifetime"):
        if name in settings:
            check(name, number(name) > 0, "more than zero seconds")
    rates = ("fault_5xx", "fault_reset_before", "fault_reset_after")
    for name in rates:
        if name in settings:
            check(name, 0.0 <= number(name) <= 1.0, "a rate between 0 and 1")
    if all(name in settings for name in rates):
        total = sum(float(settings[name]) for name in rates)
        if total > 1.0:
            raise ValueError(f"the fault rates add up to {total:g}; at most 1 is possible")
    if "page_max" in settings:
        page_max = settings["page_max"]
        if not isinstance(page_max, Mapping):
            raise ValueError("page_max must map endpoint names to maximum page sizes")
        for endpoint, maximum in page_max.items():
            if PAGE_ALIASES.get(endpoint, endpoint) not in PAGE_LIMITS:
                known = ", ".join(PAGE_LIMITS)
                raise ValueError(f"page_max names unknown endpoint {endpoint!r} (known: {known})")
            if isinstance(maximum, bool) or not isinstance(maximum, int) or maximum < 1:
                raise ValueError(f"page_max[{endpoint!r}] must be a positive integer")
    if "client_id" in settings:
        value = settings["client_id"]
        # Basic auth splits id from secret at the first colon.
        check(
            "client_id",
            isinstance(value, str) and bool(value) and ":" not in value,
            "a non-empty string without ':'",
        )
    if "client_secret" in settings:
        value = settings["client_secret"]
        check("client_secret", isinstance(value, str) and bool(value), "a non-empty string")
