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
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar, cast

from reconciler.backends.planview import contract
from reconciler.backends.planview.http import Transport
from reconciler.errors import TransportError

# Pages one listing may take before the server is taken to be looping. At the contract's
# page maxima 1,000 pages hold 500,000 users, 1,000,000 provisionings of one product or
# 200,000 audit events: ten times a 50,000-user tenant, yet an endless listing at a
# second a page still ends within minutes, not hours.
DEFAULT_MAX_PAGES = 1_000
MAX_PAGES_OPTION = "--max-pages"
T = TypeVar("T")


class ListingAborted(TransportError):
    """Another read of the same all-or-nothing batch failed; this one stopped early."""


def checked_page_size(endpoint: str, start: int, page: contract.Page, count: int) -> int:
    """The page size a non-empty page announces, once the page is shown to be one the
    pager can trust to say where the next page starts; `TransportError` otherwise."""
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
    return size


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
        size = checked_page_size(endpoint, start, page, count)
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


# --------------------------------------------------------------------------- concurrent


class PageReader:
    """Reads several listings at once through one pool of `concurrency` threads, all
    sharing the transport's rate budget.

    Each listing is read in the order `iter_records` reads it, with the same checks,
    one page after another. With `read_ahead`, once a listing's first page comes back
    full (so its page size is known), later pages are asked for before the earlier
    ones are answered: the window of pages in flight for one listing starts at one and
    doubles after each full page, up to `concurrency`, and only while the budget has
    room (`room(n)`: may n more requests go without touching the reserve). The API
    gives no total count, so the pages asked for past a listing's end are wasted:
    at most `concurrency - 1` per listing, counted in `wasted`. Without `read_ahead`
    every listing costs exactly its paging minimum.

    The first failure of any page fails the whole batch: `stop` is set, queued pages
    are never sent, and every listing's future raises.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        concurrency: int,
        read_ahead: bool = True,
        max_pages: int = DEFAULT_MAX_PAGES,
        room: Callable[[int], bool] | None = None,
    ) -> None:
        self._transport = transport
        self._pool = ThreadPoolExecutor(max(1, concurrency), "planview-read")
        self._cap = max(1, concurrency) if read_ahead else 1
        self._max_pages = max_pages
        self._room = room
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._queued = 0  # pages asked for and not yet answered, over all listings
        self.wasted = 0

    def __enter__(self) -> PageReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Send nothing more and wait for the requests already under way."""
        self.stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def listing(
        self,
        listing: contract.Listing,
        path: str,
        convert: Callable[[dict[str, Any]], T],
        *,
        params: Mapping[str, str] | None = None,
    ) -> Future[list[T]]:
        """Start reading a listing; the future holds its records, each `convert`ed."""
        reading = _Listing(self, listing, path, convert, params)
        reading.begin()
        return reading.result

    def ids(
        self, listing: contract.Listing, path: str, *, params: Mapping[str, str] | None = None
    ) -> Future[list[str]]:
        """Start reading a listing whose records matter only by id (provisioning): the
        ids the page checks already read are the result, with no second pass."""
        reading: _Listing[str] = _Listing(self, listing, path, None, params)
        reading.begin()
        return reading.result

    def fail_all(self) -> None:
        self.stop.set()

    # used by _Listing
    def _submit(self, fetch: Callable[[], T]) -> Future[T]:
        with self._lock:
            self._queued += 1
        future = self._pool.submit(fetch)
        future.add_done_callback(self._settled)
        return future

    def _settled(self, _: Future[Any]) -> None:
        with self._lock:
            self._queued -= 1

    def _may_read_ahead(self) -> bool:
        if self._room is None:
            return True
        with self._lock:
            queued = self._queued
        # pages queued but not yet sent will spend points too
        return self._room(queued + 1)

    def _count_wasted(self) -> None:
        with self._lock:
            self.wasted += 1


@dataclass(slots=True)
class _Fetched:
    start: int
    page: contract.Page
    ids: list[str]


