"""A Planview backend pointed at an in-process emulator, for tests that talk to it."""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.backends.planview import ClientSettings, PlanviewBackend
from reconciler.emulator import Emulator


def backend_for(
    emulator: Emulator, transport: httpx.BaseTransport | None = None, **settings: Any
) -> PlanviewBackend:
    """Short retry back-off so that tests of retries do not wait; `settings` override."""
    options: dict[str, Any] = {"backoff_base": 0.01, **settings}
    return PlanviewBackend(
        ClientSettings(
            url=emulator.url,
            client_id=emulator.client_id,
            client_secret=emulator.client_secret,
            **options,
        ),
        transport=transport,
    )
