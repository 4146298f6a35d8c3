"""`reconciler doctor --backend scim`: what a SCIM service provider announces and how
it pages, read-only.

The ServiceProviderConfig decides how the backend writes (PATCH or PUT, If-Match or
not, how large a page to ask for), so each feature is reported with what the backend
does about it. The paging facts come from one page of /Users and of /Groups asked at
the backend's page size, and, when the provider serves less, a full read with the
backend's own pager to show that the listing still completes.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from reconciler.backends.checks import Check
from reconciler.backends.scim import mapping
from reconciler.backends.scim.paging import iter_resources
from reconciler.backends.scim.transport import ScimTransport, remaining_points
from reconciler.errors import ApiError, TransportError

CONFIG = "/ServiceProviderConfig"
PAGING = "reconciler/backends/scim/paging.py: iter_resources"
_RATE_HEADER = re.compile(r"rate-?limit|retry-after", re.IGNORECASE)


@dataclass
class _RateHeaders:
    answers: int = 0
    with_remaining: int = 0
    names: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, response: httpx.Response) -> None:
        with self.lock:
            self.answers += 1
            self.names.update(n for n in response.headers if _RATE_HEADER.search(n))
            if remaining_points(response.headers) is not None:
                self.with_remaining += 1


def run_checks(
    http: ScimTransport,
    client: httpx.Client,
    provider: mapping.ProviderConfig,
    *,
    max_pages: int,
) -> list[Check]:
    headers = _RateHeaders()
    client.event_hooks["response"].append(headers)
    try:
        checks = _provider_config(http, provider)
        for label, template, params in (
            ("users", "/Users", {"attributes": mapping.USER_ATTRIBUTES}),
            ("groups", "/Groups", {"attributes": "displayName"}),
        ):
            checks += _paging(http, label, template, params, provider.page_size, max_pages)
        checks.append(_rate_headers(headers))
    finally:
        client.event_hooks["response"].remove(headers)
    return checks


def _provider_config(http: ScimTransport, provider: mapping.ProviderConfig) -> list[Check]:
    # Read again, raw: the backend keeps only what it acts on, the report shows more.
    body = http.request("GET", CONFIG, CONFIG, idempotent=True).body
    body = body if isinstance(body, dict) else {}

    def section(name: str) -> dict[str, Any]:
        value = body.get(name)
        return value if isinstance(value, dict) else {}

    def supported(name: str) -> bool:
        return section(name).get("supported") is True

    checks = [
        Check("patch", "ok", "supported: writes use PATCH")
        if provider.patch
        else Check("patch", "note", "not supported: writes use a read-modify-write PUT"),
        Check("etag", "ok", "supported: user writes carry If-Match, so a change made "
              "elsewhere in between is refused, not overwritten")
        if provider.etag
        else Check("etag", "note", "not supported: a change made elsewhere between the "
                   "read and the write is not detected"),
    ]  # fmt: skip
    max_results = section("filter").get("maxResults")
    if provider.filter:
        checks.append(
            Check("filter", "ok", f"supported, maxResults {max_results!r}: a user is found "
                  "by userName without reading the listing")
        )  # fmt: skip
    else:
        checks.append(
            Check("filter", "note", f"not supported (maxResults {max_results!r}): finding "
                  "one user reads the whole listing")
        )  # fmt: skip
    bulk = section("bulk")
    checks.append(
        Check("bulk", "ok", f"supported, maxOperations {bulk.get('maxOperations')!r} (not "
              "used: the tool sends one request per change)")
        if supported("bulk")
        else Check("bulk", "ok", "not supported (not used by the tool)")
    )  # fmt: skip
    checks.append(
        Check("sort", "ok", f"{'supported' if supported('sort') else 'not supported'} "
              "(not used: paging is by startIndex)")
    )  # fmt: skip
    schemes = body.get("authenticationSchemes")
    names = [
        str(s.get("type") or s.get("name"))
        for s in (schemes if isinstance(schemes, list) else [])
        if isinstance(s, dict) and (s.get("type") or s.get("name"))
    ]
    checks.append(
        Check("authentication schemes", "ok", ", ".join(names))
        if names
        else Check("authentication schemes", "note", "none announced")
    )
    return checks


def _paging(
    http: ScimTransport,
    label: str,
    template: str,
    params: dict[str, str],
    asked: int,
    max_pages: int,
) -> list[Check]:
    endpoint = f"GET {template}"
    query = {**params, "startIndex": "1", "count": str(asked)}
    try:
        body = http.request("GET", template, template, params=query, idempotent=True).body
    except (ApiError, TransportError) as exc:
        return [Check(f"{label}: paging envelope", "differs", str(exc))]
    if not isinstance(body, dict):
        return [
            Check(f"{label}: paging envelope", "differs",
                  f"{endpoint}: not a SCIM ListResponse (not a JSON object)", PAGING)
        ]  # fmt: skip
    keys = [k for k in ("totalResults", "startIndex", "itemsPerPage", "Resources") if k in body]
    resources = body.get("Resources")
    records = len(resources) if isinstance(resources, list) else 0
    total = body.get("totalResults")
    envelope = Check(
        f"{label}: paging envelope",
        "ok" if "totalResults" in body else "note",
        f"{endpoint}: {', '.join(keys) or 'no paging keys'}"
        + ("" if "totalResults" in body else " (no totalResults: paging ends on a short page)"),
    )
    per_page = body.get("itemsPerPage")
    got = per_page if isinstance(per_page, int) and not isinstance(per_page, bool) else records
    if not records or got >= asked or (isinstance(total, int) and records >= total):
        fits = "" if got >= asked else f" ({records} records: the whole listing)"
        return [envelope, Check(f"{label}: page size", "ok", f"asked for {asked}, got {got}{fits}")]
    try:
        count = 0
        pages_before = http.stats().by_endpoint.get(endpoint, 0)
        for _ in iter_resources(
            http, template, template, page_size=asked, max_pages=max_pages, params=params
        ):
            count += 1
        pages = http.stats().by_endpoint.get(endpoint, 0) - pages_before
    except TransportError as exc:
        return [
            envelope,
            Check(f"{label}: page size", "differs",
                  f"asked for {asked}, got {got} per page; paging on failed: {exc}", PAGING),
        ]  # fmt: skip
    return [
        envelope,
        Check(f"{label}: page size", "note",
              f"asked for {asked}, got {got} per page; the pager read all {count} in "
              f"{pages} page{'s' if pages != 1 else ''}"),
    ]  # fmt: skip


def _rate_headers(seen: _RateHeaders) -> Check:
    names = ", ".join(sorted(seen.names))
    if seen.with_remaining:
        return Check(
            "rate-limit headers",
            "ok",
            f"a remaining count on {seen.with_remaining} of {seen.answers} answers ({names}): "
            "the client paces by it",
        )
    return Check(
        "rate-limit headers",
        "note",
        f"no remaining count on {seen.answers} answers"
        + (f" ({names})" if names else "")
        + ": the client only reacts to 429 and Retry-After",
    )
