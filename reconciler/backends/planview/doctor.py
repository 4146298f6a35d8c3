"""`reconciler doctor` for Planview Admin: read-only checks of a tenant against the
[modelled] contract.

Every request goes through the backend's own token manager, transport and pager (so
the budget, retries and redirect refusal apply as in any run), and every request is
a GET, apart from the token request. Each check that fails names the place in
`contract.py` that would need to change to match the tenant. Nothing here prints or
returns a token: the token check reports only its shape and lifetime.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from reconciler.backends.checks import Check
from reconciler.backends.planview import contract
from reconciler.backends.planview.auth import TokenManager, jwt_expiry
from reconciler.backends.planview.http import Transport
from reconciler.backends.planview.paging import read_all
from reconciler.errors import ApiError, ConfigError, TransportError

CONTRACT = "reconciler/backends/planview/contract.py"
# Rate-limit headers by any of the names services use (X-RateLimit-*, RateLimit-*,
# X-Rate-Limit-*), and Retry-After.
_RATE_HEADER = re.compile(r"rate-?limit|retry-after", re.IGNORECASE)
# How far back the customer audit listing is read: enough to see some events, little
# enough to stay one page on most tenants.
AUDIT_DAYS = 7
_MODELLED_PRODUCT_FIELDS = ("id", "name", "type", "environment", "seats")


def at(name: str) -> str:
    return f"{CONTRACT}: {name}"


@dataclass
class _RateHeaders:
    """What the API's answers carried, seen through an httpx response hook."""

    answers: int = 0
    with_remaining: int = 0
    lowest_remaining: int | None = None
    names: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, response: httpx.Response) -> None:
        if response.request.url.path.endswith(contract.TOKEN_PATH):
            return  # the token endpoint costs no point: its headers say nothing
        with self.lock:
            self.answers += 1
            self.names.update(n for n in response.headers if _RATE_HEADER.search(n))
            value = response.headers.get(contract.RATE_REMAINING_HEADER)
            if value is not None:
                self.with_remaining += 1
                if value.strip().isdigit():
                    remaining = int(value.strip())
                    if self.lowest_remaining is None or remaining < self.lowest_remaining:
                        self.lowest_remaining = remaining


@dataclass(frozen=True, slots=True)
class _Listing:
    label: str
    listing: contract.Listing
    listing_name: str  # the Listing constant in contract.py
    path_name: str  # the path constant in contract.py
    parse: Callable[[Any], Any]
    parse_name: str
    optional: bool = False  # a 403 is a note (drift attribution only), not a failure


def run_checks(
    http: Transport, auth: TokenManager, client: httpx.Client, *, max_pages: int
) -> list[Check]:
    """Every check, in the order a reader wants them; a failed token stops the rest."""
    token = _token(auth)
    if token.status == "differs":
        return [token, Check("other checks", "note", "not run: every API call needs a token")]
    headers = _RateHeaders()
    client.event_hooks["response"].append(headers)
    try:
        checks = [token]
        users = _listing(
            checks, http, max_pages,
            _Listing("users", contract.LIST_USERS, "LIST_USERS", "USERS",
                     contract.user_from_json, "user_from_json"),
            contract.USERS,
        )  # fmt: skip
        products = _listing(
            checks, http, max_pages,
            _Listing("products", contract.LIST_PRODUCTS, "LIST_PRODUCTS", "PRODUCTS",
                     contract.product_from_json, "product_from_json"),
            contract.PRODUCTS,
        )  # fmt: skip
        if products:
            checks.append(_product_fields(products))
            first = contract.record_id(products[0], "id")
            _listing(
                checks, http, max_pages,
                _Listing("product users", contract.LIST_PRODUCT_USERS, "LIST_PRODUCT_USERS",
                         "PRODUCT_USERS", contract.provisioned_user_id, "provisioned_user_id"),
                contract.path(contract.PRODUCT_USERS, pid=first),
            )  # fmt: skip
        elif products is not None:
            checks.append(Check("product fields", "note", "the tenant lists no products"))
        since = datetime.now(timezone.utc) - timedelta(days=AUDIT_DAYS)
        events = _listing(
            checks, http, max_pages,
            _Listing("audit", contract.LIST_AUDIT, "LIST_AUDIT", "AUDIT",
                     contract.audit_from_json, "audit_from_json", optional=True),
            contract.AUDIT,
            contract.audit_since(since.strftime("%Y-%m-%dT%H:%M:%SZ")),
        )  # fmt: skip
        if users:
            user_events = _listing(
                checks, http, max_pages,
                _Listing("user audit", contract.LIST_USER_AUDIT, "LIST_USER_AUDIT",
                         "USER_AUDIT", contract.audit_from_json, "audit_from_json",
                         optional=True),
                contract.path(contract.USER_AUDIT, id=contract.record_id(users[0], "id")),
            )  # fmt: skip
            events = (events or []) + (user_events or [])
        if events is not None:
            checks.append(_audit_shape(events))
        checks.append(_not_found(http))
        checks.append(_rate_headers(headers))
    finally:
        client.event_hooks["response"].remove(headers)
    return checks


