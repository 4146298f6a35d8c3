"""The one pager every list endpoint goes through.

Published rules: ask with `startIndex` (1-based) and `count`; the server may cap
`count`, and says so in `itemsPerPage`; stop on an empty page or one shorter than
`itemsPerPage`; otherwise continue at `startIndex + itemsPerPage`. Offsets shift when
the tenant changes between two pages, so records are de-duplicated by id. A server
that breaks the rules (pages that never end, a start index that does not advance,
bodies of the wrong shape, pages larger than asked for, full pages that bring nothing
new) gets a clear `TransportError`, never an endless loop.

Known limit: a record deleted before the current offset shifts the later ones back, so
one record can be skipped. The published rules give no way to see it (no total count,
and a listing that counts the deleted record it already read comes out the same
length); overlapping pages would break the `startIndex + itemsPerPage` rule, and the
audit log is a [modelled] endpoint a client may not be allowed to read. The miss is
on the safe side: a skipped user is planned as a create, which the freshness check or
the 409 read-back catches; an unmanaged one is left alone until the next run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.backends.planview import contract
from reconciler.backends.planview.http import Transport
from reconciler.errors import TransportError

# Pages one listing may take before the server is taken to be looping. At the contract's
# page maxima 1,000 pages hold 500,000 users, 1,000,000 provisionings of one product or
# 200,000 audit events: ten times a 50,000-user tenant, yet an endless listing at a
# second a page still ends within minutes, not hours.
DEFAULT_MAX_PAGES = 1_000
MAX_PAGES_OPTION = "--max-pages"


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
        if size > count:
            # The contract caps `count`, it never exceeds it: a server that does can hand
            # over an unbounded page, and cannot be trusted to page consistently either.
            raise TransportError(
                f"{endpoint}: asked for at most {count} records, the page at startIndex "
                f"{start} has itemsPerPage {size} ({len(page.resources)} records); refusing "
                "a page larger than requested."
            )
        if page.start_index is not None and page.start_index != start:
            raise TransportError(
                f"{endpoint}: asked for startIndex {start}, the server answered "
                f"{page.start_index}; refusing to page on."
            )
        fresh = 0
        for record_id, record in zip(ids, page.resources, strict=True):
            if record_id not in seen:
                seen.add(record_id)
                fresh += 1
                yield record
        if len(page.resources) < size:
            return
        if not fresh:
            # A shift of a whole page between two reads would need as many records created
            # meanwhile; a server that repeats itself is far likelier, and would loop.
            raise TransportError(
                f"{endpoint}: the full page at startIndex {start} repeats only records "
                "already read; the server does not seem to advance, refusing to page on."
            )
        start += size
    raise TransportError(
        f"{endpoint}: still full pages after {max_pages} pages; stopping (a listing this "
        f"long suggests a misbehaving server; raise {MAX_PAGES_OPTION} if the tenant really "
        "is this large)."
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