class _Listing(Generic[T]):
    """One listing's pages: which are asked for, which are answered, what is read."""

    def __init__(
        self,
        reader: PageReader,
        listing: contract.Listing,
        path: str,
        convert: Callable[[dict[str, Any]], T] | None,  # None: the records' ids (T is str)
        params: Mapping[str, str] | None,
    ) -> None:
        self.reader = reader
        self.listing = listing
        self.path = path
        self.convert = convert
        self.params = dict(params or {})
        self.endpoint = f"GET {listing.template}"
        self.count = listing.max_count
        self.result: Future[list[T]] = Future()
        self.lock = threading.RLock()  # cancelling a future runs its callback at once
        self.size: int | None = None  # page size the server answered, once known
        self.cursor = 1  # start index of the next page to take in order
        self.next_start = 1  # start index of the next page to ask for
        self.pages_taken = 0
        self.asked: dict[int, Future[_Fetched]] = {}
        self.window = 1
        self.ahead = reader._cap > 1
        self.answered: set[Future[_Fetched]] = set()  # asked, and its callback has run
        self.seen: set[str] = set()
        self.records: list[T] = []
        self.finished = False

    def begin(self) -> None:
        with self.lock:
            self._top_up()

    # -- worker side

    def _fetch(self, start: int) -> _Fetched:
        if self.reader.stop.is_set():
            raise ListingAborted(f"{self.endpoint}: stopped because another read failed.")
        query = {**self.params, **contract.page_params(start, self.count)}
        reply = self.reader._transport.request(
            "GET", self.listing.template, self.path, params=query, idempotent=True
        )
        try:
            page = contract.parse_page(reply.body)
            ids = [contract.record_id(r, self.listing.id_key) for r in page.resources]
        except contract.ContractViolation as exc:
            raise TransportError(
                f"{self.endpoint}: unexpected page at startIndex {start}: {exc}."
            ) from None
        return _Fetched(start, page, ids)

    def _answered(self, future: Future[_Fetched]) -> None:
        with self.lock:
            if self.finished or all(f is not future for f in self.asked.values()):
                # asked for past the end (or before a page-size surprise): never used
                if not future.cancelled() and _was_sent(future):
                    self.reader._count_wasted()
                return
            self.answered.add(future)
            try:
                while not self.finished:
                    head = self.asked.get(self.cursor)
                    if head is None or head not in self.answered:
                        break
                    del self.asked[self.cursor]
                    self.answered.discard(head)
                    self._take(head.result())
                if not self.finished:
                    self._top_up()
            except BaseException as exc:  # whatever it is, the waiting caller gets it
                self._finish(error=exc)

    # -- in order, under the lock

    def _take(self, fetched: _Fetched) -> None:
        start, page, endpoint = fetched.start, fetched.page, self.endpoint
        self.pages_taken += 1
        if not page.resources:
            self._finish()
            return
        size = checked_page_size(endpoint, start, page, self.count)
        ids, seen = fetched.ids, self.seen
        unique = set(ids)
        if len(unique) == len(ids) and seen.isdisjoint(unique):
            # The usual page, all of it new: taken in one pass at C speed rather than
            # record by record (a 50,000-user tenant is 100,000 records and more).
            seen |= unique
            fresh = len(ids)
            convert = self.convert
            self.records.extend(
                cast("list[T]", ids) if convert is None else map(convert, page.resources)
            )
        else:
            fresh = 0
            for record_id, record in zip(ids, page.resources, strict=True):
                if record_id not in seen:
                    seen.add(record_id)
                    fresh += 1
                    self.records.append(
                        cast(T, record_id) if self.convert is None else self.convert(record)
                    )
        if len(page.resources) < size:
            self._finish()
            return
        if not fresh:
            raise TransportError(
                f"{endpoint}: the full page at startIndex {start} repeats only records "
                "already read; the server does not seem to advance, refusing to page on."
            )
        if self.pages_taken >= self.reader._max_pages:
            raise TransportError(
                f"{endpoint}: still full pages after {self.reader._max_pages} pages; stopping "
                f"(a listing this long suggests a misbehaving server; raise "
                f"{MAX_PAGES_OPTION} if the tenant really is this large)."
            )
        self.cursor = start + size
        if self.size is not None and size != self.size:
            # Pages asked for ahead assumed the old size and start at the wrong places:
            # drop them, and read the rest of this listing one page at a time.
            self._drop_asked()
            self.ahead = False
        self.size = size
        if not self.asked:
            self.next_start = self.cursor
        self.window = min(self.window * 2, self.reader._cap) if self.ahead else 1

    def _top_up(self) -> None:
        while not self.finished and (len(self.asked) < self.window or not self.asked):
            pages_ahead = len(self.asked)
            if pages_ahead and self.size is None:
                break  # the page size is not known before the first answer
            if self.pages_taken + pages_ahead >= self.reader._max_pages:
                break
            if pages_ahead and not self.reader._may_read_ahead():
                break  # speculation only while the budget has room to spare
            start = self.next_start
            future = self.reader._submit(partial(self._fetch, start))
            self.asked[start] = future
            self.next_start = start + (self.size or self.count)
            future.add_done_callback(self._answered)

    def _drop_asked(self) -> None:
        pending = list(self.asked.values())
        self.asked.clear()
        for future in pending:
            if future in self.answered:
                if _was_sent(future):
                    self.reader._count_wasted()
            else:
                # a queued page is never sent; one under way is counted by its callback
                future.cancel()
        self.answered.clear()

    def _finish(self, error: BaseException | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        self._drop_asked()
        if self.result.cancelled():  # the caller gave up on this listing
            return
        if error is None:
            self.result.set_result(self.records)
            return
        # The failure is handed over before the others are stopped, so the caller
        # sees the cause rather than another listing's "stopped" error.
        self.result.set_exception(error)
        self.reader.fail_all()


def _was_sent(future: Future[Any]) -> bool:
    if future.cancelled():  # cancelled while queued: never reached the server
        return False
    error = future.exception()
    return error is None or not isinstance(error, ListingAborted)