# --------------------------------------------------------------------------- token


def _token(auth: TokenManager) -> Check:
    name = "token"
    try:
        token = auth.token()
    except ConfigError as exc:
        return Check(name, "differs", str(exc))
    except TransportError as exc:
        text = str(exc)
        if "id_token" in text:
            # not a JWT, an unreadable payload, no exp, or no id_token at all
            fix = at("token_from_json") + " (and auth.py: jwt_expiry, which reads exp)"
        elif "answered HTTP" in text:
            fix = at("TOKEN_PATH")
        else:
            fix = None  # unreachable, TLS, redirect: the connection, not the contract
        return Check(name, "differs", text, fix)
    lifetime = jwt_expiry(token) - time.time()
    valid = f"valid for {_duration(lifetime)}" if lifetime > 0 else "already expired by our clock"
    return Check(
        name,
        "ok",
        f"POST {contract.TOKEN_PATH} gave an id_token that is a JWT with exp ({valid})",
    )


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} seconds"


# --------------------------------------------------------------------------- listings


def _listing(
    checks: list[Check],
    http: Transport,
    max_pages: int,
    spec: _Listing,
    path: str,
    params: Mapping[str, str] | None = None,
) -> list[dict[str, Any]] | None:
    """Check one listing's envelope, page size and records; return the first page's
    records, or None when the listing could not be read."""
    asked = spec.listing.max_count
    endpoint = f"GET {spec.listing.template}"
    query = {**(params or {}), **contract.page_params(1, asked)}
    try:
        reply = http.request("GET", spec.listing.template, path, params=query, idempotent=True)
    except ApiError as exc:
        checks.append(_refused(spec, endpoint, exc))
        return None
    except TransportError as exc:
        checks.append(Check(f"{spec.label}: paging envelope", "differs", str(exc)))
        return None

    body = reply.body
    envelope = f"{spec.label}: paging envelope"
    keys = sorted(body) if isinstance(body, dict) else []
    try:
        page = contract.parse_page(body)
    except contract.ContractViolation as exc:
        seen = f"keys {', '.join(keys)}" if keys else "not a JSON object"
        checks.append(
            Check(envelope, "differs", f"{endpoint}: {exc} (the answer has {seen})",
                  at("parse_page"))
        )  # fmt: skip
        return None
    if page.resources and page.items_per_page is None:
        checks.append(
            Check(envelope, "differs",
                  f"{endpoint}: no itemsPerPage, so the client cannot tell where the next "
                  f"page starts (the answer has keys {', '.join(keys)})", at("parse_page"))
        )  # fmt: skip
        return None
    if page.start_index is None:
        checks.append(
            Check(envelope, "note",
                  f"{endpoint}: itemsPerPage and Resources, no startIndex (the client does "
                  "not need it)")
        )  # fmt: skip
    else:
        checks.append(Check(envelope, "ok", f"{endpoint}: startIndex, itemsPerPage, Resources"))

    try:
        for record in page.resources:
            contract.record_id(record, spec.listing.id_key)
            spec.parse(record)
    except contract.ContractViolation as exc:
        checks.append(
            Check(f"{spec.label}: records", "differs", f"{endpoint}: {exc}",
                  at(f"{spec.parse_name} (and {spec.listing_name}.id_key)"))
        )  # fmt: skip
        return None
    checks.append(_page_size(http, spec, path, params, page, max_pages))
    return page.resources


def _refused(spec: _Listing, endpoint: str, exc: ApiError) -> Check:
    name = f"{spec.label}: paging envelope"
    if exc.status == 404:
        return Check(name, "differs", f"{endpoint}: HTTP 404 (no such path)", at(spec.path_name))
    if exc.status == 403 and spec.optional:
        return Check(
            name,
            "note",
            f"{endpoint}: HTTP 403, the API client may not read it; drift cannot say who "
            "made a change",
        )
    return Check(name, "differs", str(exc))


