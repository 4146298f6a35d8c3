"""Which endpoint a request hit, and the fewest requests the paging rules allow.

The contract's paging has no total count: a listing stops at an empty page or at a
page shorter than `itemsPerPage`. So reading n records at a page size of m costs
floor(n / m) + 1 = ceil((n + 1) / m) requests: when n is a multiple of m the last
full page cannot tell it is the last, and one empty page must confirm it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

# Per-endpoint page maxima of the contract (default/max: users 50/500, products 50/100,
# provisioning 100/1000, audit 50/200).
PAGE_MAX = {"user": 500, "product": 100, "provisioning": 1000, "audit": 200}
PAGE_DEFAULT = {"user": 50, "product": 50, "provisioning": 100, "audit": 50}

TOKEN = "POST /io/v1/oauth2/token"
LIST_USERS = "GET /public/v1/user"
LIST_PRODUCTS = "GET /public/v1/product"
LIST_PROVISIONING = "GET /public/v1/product/{pid}/user"

# Most specific first. Ids are opaque: anything between slashes.
_TEMPLATES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), template)
    for pattern, template in (
        (r"^/public/v1/product/[^/]+/user/[^/]+$", "/public/v1/product/{pid}/user/{userId}"),
        (r"^/public/v1/product/[^/]+/user$", "/public/v1/product/{pid}/user"),
        (r"^/public/v1/user/[^/]+/(deactivate|reactivate|audit)$", r"/public/v1/user/{id}/\1"),
        (r"^/public/v1/user/[^/]+$", "/public/v1/user/{id}"),
    )
)


def endpoint_of(request: str) -> str:
    """'GET /public/v1/user/u-1?x=y' -> 'GET /public/v1/user/{id}'."""
    method, _, path = request.partition(" ")
    path = path.split("?", 1)[0].rstrip("/") or "/"
    # The emulator may already report templates: leave those alone.
    if "{" not in path:
        for pattern, template in _TEMPLATES:
            if pattern.match(path):
                path = pattern.sub(template, path)
                break
    return f"{method.upper()} {path}"


def pages_needed(records: int, page_size: int) -> int:
    return records // page_size + 1


def minimum_plan_reads(
    users: int,
    provisioned: Mapping[str, int],
    products: int,
    *,
    page_max: Mapping[str, int] = PAGE_MAX,
) -> Counter[str]:
    """Fewest requests a complete read of the tenant can make: one token, every
    listing at its maximum page size. `provisioned`: product id -> provisionings of
    each product the desired state manages."""
    minimum: Counter[str] = Counter()
    minimum[TOKEN] = 1
    minimum[LIST_USERS] = pages_needed(users, page_max["user"])
    minimum[LIST_PRODUCTS] = pages_needed(products, page_max["product"])
    minimum[LIST_PROVISIONING] = sum(
        pages_needed(count, page_max["provisioning"]) for count in provisioned.values()
    )
    return minimum


def listings(provisioned: Iterable[str]) -> Counter[str]:
    """How many separate listings each read endpoint makes (each may spend one
    speculative page under the target)."""
    return Counter({LIST_USERS: 1, LIST_PRODUCTS: 1, LIST_PROVISIONING: len(list(provisioned))})
