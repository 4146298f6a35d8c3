"""`PlanviewBackend`: the `Backend` protocol over the Planview Admin API."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import httpx

from reconciler.backends.base import NewUser, RequestStats
from reconciler.backends.capabilities import Capabilities
from reconciler.backends.checks import Check
from reconciler.backends.planview import contract
from reconciler.backends.planview.auth import TokenManager
from reconciler.backends.planview.budget import RateBudget
from reconciler.backends.planview.http import Transport
from reconciler.backends.planview.paging import (
    DEFAULT_MAX_PAGES,
    ListingAborted,
    PageReader,
    iter_records,
    read_all,
)
from reconciler.backends.planview.retry import Backoff, RetryPolicy
from reconciler.backends.planview.wire import answer_limit_seconds
from reconciler.backends.tls import api_client, checked_url
from reconciler.errors import ApiError, ConfigError, TransportError, WriteOutcomeUnknown
from reconciler.model import AuditEvent, LiveProduct, LiveState, LiveUser, email_key
from reconciler.redact import register_secret, safe_url

log = logging.getLogger(__name__)
T = TypeVar("T")


DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 5


@dataclass(frozen=True, slots=True)
class ClientSettings:
    url: str
    client_id: str
    client_secret: str
    ca_bundle: str | None = None
    rate_reserve: int = 10
    max_rps: float | None = None
    concurrency: int = 4
    max_wait: float = 300.0  # longest single wait for the rate limit (Retry-After)
    max_throttled: int = 10  # consecutive 429s for one request before giving up
    retries: int = DEFAULT_RETRIES  # retries of a read after 5xx / lost connection
    backoff_base: float = 0.25
    timeout: float = DEFAULT_TIMEOUT  # seconds of silence before one attempt of a request fails
    max_pages: int = DEFAULT_MAX_PAGES
    read_ahead: bool = True  # ask for pages before the previous one is answered

    def __repr__(self) -> str:  # the secret must not show up in a traceback or log
        return f"ClientSettings(url={safe_url(self.url)!r}, client_id={self.client_id!r}, ...)"

    def validate(self) -> httpx.URL:
        """Raise `ConfigError` for unusable settings; return the parsed base URL."""
        problems = []
        if not self.url:
            problems.append("the API URL is missing (--url or PLANVIEW_ADMIN_URL)")
        if not self.client_id:
            problems.append("the client id is missing (--client-id or PLANVIEW_ADMIN_CLIENT_ID)")
        if not self.client_secret:
            problems.append(
                "the client secret is missing (PLANVIEW_ADMIN_CLIENT_SECRET or "
                "--client-secret-file)"
            )
        if problems:
            raise ConfigError("Cannot connect: " + "; ".join(problems) + ".")
        url = checked_url(self.url, "--url", sign_in="--client-id and the client secret")
        if self.rate_reserve < 0:
            raise ConfigError("--rate-reserve must be 0 or more.")
        if self.concurrency < 1:
            raise ConfigError("--concurrency must be at least 1.")
        if self.max_rps is not None and self.max_rps <= 0:
            raise ConfigError("--max-rps must be more than 0.")
        if self.max_wait <= 0:
            raise ConfigError("--max-wait must be more than 0.")
        if not self.timeout > 0:
            raise ConfigError("--timeout must be more than 0.")
        if self.max_pages < 1:
            raise ConfigError("--max-pages must be at least 1.")
        return url


class PlanviewBackend:
    """Thread-safe; one per command run. Use as a context manager or call `close()`."""

    capabilities: Capabilities = contract.CAPABILITIES

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        base = settings.validate()
        register_secret(settings.client_secret)
        self.settings = settings
        # Where the backend points: scheme, host and path only, never credentials.
        self.target = safe_url(str(base.copy_with(query=None, fragment=None)).rstrip("/"))
        self._client = api_client(
            self.target,
            ca_bundle=settings.ca_bundle,
            timeout=settings.timeout,
            concurrency=settings.concurrency,
            transport=transport,
        )
        # one policy for the token request and the API requests (sleep: a test's seam)
        policy = RetryPolicy(
            Backoff(base=settings.backoff_base, attempts=settings.retries),
            max_wait=settings.max_wait,
            max_throttled=settings.max_throttled,
            sleep=sleep,
        )
        # a write whose outcome stayed unknown is read back and sent again this often
        self._write_attempts = settings.retries + 1
        self._auth = TokenManager(
            self._client,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            policy=policy,
            answer_seconds=answer_limit_seconds(settings.timeout),
        )
        self._wasted_reads = 0  # pages read ahead past the end of their listing
        self._wasted_lock = threading.Lock()
        self._budget = RateBudget(
            reserve=settings.rate_reserve, max_rps=settings.max_rps, max_wait=settings.max_wait
        )
        self._http = Transport(
            self._client,
            self._auth,
            self._budget,
            policy=policy,
            answer_seconds=answer_limit_seconds(settings.timeout),
        )

    def __enter__(self) -> PlanviewBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ reads

    def read_live(
        self,
        product_ids: Collection[str] | None = None,
        *,
        products: Sequence[LiveProduct] | None = None,
        select: Callable[[Sequence[LiveProduct]], Collection[str]] | None = None,
    ) -> LiveState:
        """Users, products and the provisioning of `product_ids` (all if None), every
        listing read at once through one pool of --concurrency requests (pages read
        ahead, see `PageReader`). `products`: a product listing the caller just read
        (saves reading it again). `select`: called with the product listing as soon as
        it is read, returns the products whose provisioning to read (instead of
        `product_ids`); what it raises fails the call. Any failed read fails the call."""
        reader = self._page_reader()
        try:
            with reader:
                users_f = reader.listing(
                    contract.LIST_USERS, contract.USERS, self._converter(
                        contract.user_from_json, contract.LIST_USERS)
                )  # fmt: skip
                if products is None:
                    products_f = reader.listing(
                        contract.LIST_PRODUCTS, contract.PRODUCTS, self._converter(
                            contract.product_from_json, contract.LIST_PRODUCTS)
                    )  # fmt: skip
                    if select is not None or product_ids is None:
                        _wait_all([products_f], reader.stop, [users_f])
                else:
                    products_f = _done(list(products))
                if select is not None:
                    wanted = sorted(select(products_f.result()))
                elif product_ids is not None:
                    wanted = sorted(product_ids)
                else:
                    wanted = [p.id for p in products_f.result()]
                # a provisioning record is its user id (`contract.provisioned_user_id`),
                # which the pager's checks have already read
                prov_f = {
                    pid: reader.ids(
                        contract.LIST_PRODUCT_USERS,
                        contract.path(contract.LIST_PRODUCT_USERS.template, pid=pid),
                    )
                    for pid in wanted
                }
                _wait_all([users_f, products_f, *prov_f.values()], reader.stop)
        finally:
            # close() (leaving the block) has waited for every page under way
            with self._wasted_lock:
                self._wasted_reads += reader.wasted
        if reader.wasted:
            log.info("read ahead: %d page(s) asked for past the end of a listing", reader.wasted)
        return LiveState(
            users=_by_email(users_f.result()),
            products={p.id: p for p in products_f.result()},
            provisioning={pid: frozenset(f.result()) for pid, f in prov_f.items()},
        )

    def _converter(
        self, parse: Callable[[Any], T], listing: contract.Listing
    ) -> Callable[[dict[str, Any]], T]:
        endpoint = f"GET {listing.template}"

        # one call per record, not three: a 50,000-user listing runs it 50,000 times
        def convert(record: dict[str, Any]) -> T:
            try:
                return parse(record)
            except contract.ContractViolation as exc:
                raise TransportError(
                    f"{endpoint}: unexpected record in the answer: {exc}."
                ) from None

        return convert

    def list_products(self) -> list[LiveProduct]:
        return self._read_list(
            contract.LIST_PRODUCTS, contract.PRODUCTS, contract.product_from_json
        )

    def get_user(self, user_id: str) -> LiveUser | None:
        try:
            reply = self._http.request(
                "GET", contract.USER, contract.path(contract.USER, id=user_id), idempotent=True
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return self._parse(contract.user_from_json, reply.body, f"GET {contract.USER}")

    def find_user_by_email(self, email: str) -> LiveUser | None:
        users = self._read_list(
            contract.LIST_USERS,
            contract.USERS,
            contract.user_from_json,
            params=contract.email_filter(email),
        )
        key = email_key(email)
        matches = _by_email(u for u in users if u.key == key)
        return matches.get(key)

    def list_provisioned(self, product_id: str) -> frozenset[str]:
        return self._provisioned(product_id)

    def _provisioned(self, product_id: str, stop: threading.Event | None = None) -> frozenset[str]:
        listing = contract.LIST_PRODUCT_USERS
        path = contract.path(listing.template, pid=product_id)
        records = read_all(self._http, listing, path, max_pages=self.settings.max_pages, stop=stop)
        return frozenset(contract.provisioned_user_id(r) for r in records)

    def audit_events(self, since: datetime) -> Iterator[AuditEvent]:
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        stamp = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self._iter(contract.LIST_AUDIT, contract.AUDIT, contract.audit_since(stamp))

    def user_audit(self, user_id: str) -> Iterator[AuditEvent]:
        path = contract.path(contract.USER_AUDIT, id=user_id)
        return self._iter(contract.LIST_USER_AUDIT, path)

    def _page_reader(self) -> PageReader:
        """One pool of --concurrency requests under the shared rate budget."""
        settings = self.settings
        return PageReader(
            self._http,
            concurrency=settings.concurrency,
            read_ahead=settings.read_ahead,
            max_pages=settings.max_pages,
            room=self._budget.has_room,
        )

    def user_audits(self, user_ids: Sequence[str]) -> dict[str, list[AuditEvent]]:
        """Each history is a listing of one `PageReader`, as `read_live`'s listings are:
        at most --concurrency requests in flight under the shared rate budget, the same
        page checks and messages as `user_audit`, and all or nothing."""
        ids = list(dict.fromkeys(user_ids))  # a history read twice would say nothing new
        if not ids:
            return {}
        reader = self._page_reader()
        convert = self._converter(contract.audit_from_json, contract.LIST_USER_AUDIT)
        try:
            with reader:
                histories = {
                    user_id: reader.listing(
                        contract.LIST_USER_AUDIT,
                        contract.path(contract.USER_AUDIT, id=user_id),
                        convert,
                    )
                    for user_id in ids
                }
                _wait_all(list(histories.values()), reader.stop)
        finally:
            with self._wasted_lock:
                self._wasted_reads += reader.wasted
        if reader.wasted:
            log.info("read ahead: %d page(s) asked for past the end of a listing", reader.wasted)
        return {user_id: future.result() for user_id, future in histories.items()}

    # ------------------------------------------------------------------ writes

    def create_user(self, user: NewUser) -> LiveUser:
        endpoint = f"POST {contract.USERS}"
        for attempt in range(self._write_attempts):
            if attempt:
                existing = self.find_user_by_email(user.email)
                if existing is not None:
                    return self._existing_user(existing, user)
            try:
                reply = self._http.request(
                    "POST",
                    contract.USERS,
                    contract.USERS,
                    json_body=contract.new_user_payload(user),
                    idempotent=False,
                    expect=(200, 201),
                )
            except WriteOutcomeUnknown as exc:
                log.info("%s; reading the user back before trying again", exc)
                continue
            except ApiError as exc:
                if exc.status == 409 and exc.code == contract.CODE_USER_EXISTS:
                    existing = self.find_user_by_email(user.email)
                    if existing is not None:
                        return self._existing_user(existing, user, conflict=exc)
                raise
            return self._parse(contract.user_from_json, reply.body, endpoint)
        raise WriteOutcomeUnknown(
            f"{endpoint}: creating {user.email} failed {self._write_attempts} times with an "
            "unknown outcome; run again (the next run reads before it writes)."
        )

    def update_user(self, user_id: str, fields: Mapping[str, Any]) -> LiveUser:
        return self._user_write("PATCH", contract.USER, user_id, contract.update_payload(fields))

    def deactivate_user(self, user_id: str) -> LiveUser:
        return self._user_write("POST", contract.USER_DEACTIVATE, user_id, None)

    def reactivate_user(self, user_id: str) -> LiveUser:
        return self._user_write("POST", contract.USER_REACTIVATE, user_id, None)

    def delete_user(self, user_id: str) -> None:
        path = contract.path(contract.USER, id=user_id)
        for attempt in range(self._write_attempts):
            try:
                self._http.request(
                    "DELETE", contract.USER, path, idempotent=False, expect=(200, 204)
                )
                return
            except WriteOutcomeUnknown:
                if self.get_user(user_id) is None:
                    return
            except ApiError as exc:
                if exc.status == 404 and attempt:
                    return  # an earlier attempt whose answer was lost did delete it
                raise
        raise WriteOutcomeUnknown(
            f"DELETE {contract.USER}: deleting user {user_id} failed {self._write_attempts} times "
            "with an unknown outcome; run again."
        )

    def grant(self, product_id: str, user_id: str) -> None:
        path = contract.path(contract.PRODUCT_USERS, pid=product_id)
        for attempt in range(self._write_attempts):
            if attempt and user_id in self.list_provisioned(product_id):
                return
            try:
                self._http.request(
                    "POST",
                    contract.PRODUCT_USERS,
                    path,
                    json_body=contract.grant_payload(user_id),
                    idempotent=False,
                    expect=(200, 201),
                )
                return
            except WriteOutcomeUnknown:
                continue
            except ApiError as exc:
                if exc.status == 409 and exc.code == contract.CODE_ALREADY_PROVISIONED:
                    return
                raise
        raise WriteOutcomeUnknown(
            f"POST {contract.PRODUCT_USERS}: granting {product_id} to user {user_id} failed "
            f"{self._write_attempts} times with an unknown outcome; run again."
        )

    def revoke(self, product_id: str, user_id: str) -> None:
        path = contract.path(contract.PRODUCT_USER, pid=product_id, id=user_id)
        for attempt in range(self._write_attempts):
            if attempt and user_id not in self.list_provisioned(product_id):
                return
            try:
                self._http.request(
                    "DELETE", contract.PRODUCT_USER, path, idempotent=False, expect=(200, 204)
                )
                return
            except WriteOutcomeUnknown:
                continue
            except ApiError as exc:
                if exc.status == 404 and attempt:
                    return
                raise
        raise WriteOutcomeUnknown(
            f"DELETE {contract.PRODUCT_USER}: revoking {product_id} from user {user_id} failed "
            f"{self._write_attempts} times with an unknown outcome; run again."
        )

    def doctor(self) -> list[Check]:
        """`reconciler doctor`: read-only checks of the tenant against contract.py."""
        from reconciler.backends.planview.doctor import run_checks

        return run_checks(self._http, self._auth, self._client, max_pages=self.settings.max_pages)

    # ------------------------------------------------------------------ accounting

    def stats(self) -> RequestStats:
        snapshot = self._http.stats()
        with self._wasted_lock:
            snapshot.wasted_reads = self._wasted_reads
        return snapshot

    def estimate_requests(self, kind: str) -> int:
        # Every kind of change is one write (contract.py has one endpoint per kind).
        return 1

    # ------------------------------------------------------------------ internals

    def _list_users(self) -> list[LiveUser]:
        return self._read_list(contract.LIST_USERS, contract.USERS, contract.user_from_json)

    def _read_list(
        self,
        listing: contract.Listing,
        path: str,
        parse: Callable[[Any], T],
        *,
        params: Mapping[str, str] | None = None,
        stop: threading.Event | None = None,
    ) -> list[T]:
        records = read_all(
            self._http, listing, path, params=params, max_pages=self.settings.max_pages, stop=stop
        )
        return [self._parse(parse, r, f"GET {listing.template}") for r in records]

    def _iter(
        self, listing: contract.Listing, path: str, params: Mapping[str, str] | None = None
    ) -> Iterator[AuditEvent]:
        for record in iter_records(
            self._http, listing, path, params=params, max_pages=self.settings.max_pages
        ):
            yield self._parse(contract.audit_from_json, record, f"GET {listing.template}")

    def _user_write(
        self, method: str, template: str, user_id: str, body: dict[str, Any] | None
    ) -> LiveUser:
        # PATCH with the same fields, deactivate and reactivate are idempotent: the
        # transport may repeat them after a lost connection.
        reply = self._http.request(
            method,
            template,
            contract.path(template, id=user_id),
            json_body=body,
            idempotent=True,
        )
        return self._parse(contract.user_from_json, reply.body, f"{method} {template}")

    @staticmethod
    def _parse(parse: Callable[[Any], T], body: Any, endpoint: str) -> T:
        try:
            return parse(body)
        except contract.ContractViolation as exc:
            raise TransportError(f"{endpoint}: unexpected record in the answer: {exc}.") from None

    @staticmethod
    def _existing_user(
        existing: LiveUser, wanted: NewUser, conflict: ApiError | None = None
    ) -> LiveUser:
        if contract.user_matches(existing, wanted):
            return existing
        raise ApiError(
            f"POST {contract.USERS} failed with HTTP 409 UserExists: {wanted.email} already "
            f"exists with different details (id {existing.id})",
            status=409,
            code=contract.CODE_USER_EXISTS,
            detail=conflict.detail if conflict else None,
            method="POST",
            path=contract.USERS,
        )


def _by_email(users: Iterable[LiveUser]) -> dict[str, LiveUser]:
    """Users keyed by case-folded email. Two accounts behind one key would make every
    plan act on one of them and never see the other, so that is an error, not a fold."""
    found: dict[str, LiveUser] = {}
    for user in users:
        other = found.setdefault(user.key, user)
        if other is not user:
            raise TransportError(
                f"GET {contract.USERS}: two users have the same email apart from letter case: "
                f"{other.email} (id {other.id}) and {user.email} (id {user.id}); the tool "
                "cannot tell which one the desired state means. Remove or rename one of "
                "them in Planview Admin, then run again."
            )
    return found


def _done(value: T) -> Future[T]:
    future: Future[T] = Future()
    future.set_result(value)
    return future


def _wait_all(
    futures: list[Future[Any]], stop: threading.Event, others: Sequence[Future[Any]] = ()
) -> None:
    """Wait for all; on the first failure stop the rest and raise that failure (the
    cause, not another listing's report that it stopped because of it)."""
    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
    errors = [e for f in done if not f.cancelled() and (e := f.exception()) is not None]
    if not errors:
        return
    stop.set()
    for other in [*futures, *others]:
        other.cancel()
    settled = [f for f in [*futures, *others] if f.done() and not f.cancelled()]
    causes = [e for f in settled if (e := f.exception()) is not None]
    raise next((e for e in causes if not isinstance(e, ListingAborted)), errors[0])
