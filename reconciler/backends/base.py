"""The small interface every backend implements (Planview Admin, SCIM 2.0).

Diff, plan, apply and drift talk only to this. A backend owns everything about its
API: authentication, paging, the rate budget, retries, and the mapping between its
payloads and the neutral shapes of `reconciler.model`.

Contract for implementers:
- Every method is thread-safe: apply calls writes from several worker threads, and
  they all share one rate budget.
- Reads either return complete data or raise (`TransportError`/`ApiError`); never a
  partial result.
- Writes are safe to call again after `WriteOutcomeUnknown`: `create_user` reads
  by email before creating again, `grant` reads the provisioning before granting
  again, so no run ever creates a user twice. A conflict whose existing record
  already matches what was asked (user exists with that email, already provisioned)
  is success.
- Permanent failures (validation, forbidden, not found, no seats) raise `ApiError`
  with the server's status, code and detail.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from reconciler.backends.capabilities import Capabilities
from reconciler.model import AuditEvent, LiveProduct, LiveState, LiveUser, Role


@dataclass(frozen=True, slots=True)
class NewUser:
    """A user to create. `role` and `password_required` are None unless the backend
    manages them (`Capabilities.managed_fields`): the backend's own default applies."""

    email: str
    first_name: str
    last_name: str
    role: Role | None = None
    password_required: bool | None = None


@dataclass(slots=True)
class RequestStats:
    """What a command spent; printed at the end of every command that used the API."""

    requests: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)  # "GET /public/v1/user" -> n
    throttled: int = 0  # 429s met
    retries: int = 0
    wait_seconds: float = 0.0  # time spent waiting for the rate budget or Retry-After
    lowest_remaining: int | None = None
    wasted_reads: int = 0  # pages read ahead past the end of a listing (in `requests`)

    def summary(self) -> str:
        ahead = (
            f", {self.wasted_reads} page{'' if self.wasted_reads == 1 else 's'} read ahead "
            "past a listing's end"
            if self.wasted_reads
            else ""
        )
        return (
            f"API: {self.requests} request{'' if self.requests == 1 else 's'}, "
            f"{self.throttled} rate-limited (429), "
            f"{self.retries} retried, {self.wait_seconds:.1f}s waiting for the rate budget{ahead}"
        )


@runtime_checkable
class Backend(Protocol):
    #: Where the backend points, for plans and messages (never carries credentials).
    target: str
    #: What the service can do and the rules it enforces; the core reads these instead
    #: of assuming any one service's behaviour.
    capabilities: Capabilities

    # ---- reads
    def read_live(
        self,
        product_ids: Collection[str] | None = None,
        *,
        products: Sequence[LiveProduct] | None = None,
        select: Callable[[Sequence[LiveProduct]], Collection[str]] | None = None,
    ) -> LiveState:
        """Users, products, and the provisioning of `product_ids` (all products if None),
        read concurrently. All or nothing. `products`: a product listing the caller has
        just read, so the backend need not read it again. `select`: called with the
        product listing once it is read, returns the products whose provisioning to
        read (instead of `product_ids`), so one call reads everything a desired state
        manages; what it raises fails the call."""
        ...

    def list_products(self) -> list[LiveProduct]: ...

    def get_user(self, user_id: str) -> LiveUser | None: ...

    def find_user_by_email(self, email: str) -> LiveUser | None:
        """Case-insensitive exact match."""
        ...

    def list_provisioned(self, product_id: str) -> frozenset[str]:
        """Ids of the users provisioned to the product."""
        ...

    def audit_events(self, since: datetime) -> Iterator[AuditEvent]:
        """The customer's audit events at or after `since`, oldest first, each with its
        neutral `kind`. Empty when `capabilities.has_audit_log` is False."""
        ...

    def user_audit(self, user_id: str) -> Iterator[AuditEvent]: ...

    def user_audits(self, user_ids: Sequence[str]) -> dict[str, list[AuditEvent]]:
        """The audit history of each of `user_ids` (by id, each read once), what
        `user_audit` gives, read concurrently within the connection's concurrency and
        rate budget. All or nothing: the first failed read stops the others and its
        error is raised. Every id maps to an empty list when
        `capabilities.has_audit_log` is False."""
        ...

    # ---- writes
    def create_user(self, user: NewUser) -> LiveUser: ...

    def update_user(self, user_id: str, fields: Mapping[str, Any]) -> LiveUser:
        """`fields` uses the neutral names of `reconciler.model.MANAGED_FIELDS`."""
        ...

    def deactivate_user(self, user_id: str) -> LiveUser: ...

    def reactivate_user(self, user_id: str) -> LiveUser: ...

    def delete_user(self, user_id: str) -> None: ...

    def grant(self, product_id: str, user_id: str) -> None: ...

    def revoke(self, product_id: str, user_id: str) -> None: ...

    # ---- accounting
    def stats(self) -> RequestStats: ...

    def estimate_requests(self, kind: str) -> int:
        """Requests one change of this kind costs when nothing goes wrong."""
        ...

    def close(self) -> None: ...
