"""The one pager every list endpoint goes through.

Published rules: ask with `startIndex` (1-based) and `count`; the server may cap
`count`, and says so in `itemsPerPage`; stop on an empty page or one shorter than
`itemsPerPage`; otherwise continue at `startIndex + itemsPerPage`. Offsets shift when
the tenant changes between two pages, so records are de-duplicated by id. A server
that breaks the rules (pages that never end, a start index that does not advance,
bodies of the wrong shape) gets a clear `TransportError`, never an endless loop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.backends.planview import contract
from reconciler.backends.planview.http import Transport
from reconciler.errors import TransportError

DEFAULT_MAX_PAGES = 10_000


class ListingAborted(TransportError):
    """Another read of the same all-or-nothing batch failed; this one stopped early."""


def iter_records(
    transport: Transport,
    listing: contract.Listing,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    count: int | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    stop: threading.Event | None = None,
) -> Iterator[dict[str, Any]]:
    """Every record of a listing, once each, in the server's order. `stop` set by
    another thread ends the listing before its next page."""
    endpoint = f"GET {listing.template}"
    count = count or listing.max_count
    start = 1
    seen: set[str] = set()
    for _ in range(max_pages):
        if stop is not None and stop.is_set():
            raise ListingAborted(f"{endpoint}: stopped because another read failed.")
        query = {**(params or {}), **contract.page_params(start, count)}
        reply = transport.request("GET", listing.template, path, params=query, idempotent=True)
        try:
            page = contract.parse_page(reply.body)
            ids = [contract.record_id(r, listing.id_key) for r in page.resources]
        except contract.ContractViolation as exc:
            raise TransportError(
                f"{endpoint}: unexpected page at startIndex {start}: {exc}."
            ) from None
        if not page.resources:
            return
        size = page.items_per_page
        if size is None or size <= 0:
            raise TransportError(
                f"{endpoint}: the page at startIndex {start} has {len(page.resources)} "
                f"records but itemsPerPage {size}; cannot tell where the next page starts."
            )
        if len(page.resources) > size:
            raise TransportError(
                f"{endpoint}: the page at startIndex {start} has {len(page.resources)} "
                f"records, more than its itemsPerPage {size}."
            )
        if page.start_index is not None and page.start_index != start:
            raise TransportError(
                f"{endpoint}: asked for startIndex {start}, the server answered "
                f"{page.start_index}; refusing to page on."
            )
        for record_id, record in zip(ids, page.resources, strict=True):
            if record_id not in seen:
                seen.add(record_id)
                yield record
        if len(page.resources) < size:
            return
        start += size
    raise TransportError(
        f"{endpoint}: still full pages after {max_pages} pages; stopping (a listing this "
        "long suggests a misbehaving server)."
    )


def read_all(
    transport: Transport,
    listing: contract.Listing,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    stop: threading.Event | None = None,
) -> list[dict[str, Any]]:
    return list(
        iter_records(transport, listing, path, params=params, max_pages=max_pages, stop=stop)
    )
