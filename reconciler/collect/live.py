"""`collect_live`: the live tenant as far as the desired state manages it.

Aliases are resolved first (with the same `resolve_products` diff uses), so a typo in
a product name fails before any listing is read, and only managed products'
provisioning is read. Everything is read or nothing: a failed read raises.
"""

from __future__ import annotations

import inspect
import logging

from reconciler.backends.base import Backend
from reconciler.model import DesiredState, LiveState
from reconciler.resolve import resolve_products

log = logging.getLogger(__name__)


def collect_live(backend: Backend, desired: DesiredState) -> LiveState:
    products = backend.list_products()
    resolved = resolve_products(desired.products, products)
    managed = sorted({product.id for product in resolved.values()})
    log.info(
        "reading users and the provisioning of %d managed product(s) of %d",
        len(managed),
        len(products),
    )
    if "products" in inspect.signature(backend.read_live).parameters:
        # the listing was just read: do not spend a request reading it again
        return backend.read_live(managed, products=products)  # type: ignore[call-arg]
    return backend.read_live(managed)
