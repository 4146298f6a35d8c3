"""`collect_live`: the live tenant as far as the desired state manages it.

Aliases are resolved (with the same `resolve_products` diff uses) as soon as the
product listing is read, so only managed products' provisioning is read, and a typo
in a product name fails the run with no plan. Everything is read or nothing: a
failed read raises.

`start_collect` begins the reads before the desired state is known, so the files
load while the tenant answers: users and products are read at once, and each managed
product's provisioning as soon as the files say which products are managed. If the
files turn out to be invalid the reads are abandoned; they are reads only, and
nothing of them is shown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Sequence

from reconciler.backends.base import Backend
from reconciler.errors import ReconcilerError
from reconciler.model import DesiredState, LiveProduct, LiveState
from reconciler.resolve import resolve_products

log = logging.getLogger(__name__)


class ReadsAbandoned(ReconcilerError):
    """The desired state could not be loaded; the reads started for it stop."""


def collect_live(backend: Backend, desired: DesiredState) -> LiveState:
    # users, products and provisioning at once: the products pick the provisioning
    return backend.read_live(select=lambda products: _managed(desired, products))


def start_collect(backend: Backend) -> PendingLive:
    """Start reading the live state now; `finish(desired)` returns it."""
    return PendingLive(backend)


class PendingLive:
    """Reads of the live state, under way while the desired state loads."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._desired: DesiredState | None = None
        self._given = threading.Event()  # set once the desired state is known, or never will be
        self._live: LiveState | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, name="collect-live", daemon=True)
        self._thread.start()

    def finish(self, desired: DesiredState) -> LiveState:
        """The live state `desired` concerns; raises what the reads raised."""
        self._desired = desired
        self._given.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._live is not None
        return self._live

    def abandon(self) -> None:
        """Stop the reads (the desired state will never come) and wait for the ones
        under way, so nothing of theirs happens after this returns."""
        self._given.set()
        self._thread.join()

    def _read(self) -> None:
        try:
            self._live = self._backend.read_live(select=self._select)
        except BaseException as exc:  # handed to finish(); a thread must not raise
            self._error = exc

    def _select(self, products: Sequence[LiveProduct]) -> Collection[str]:
        self._given.wait()
        if self._desired is None:
            raise ReadsAbandoned("the desired state could not be loaded; reads stopped.")
        return _managed(self._desired, products)


def _managed(desired: DesiredState, products: Sequence[LiveProduct]) -> list[str]:
    resolved = resolve_products(desired.products, list(products))
    managed = sorted({product.id for product in resolved.values()})
    log.info(
        "reading users and the provisioning of %d managed product(s) of %d",
        len(managed),
        len(products),
    )
    return managed

