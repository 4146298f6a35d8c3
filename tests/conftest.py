"""Shared fixtures: a real emulator server on 127.0.0.1 for any test that needs an API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reconciler.emulator import Emulator, EmulatorConfig


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """`emulator_factory(**config)` starts an emulator with those `EmulatorConfig`
    fields (e.g. users=0, rate_limit_points=5); every one is stopped after the test."""
    started: list[Emulator] = []

    def start(**config: Any) -> Emulator:
        emulator = Emulator(EmulatorConfig(**config)).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """A fresh small generated tenant (25 users, 5 products, seed 1) per test."""
    return emulator_factory(users=25, products=5, seed=1)
