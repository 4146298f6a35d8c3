"""Index paging of a SCIM listing (RFC 7644 §3.4.2.4), at the minimum number of pages.

Ask with `startIndex` (1-based) and `count`; continue at `startIndex + len(Resources)`.
With `totalResults` the listing ends as soon as that many records have been read (no
extra empty page); without it, at the first page shorter than asked. Answers that
would make a listing silently incomplete or endless are refused with a
`TransportError`: a missing `Resources` while `totalResults` says there is more, an
empty page or `itemsPerPage` 0 before the total is reached, a page larger than asked
for, a start index other than asked, a full page of records already read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.backends.scim.mapping import Malformed, resource_id
from reconciler.backends.scim.transport import ScimTransport
from reconciler.errors import TransportError


class ListingAborted(TransportError):
    """Another read of the same all-or-nothing batch failed; this one stopped early."""


def iter_resources(
    transport: ScimTransport,
    template: str,
    path: str,
    *,
    page_size: int,
    max_pages: int,
    params: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
) -> Iterator[dict[str, Any]]:
    endpoint = f"GET {template}"
    start = 1
    seen: set[str] = set()
    for _ in range(max_pages):
        if stop is not None and stop.is_set():
            raise ListingAborted(f"{endpoint}: stopped because another read failed.")
        query = {**(params or {}), "startIndex": str(start), "count": str(page_size)}
        body = transport.request("GET", template, path, params=query, idempotent=True).body
        where = f"{endpoint}: the page at startIndex {start}"
        total, resources, per_page = _page(body, where)
        if resources is None:
            if total:
                raise TransportError(
                    f"{where} has no 'Resources' although totalResults is {total}; refusing "
                    "an incomplete listing."
                )
            return
        if len(resources) > page_size or (per_page is not None and per_page > page_size):
            raise TransportError(
                f"{where} holds {len(resources)} records (itemsPerPage {per_page}), more than "
                f"the {page_size} asked for; refusing a page larger than requested."
            )
        if per_page is not None and len(resources) > per_page:
            raise TransportError(
                f"{where} holds {len(resources)} records but says itemsPerPage {per_page}."
            )
        echoed = body.get("startIndex")
        if isinstance(echoed, int) and not isinstance(echoed, bool) and echoed != start:
            raise TransportError(f"{where} came back as startIndex {echoed}; refusing to page on.")
        read_so_far = start - 1 + len(resources)
        if total is not None and read_so_far < total and (not resources or per_page == 0):
            raise TransportError(
                f"{where} is empty (itemsPerPage {per_page}) although totalResults is "
                f"{total}; cannot tell where the rest is, refusing an incomplete listing."
            )
        fresh = 0
        for resource in resources:
            try:
                key = resource_id(resource)
            except Malformed as exc:
                raise TransportError(f"{where}: {exc}.") from None
            if key not in seen:
                seen.add(key)
                fresh += 1
                yield resource
        if total is not None:
            if read_so_far >= total:
                return
        elif len(resources) < page_size:
            return
        if not fresh:
            raise TransportError(
                f"{where} repeats only records already read; the server does not seem to "
                "advance, refusing to page on."
            )
        start += len(resources)
    raise TransportError(
        f"{endpoint}: still more to read after {max_pages} pages; stopping (raise "
        "--max-pages if the directory really is this large)."
    )


def _page(body: Any, where: str) -> tuple[int | None, list[dict[str, Any]] | None, int | None]:
    if not isinstance(body, dict):
        raise TransportError(f"{where} is not a SCIM ListResponse (not a JSON object).")
    total = _count(body, "totalResults", where)
    per_page = _count(body, "itemsPerPage", where)
    resources = body.get("Resources")
    if resources is not None and (
        not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources)
    ):
        raise TransportError(f"{where}: 'Resources' is not a list of objects.")
    return total, resources, per_page


def _count(body: Mapping[str, Any], key: str, where: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TransportError(f"{where}: '{key}' is {value!r}, not a count.")
    return value
