"""Matching the desired state's product aliases to the tenant's live products.

Both the collector (to know whose provisioning to read) and diff need this, and both
must agree, so it lives here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reconciler.errors import PlanError
from reconciler.model import LiveProduct, ProductRef


def resolve_products(
    refs: Mapping[str, ProductRef], live: Iterable[LiveProduct]
) -> dict[str, LiveProduct]:
    """alias -> live product. An alias that matches nothing, or a name that matches
    several products, is an error naming the alias and where it was written."""
    by_id = {p.id: p for p in live}
    by_name: dict[str, list[LiveProduct]] = {}
    for listed in by_id.values():
        by_name.setdefault(listed.name.casefold(), []).append(listed)

    resolved: dict[str, LiveProduct] = {}
    problems: list[str] = []
    for alias, ref in refs.items():
        where = f"{ref.pos}: " if ref.pos else ""
        product: LiveProduct | None
        if ref.id is not None:
            product = by_id.get(ref.id)
            if product is None:
                problems.append(f"{where}product alias '{alias}': no product with id '{ref.id}'")
                continue
        else:
            matches = by_name.get((ref.name or "").casefold(), [])
            if len(matches) != 1:
                what = "no product" if not matches else f"{len(matches)} products"
                problems.append(
                    f"{where}product alias '{alias}': {what} named '{ref.name}' "
                    "(use `id:` to pick one)"
                )
                continue
            product = matches[0]
        resolved[alias] = product
    if problems:
        known = ", ".join(sorted(f"{p.name} ({p.id})" for p in by_id.values())) or "none"
        raise PlanError("\n".join(problems) + f"\nproducts in the tenant: {known}")
    return resolved
