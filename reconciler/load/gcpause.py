"""Pausing the cycle collector while building large, acyclic structures."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Loading and validating allocate a million small objects and free almost none,
    so each automatic collection finds nothing yet walks an ever larger heap: on
    50,000 users that was a fifth of the load time and 40% of validation. Nothing
    built there forms a reference cycle, so reference counting frees it all anyway."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