def _page_size(
    http: Transport,
    spec: _Listing,
    path: str,
    params: Mapping[str, str] | None,
    page: contract.Page,
    max_pages: int,
) -> Check:
    name = f"{spec.label}: page size"
    asked = spec.listing.max_count
    got = page.items_per_page
    if got is None:
        return Check(name, "ok", f"asked for {asked}, got an empty listing (nothing to measure)")
    if got > asked:
        return Check(
            name,
            "differs",
            f"asked for {asked}, got itemsPerPage {got}: the client refuses pages larger "
            "than it asked for",
            at(f"{spec.listing_name} (max_count)"),
        )
    if got == asked:
        return Check(name, "ok", f"asked for {asked}, got {got} per page")
    # Smaller pages: read the whole listing with the real pager to show it copes.
    before = http.stats().by_endpoint.get(f"GET {spec.listing.template}", 0)
    try:
        records = read_all(http, spec.listing, path, params=params, max_pages=max_pages)
    except TransportError as exc:
        return Check(
            name, "differs", f"asked for {asked}, got {got} per page; paging on failed: {exc}",
            at(spec.listing_name),
        )  # fmt: skip
    pages = http.stats().by_endpoint.get(f"GET {spec.listing.template}", 0) - before
    return Check(
        name,
        "note",
        f"asked for {asked}, got {got} per page; the client follows itemsPerPage "
        f"and read all {len(records)} in {pages} page{'s' if pages != 1 else ''}",
    )


# --------------------------------------------------------------------------- shapes


def _product_fields(products: list[dict[str, Any]]) -> Check:
    seen = sorted({key for record in products for key in record})
    missing = [f for f in _MODELLED_PRODUCT_FIELDS if f not in seen]
    extra = [f for f in seen if f not in _MODELLED_PRODUCT_FIELDS]
    text = f"{len(products)} products with fields {', '.join(seen)}"
    if extra:
        text += f" (not modelled, ignored: {', '.join(extra)})"
    if missing:
        return Check("product fields", "note", f"{text}; missing: {', '.join(missing)} (optional)")
    return Check("product fields", "ok", text)


def _audit_shape(events: list[dict[str, Any]]) -> Check:
    name = "audit event shape"
    if not events:
        return Check(name, "note", f"no audit events in the last {AUDIT_DAYS} days to check")
    without_actor = [e for e in events if not isinstance(e.get("actor"), dict)]
    without_type = [
        e for e in events if isinstance(e.get("actor"), dict) and "type" not in e["actor"]
    ]
    actions = sorted({e["action"] for e in events if isinstance(e.get("action"), str)})
    actor_keys = sorted({k for e in events if isinstance(e.get("actor"), dict) for k in e["actor"]})
    if without_actor or without_type:
        return Check(
            name,
            "differs",
            f"{len(without_actor) + len(without_type)} of {len(events)} events have no actor "
            "or no actor.type: drift would credit changes to an unknown person",
            at("audit_from_json"),
        )
    return Check(
        name,
        "ok",
        f"{len(events)} events: actor {{{', '.join(actor_keys)}}}, action ({', '.join(actions)})",
    )


def _not_found(http: Transport) -> Check:
    name = "error body (404)"
    # An id no tenant issues: the read is harmless whatever the tenant holds.
    user_id = f"reconciler-doctor-{secrets.token_hex(8)}"
    endpoint = f"GET {contract.USER}"
    try:
        http.request(
            "GET", contract.USER, contract.path(contract.USER, id=user_id), idempotent=True
        )
    except ApiError as exc:
        if exc.status != 404:
            return Check(
                name,
                "differs",
                f"{endpoint} for an id that cannot exist: HTTP {exc.status}, not 404 (the "
                "saved-plan check takes only 404 as 'gone')",
                at("USER"),
            )
        if not exc.code:
            return Check(
                name,
                "differs",
                f"{endpoint} for an id that cannot exist: HTTP 404 without an error code: "
                "conflicts (409 UserExists, AlreadyProvisioned) would not be recognised",
                at("error_from_json"),
            )
        detail = f", detail {_short(exc.detail)!r}" if exc.detail else ""
        return Check(name, "ok", f"{endpoint}: HTTP 404, code {exc.code!r}{detail}")
    return Check(
        name,
        "differs",
        f"{endpoint} answered 200 for an id that cannot exist",
        at("USER"),
    )


def _short(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rate_headers(seen: _RateHeaders) -> Check:
    name = "rate-limit headers"
    header = contract.RATE_REMAINING_HEADER
    others = sorted(n for n in seen.names if n.lower() != header.lower())
    also = f"; also {', '.join(others)}" if others else ""
    if seen.answers and seen.with_remaining == seen.answers:
        lowest = f" (lowest {seen.lowest_remaining})" if seen.lowest_remaining is not None else ""
        return Check(name, "ok", f"{header} on all {seen.answers} answers{lowest}{also}")
    if seen.with_remaining:
        return Check(
            name,
            "note",
            f"{header} on {seen.with_remaining} of {seen.answers} answers{also}; the client "
            "paces by it where present",
        )
    # The client still works without it: it slows down only on a 429.
    return Check(
        name,
        "note",
        f"no {header} on {seen.answers} answers{also or '; no other rate-limit header'}: the "
        "client can only react to 429s",
        at("RATE_REMAINING_HEADER") if others else None,
    )
