"""`ScimBackend`: the `Backend` protocol over a SCIM 2.0 service provider.

Discovery (`GET /ServiceProviderConfig`) decides how writes are sent: PATCH where the
provider supports it, otherwise a read-modify-write PUT of the whole resource; with
ETag support, user writes carry `If-Match` with the `meta.version` seen when the user
was last read in this run, so a change made elsewhere since is refused (HTTP 412)
rather than overwritten.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from reconciler.backends.base import NewUser, RequestStats
from reconciler.backends.capabilities import Capabilities
from reconciler.backends.checks import Check
from reconciler.backends.planview.budget import RateBudget
from reconciler.backends.planview.retry import Backoff
from reconciler.backends.planview.wire import answer_limit_seconds
from reconciler.backends.scim import mapping
from reconciler.backends.scim.auth import ClientCredentials, StaticToken, TokenSource
from reconciler.backends.scim.paging import iter_resources
from reconciler.backends.scim.settings import ScimSettings
from reconciler.backends.scim.transport import ScimTransport
from reconciler.backends.tls import api_client
from reconciler.errors import ApiError, TransportError, WriteOutcomeUnknown
from reconciler.model import AuditEvent, LiveProduct, LiveState, LiveUser, email_key

log = logging.getLogger(__name__)
T = TypeVar("T")

CONFIG = "/ServiceProviderConfig"
USERS = "/Users"
USER = "/Users/{id}"
GROUPS = "/Groups"
GROUP = "/Groups/{id}"
# How often a group PUT is re-read and sent again when the group changed between the
# read and the write (membership edits are deltas, so re-applying them is safe).
GROUP_PUT_ATTEMPTS = 5


class ScimBackend:
    """Thread-safe; one per command run. Use as a context manager or call `close()`."""

    capabilities: Capabilities

    def __init__(self, settings: ScimSettings, *, transport: httpx.BaseTransport | None = None):
        base = settings.validate()
        self.settings = settings
        self.target = str(base).rstrip("/")
        self._client = api_client(
            self.target,
            ca_bundle=settings.ca_bundle,
            timeout=settings.timeout,
            concurrency=settings.concurrency,
            transport=transport,
        )
        backoff = Backoff(base=settings.backoff_base, attempts=settings.retries)
        answer_seconds = answer_limit_seconds(settings.timeout)
        auth: TokenSource
        if settings.token_url:
            auth = ClientCredentials(
                self._client,
                settings.token_url,
                client_id=settings.client_id or "",
                client_secret=settings.client_secret or "",
                scope=settings.scope,
                backoff=backoff,
                answer_seconds=answer_seconds,
            )
        else:
            auth = StaticToken(settings.token or "")
        self._http = ScimTransport(
            self._client,
            auth,
            RateBudget(
                reserve=settings.rate_reserve, max_rps=settings.max_rps, max_wait=settings.max_wait
            ),
            backoff=backoff,
            max_wait=settings.max_wait,
            max_throttled=settings.max_throttled,
            answer_seconds=answer_seconds,
        )
        self._write_attempts = settings.retries + 1
        self._lock = threading.Lock()
        self._versions: dict[str, str] = {}  # user id -> meta.version when last read
        self._resource_locks: dict[str, threading.Lock] = {}
        try:
            self.provider = self._discover()
        except BaseException:
            self._client.close()
            raise
        self.capabilities = self.provider.capabilities()

    def __enter__(self) -> ScimBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _discover(self) -> mapping.ProviderConfig:
        reply = self._http.request("GET", CONFIG, CONFIG, idempotent=True)
        try:
            config = mapping.provider_config(reply.body)
        except mapping.Malformed as exc:
            raise TransportError(
                f"GET {CONFIG}: {exc}; is --url the SCIM base URL (the one /Users is under)?"
            ) from None
        log.info(
            "SCIM provider: PATCH %s, ETag %s, filter %s, page size %d",
            *("yes" if flag else "no" for flag in (config.patch, config.etag, config.filter)),
            config.page_size,
        )
        return config

    # ------------------------------------------------------------------ reads

    def read_live(
        self,
        product_ids: Collection[str] | None = None,
        *,
        products: Sequence[LiveProduct] | None = None,
        select: Callable[[Sequence[LiveProduct]], Collection[str]] | None = None,
    ) -> LiveState:
        """Users, groups and the membership of `product_ids` (all groups if None), read
        concurrently; any failed read fails the whole call. Without `products` one
        group listing brings names and members; with it (a listing the caller just
        read), only the wanted groups are read, one request each. `select`: called with
        the group listing once it is read, returns the groups whose members to keep
        (instead of `product_ids`); what it raises fails the call."""
        stop = threading.Event()
        with ThreadPoolExecutor(self.settings.concurrency, "scim-read") as pool:
            users_f = pool.submit(self._list_users, stop)
            if products is None:
                groups_f = pool.submit(self._list_groups_with_members, stop)
                _wait_all([users_f, groups_f], stop)
                groups = groups_f.result()
                live_products = [product for product, _ in groups.values()]
                if select is not None:
                    wanted = set(select(live_products))
                else:
                    wanted = set(groups) if product_ids is None else set(product_ids)
                provisioning = {
                    gid: members for gid, (_, members) in groups.items() if gid in wanted
                }
                missing = wanted - set(groups)
                if missing:
                    raise ApiError(
                        f"GET {GROUP} failed with HTTP 404: no group with id "
                        f"{', '.join(sorted(missing))}",
                        status=404,
                        method="GET",
                        path=GROUP,
                    )
            else:
                live_products = list(products)
                if select is not None:
                    wanted = set(select(live_products))
                elif product_ids is None:
                    wanted = {p.id for p in products}
                else:
                    wanted = set(product_ids)
                members_f = {gid: pool.submit(self._members, gid, stop) for gid in sorted(wanted)}
                _wait_all([users_f, *members_f.values()], stop)
                provisioning = {gid: future.result() for gid, future in members_f.items()}
        return LiveState(
            users=users_f.result(),
            products={p.id: p for p in live_products},
            provisioning=provisioning,
        )

    def list_products(self) -> list[LiveProduct]:
        records = self._iter(GROUPS, params={"attributes": "displayName"})
        return [self._parse(mapping.group_from_scim, r, f"GET {GROUPS}") for r in records]

    def get_user(self, user_id: str) -> LiveUser | None:
        try:
            reply = self._http.request(
                "GET",
                USER,
                _user_path(user_id),
                params={"attributes": mapping.USER_ATTRIBUTES},
                idempotent=True,
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return self._remember(reply.body, f"GET {USER}", reply.etag)

    def find_user_by_email(self, email: str) -> LiveUser | None:
        key = email_key(email)
        if self.provider.filter:
            params = {"filter": mapping.user_name_filter(email)}
            records: Iterable[dict[str, Any]] = self._iter(USERS, params=params)
            users = [self._remember(r, f"GET {USERS}") for r in records]
            return _by_email(u for u in users if u.key == key).get(key)
        # Without filtering the only way to find one user is to read them all.
        return self._list_users().get(key)

    def list_provisioned(self, product_id: str) -> frozenset[str]:
        return self._members(product_id)

    def audit_events(self, since: datetime) -> Iterator[AuditEvent]:
        # SCIM has no audit log (capabilities.has_audit_log is False).
        return iter(())

    def user_audit(self, user_id: str) -> Iterator[AuditEvent]:
        return iter(())

    def user_audits(self, user_ids: Sequence[str]) -> dict[str, list[AuditEvent]]:
        return {user_id: [] for user_id in user_ids}

    # ------------------------------------------------------------------ writes

    def create_user(self, user: NewUser) -> LiveUser:
        mapping.refuse_unsupported(
            {"role": user.role, "password_required": user.password_required}, creating=True
        )
        endpoint = f"POST {USERS}"
        for attempt in range(self._write_attempts):
            if attempt:
                # The last attempt may have created the user before its answer was lost.
                existing = self.find_user_by_email(user.email)
                if existing is not None:
                    return _existing(existing, user)
            try:
                reply = self._http.request(
                    "POST",
                    USERS,
                    USERS,
                    json_body=mapping.new_user_resource(user),
                    idempotent=False,
                    expect=(200, 201),
                )
            except WriteOutcomeUnknown as exc:
                log.info("%s; reading the user back before trying again", exc)
                continue
            except ApiError as exc:
                if exc.status == 409:
                    existing = self.find_user_by_email(user.email)
                    if existing is not None:
                        return _existing(existing, user, exc)
                raise
            if isinstance(reply.body, dict) and reply.body:
                return self._remember(reply.body, endpoint, reply.etag)
            created = self.find_user_by_email(user.email)  # a 201 without the resource
            if created is None:
                raise TransportError(
                    f"{endpoint}: the server accepted {user.email} but cannot find it by userName."
                )
            return created
        raise WriteOutcomeUnknown(
            f"{endpoint}: creating {user.email} failed {self._write_attempts} times with an "
            "unknown outcome; run again (the next run reads before it writes)."
        )

    def update_user(self, user_id: str, fields: Mapping[str, Any]) -> LiveUser:
        mapping.refuse_unsupported(fields, creating=False)
        return self._write_user(user_id, mapping.user_field_ops(fields))

    def deactivate_user(self, user_id: str) -> LiveUser:
        return self._write_user(user_id, mapping.active_ops(False))

    def reactivate_user(self, user_id: str) -> LiveUser:
        return self._write_user(user_id, mapping.active_ops(True))

    def delete_user(self, user_id: str) -> None:
        path = _user_path(user_id)
        for attempt in range(self._write_attempts):
            try:
                self._http.request(
                    "DELETE",
                    USER,
                    path,
                    if_match=self._if_match(user_id),
                    idempotent=False,
                    expect=(200, 204),
                )
            except WriteOutcomeUnknown:
                if self.get_user(user_id) is None:
                    break
                continue
            except ApiError as exc:
                if exc.status == 404 and attempt:
                    break  # an earlier attempt whose answer was lost did delete it
                raise
            break
        else:
            raise WriteOutcomeUnknown(
                f"DELETE {USER}: deleting user {user_id} failed {self._write_attempts} times "
                "with an unknown outcome; run again."
            )
        with self._lock:
            self._versions.pop(user_id, None)

    def grant(self, product_id: str, user_id: str) -> None:
        self._membership(product_id, user_id, present=True)

    def revoke(self, product_id: str, user_id: str) -> None:
        self._membership(product_id, user_id, present=False)

    def doctor(self) -> list[Check]:
        """`reconciler doctor`: what the provider announces and how it pages, read-only."""
        from reconciler.backends.scim.doctor import run_checks

        return run_checks(
            self._http, self._client, self.provider, max_pages=self.settings.max_pages
        )

    # ------------------------------------------------------------------ accounting

    def stats(self) -> RequestStats:
        return self._http.stats()

    def estimate_requests(self, kind: str) -> int:
        """PATCH costs one request per change; without PATCH, a change to an existing
        user or group is a read and a PUT."""
        name = str(getattr(kind, "value", kind))
        if name in ("create", "delete") or self.provider.patch:
            return 1
        return 2

    # ------------------------------------------------------------------ internals

    def _iter(
        self,
        template: str,
        *,
        params: Mapping[str, str] | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[dict[str, Any]]:
        return iter_resources(
            self._http,
            template,
            template,
            page_size=self.provider.page_size,
            max_pages=self.settings.max_pages,
            params=params,
            stop=stop,
        )

    def _list_users(self, stop: threading.Event | None = None) -> dict[str, LiveUser]:
        records = self._iter(USERS, params={"attributes": mapping.USER_ATTRIBUTES}, stop=stop)
        return _by_email(self._remember(r, f"GET {USERS}") for r in records)

    def _list_groups_with_members(
        self, stop: threading.Event
    ) -> dict[str, tuple[LiveProduct, frozenset[str]]]:
        # `members` is asked for by name: a provider whose schema returns it only on
        # request (returned: "request") then still sends it.
        params = {"attributes": "displayName,members"}
        found = {}
        for record in self._iter(GROUPS, params=params, stop=stop):
            product = self._parse(mapping.group_from_scim, record, f"GET {GROUPS}")
            found[product.id] = (product, self._parse(mapping.member_ids, record, f"GET {GROUPS}"))
        return found

    def _members(self, group_id: str, stop: threading.Event | None = None) -> frozenset[str]:
        if stop is not None and stop.is_set():
            raise TransportError(f"GET {GROUP}: stopped because another read failed.")
        reply = self._http.request(
            "GET", GROUP, _group_path(group_id), params={"attributes": "members"}, idempotent=True
        )
        return self._parse(mapping.member_ids, reply.body, f"GET {GROUP}")

    def _remember(self, body: Any, endpoint: str, etag: str | None = None) -> LiveUser:
        user = self._parse(mapping.user_from_scim, body, endpoint)
        version = etag or mapping.version_of(body)
        if version:
            with self._lock:
                self._versions[user.id] = version
        return user

    def _if_match(self, user_id: str) -> str | None:
        if not self.provider.etag:
            return None
        with self._lock:
            return self._versions.get(user_id)

    def _resource_lock(self, path: str) -> threading.Lock:
        with self._lock:
            return self._resource_locks.setdefault(path, threading.Lock())

    def _write_user(self, user_id: str, ops: list[dict[str, Any]]) -> LiveUser:
        """Replacing attributes with the same values is idempotent: the transport may
        send it again after a lost connection."""
        path = _user_path(user_id)
        with self._resource_lock(path):
            if self.provider.patch:
                reply = self._http.request(
                    "PATCH",
                    USER,
                    path,
                    params={"attributes": mapping.USER_ATTRIBUTES},
                    json_body=mapping.patch_message(ops),
                    if_match=self._if_match(user_id),
                    idempotent=True,
                    expect=(200, 204),
                )
                if reply.status == 200 and isinstance(reply.body, dict):
                    return self._remember(reply.body, f"PATCH {USER}", reply.etag)
                found = self.get_user(user_id)  # 204: the provider sent no resource back
                if found is None:
                    raise TransportError(f"PATCH {USER}: user {user_id} vanished after the write.")
                return found
            return self._put_user(user_id, path, ops)

    def _put_user(self, user_id: str, path: str, ops: list[dict[str, Any]]) -> LiveUser:
        seen = self._if_match(user_id)
        current = self._http.request("GET", USER, path, idempotent=True)
        if not isinstance(current.body, dict):
            raise TransportError(f"GET {USER}: the answer is not a SCIM resource.")
        fresh = current.etag or mapping.version_of(current.body)
        if seen is not None and fresh is not None and fresh != seen:
            # Caught before the PUT, which would otherwise carry the fresh version.
            raise ApiError(
                f"PUT {USER} was not sent: user {user_id} changed on the server since it was "
                f"read (version {seen}, now {fresh}), so it was not overwritten; run plan "
                "again to see the change",
                status=412,
                method="PUT",
                path=USER,
            )
        reply = self._http.request(
            "PUT",
            USER,
            path,
            json_body=mapping.apply_to_resource(current.body, ops),
            if_match=fresh if self.provider.etag else None,
            idempotent=True,
        )
        return self._remember(reply.body, f"PUT {USER}", reply.etag)

    def _membership(self, group_id: str, user_id: str, *, present: bool) -> None:
        verb = "granting" if present else "revoking"
        if not self.provider.patch:
            with self._resource_lock(_group_path(group_id)):
                self._put_membership(group_id, user_id, present=present)
            return
        if present:
            op = {"op": "add", "path": "members", "value": [{"value": user_id}]}
        else:
            op = {"op": "remove", "path": mapping.member_filter_path(user_id)}
        for attempt in range(self._write_attempts):
            if attempt and (user_id in self._members(group_id)) == present:
                return  # the attempt whose answer was lost did it
            try:
                self._http.request(
                    "PATCH",
                    GROUP,
                    _group_path(group_id),
                    json_body=mapping.patch_message([op]),
                    idempotent=False,
                    expect=(200, 204),
                )
                return
            except WriteOutcomeUnknown:
                continue
            except ApiError as exc:
                # Some providers refuse adding a present member (409) or removing an
                # absent one (400 noTarget): already as asked is success.
                if exc.status in (400, 409) and (user_id in self._members(group_id)) == present:
                    return
                raise
        raise WriteOutcomeUnknown(
            f"PATCH {GROUP}: {verb} group {group_id} for user {user_id} failed "
            f"{self._write_attempts} times with an unknown outcome; run again."
        )

    def _put_membership(self, group_id: str, user_id: str, *, present: bool) -> None:
        path = _group_path(group_id)
        for _ in range(GROUP_PUT_ATTEMPTS):
            current = self._http.request("GET", GROUP, path, idempotent=True)
            if (user_id in self._parse(mapping.member_ids, current.body, f"GET {GROUP}")) == (
                present
            ):
                return
            version = current.etag or mapping.version_of(current.body)
            try:
                self._http.request(
                    "PUT",
                    GROUP,
                    path,
                    json_body=mapping.with_member(current.body, user_id, present),
                    if_match=version if self.provider.etag else None,
                    idempotent=True,
                )
                return
            except ApiError as exc:
                if exc.status != 412:
                    raise
                log.info("PUT %s: group %s changed meanwhile; reading it again", GROUP, group_id)
        raise ApiError(
            f"PUT {GROUP}: group {group_id} kept changing between reading and writing it "
            f"({GROUP_PUT_ATTEMPTS} attempts); run again.",
            status=412,
            method="PUT",
            path=GROUP,
        )

    @staticmethod
    def _parse(parse: Callable[[Any], T], body: Any, endpoint: str) -> T:
        try:
            return parse(body)
        except mapping.Malformed as exc:
            raise TransportError(f"{endpoint}: unexpected resource in the answer: {exc}.") from None


def open_scim_backend(
    settings: ScimSettings, *, transport: httpx.BaseTransport | None = None
) -> ScimBackend:
    """Connect and read the provider's configuration: what the CLI calls for
    `--backend scim`. Raises `ConfigError`/`TransportError`/`ApiError`, never more."""
    return ScimBackend(settings, transport=transport)


def _user_path(user_id: str) -> str:
    return f"/Users/{_segment(user_id)}"


def _group_path(group_id: str) -> str:
    return f"/Groups/{_segment(group_id)}"


def _segment(value: str) -> str:
    """An id as one path segment: a '/' or '?' in it must not reach another resource."""
    return quote(value, safe="")


def _existing(existing: LiveUser, wanted: NewUser, conflict: ApiError | None = None) -> LiveUser:
    if mapping.user_matches(existing, wanted):
        return existing
    raise ApiError(
        f"POST {USERS} failed with HTTP 409 uniqueness: {wanted.email} already exists with "
        f"different details (id {existing.id})",
        status=409,
        code="uniqueness",
        detail=conflict.detail if conflict else None,
        method="POST",
        path=USERS,
    )


def _by_email(users: Iterable[LiveUser]) -> dict[str, LiveUser]:
    """Users keyed by case-folded userName. Two users behind one key would make every
    plan act on one and never see the other, so that is an error, not a fold."""
    found: dict[str, LiveUser] = {}
    for user in users:
        other = found.setdefault(user.key, user)
        if other is not user:
            raise TransportError(
                f"GET {USERS}: two users have the same userName apart from letter case: "
                f"{other.email} (id {other.id}) and {user.email} (id {user.id}); the tool "
                "cannot tell which one the desired state means. Remove or rename one of them "
                "in the SCIM service, then run again."
            )
    return found


def _wait_all(futures: list[Future[Any]], stop: threading.Event) -> None:
    """Wait for all; on the first failure stop the others and raise it."""
    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
    for future in done:
        error = future.exception()
        if error is not None:
            stop.set()
            for other in futures:
                other.cancel()
            raise error
