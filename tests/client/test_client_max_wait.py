"""A rate limit that cannot refill within --max-wait ends the run promptly.

Against the real emulator with a window of an hour: the first 429 asks for a
Retry-After far beyond --max-wait. The worker that meets it fails, and so must every
other worker (users, products and each product's provisioning are read at once),
instead of sitting in the shared rate budget for the rest of the hour.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from support.backends import backend_for

from reconciler.emulator import Emulator
from reconciler.errors import TransportError

Factory = Callable[..., Emulator]
GUARD = 60.0  # seconds; the bug made these runs wait out the whole hour


def hour_window(emulator_factory: Factory) -> Emulator:
    return emulator_factory(users=30, products=5, rate_limit_points=5, rate_limit_window=3600)


def test_read_live_fails_promptly_when_retry_after_exceeds_max_wait(
    emulator_factory: Factory,
) -> None:
    emulator = hour_window(emulator_factory)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            with backend_for(emulator, max_wait=2, concurrency=4) as backend:
                backend.read_live()
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)
        else:
            outcome.append(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(GUARD)
    assert not reader.is_alive(), "read_live kept waiting in the rate budget"
    error = outcome[0]
    assert isinstance(error, TransportError)
    assert "Retry-After" in str(error) and "--max-wait" in str(error)
    assert emulator.stats()["rate_limited"] == 1  # nobody kept knocking after the 429


def test_every_worker_fails_with_the_error_of_the_first(emulator_factory: Factory) -> None:
    emulator = hour_window(emulator_factory)
    with backend_for(emulator, max_wait=2) as backend:
        first: TransportError | None = None
        try:
            backend.read_live()
        except TransportError as exc:
            first = exc
        assert first is not None
        # a later call in the same run does not wait either: it fails the same way
        outcome: list[BaseException] = []

        def read_again() -> None:
            try:
                backend.list_products()
            except BaseException as exc:  # handed to the test thread
                outcome.append(exc)

        again = threading.Thread(target=read_again, daemon=True)
        again.start()
        again.join(GUARD)
        assert not again.is_alive(), "a later request waited out the Retry-After"
        assert isinstance(outcome[0], TransportError) and str(outcome[0]) == str(first)


def test_export_fails_promptly_and_writes_nothing(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    """The reported case: export reads products and users at once, even with
    --concurrency 1; the default --max-wait of 300 s is far below the hour."""
    emulator = hour_window(emulator_factory)
    out = tmp_path / "tenant.yaml"
    env = {
        **os.environ,
        "PLANVIEW_ADMIN_URL": emulator.url,
        "PLANVIEW_ADMIN_CLIENT_ID": emulator.client_id,
        "PLANVIEW_ADMIN_CLIENT_SECRET": emulator.client_secret,
        "NO_COLOR": "1",
    }
    try:
        run = subprocess.run(
            [sys.executable, "-m", "reconciler", "export", "--concurrency", "1", "--out", str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=GUARD,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("export kept waiting in the rate budget") from None
    assert run.returncode == 1, run.stderr
    assert "Retry-After" in run.stderr and "--max-wait" in run.stderr
    assert "Traceback" not in run.stderr
    assert emulator.client_secret not in run.stderr + run.stdout
    assert not out.exists()
