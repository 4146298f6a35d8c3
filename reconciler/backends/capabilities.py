"""What a backend can do and the rules its service enforces, declared as data.

The core (diff, plan, apply, drift, export) reads this declaration instead of assuming
one service's behaviour: which user fields can be managed at all, whether there are
roles and which one is privileged, whether an audit log can say who changed what,
whether deactivating a user takes their product access with it, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.model import MANAGED_FIELDS


@dataclass(frozen=True, slots=True)
class Capabilities:
    #: Short name used in messages and on the command line (`--backend NAME`).
    name: str
    #: Neutral user fields (`reconciler.model.MANAGED_FIELDS`) this backend stores and
    #: can change; a desired state that sets any other one is refused at plan time.
    managed_fields: frozenset[str]
    #: The role vocabulary, or empty when the service has no roles.
    roles: tuple[str, ...] = ()
    #: The role whose loss takes access away (a demotion counts as a removal).
    privileged_role: str | None = None
    #: An audit log names who changed what; without one, drift cannot attribute.
    has_audit_log: bool = False
    #: Deactivating a user also ends their product access (frees the seat), so an
    #: unlisted user's products need no separate revoke.
    deactivate_revokes_access: bool = False
    #: The service refuses to grant a product to a deactivated user.
    grant_requires_active: bool = False
    #: Users can be deleted (not only deactivated).
    supports_delete: bool = True
    #: The largest page the service returns for one listing request.
    max_page_size: int = 100
    #: The largest page of its audit listings (drift estimates the cost of reading the
    #: audit history with it); None when there is no audit log.
    audit_page_size: int | None = None

    def compared_fields(self) -> tuple[str, ...]:
        """The neutral user fields diff compares, in display order: the managed ones,
        without `role` when the service has no role vocabulary."""
        return tuple(
            name
            for name in MANAGED_FIELDS
            if name in self.managed_fields and (name != "role" or self.roles)
        )
