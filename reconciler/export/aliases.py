"""Readable, stable aliases for live products.

An exported file names products by alias everywhere, so the alias must be something a
person recognises in a review ("agileplace-production", not "p-7f3a"). Aliases are
matched by id, so renaming a product later does not break the file.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from reconciler.model import LiveProduct

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# Aliases may be 64 characters long; leave room for a "-NN" suffix.
MAX_SLUG = 60


def slugify(text: str, fallback: str = "product") -> str:
    """`AgilePlace Production` -> `agileplace-production`; accents folded to ASCII."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")
    return slug[:MAX_SLUG].rstrip("-") or fallback


def product_aliases(products: Iterable[LiveProduct]) -> dict[str, str]:
    """product id -> unique alias. Products are taken in (name, id) order so that two
    products with the same name get the same suffixes on every export."""
    aliases: dict[str, str] = {}
    taken: set[str] = set()
    for product in sorted(products, key=lambda p: (slugify(p.name), p.id)):
        base = slugify(product.name, fallback=slugify(product.id))
        alias, n = base, 2
        while alias in taken:
            alias, n = f"{base}-{n}", n + 1
        taken.add(alias)
        aliases[product.id] = alias
    return aliases
