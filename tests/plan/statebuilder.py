"""Tiny hand-built desired and live states for the diff, plan and render tests.

Products: `crm` (aliased by name "CRM", id p-crm), `erp` (aliased by id p-erp) and
`bi` (p-bi, in the tenant but not aliased, so never managed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.backends.planview.contract import CAPABILITIES
from reconciler.model import (
    DesiredState,
    DesiredUser,
    LiveProduct,
    LiveState,
    LiveUser,
    ProductRef,
    SafetySettings,
    Settings,
    SourcePos,
)

# The rules these tests were written against (Planview's): diff and build_plan take the
# backend's capabilities, and have no default of their own.
PLANVIEW = CAPABILITIES

PRODUCT_IDS = {"crm": "p-crm", "erp": "p-erp", "bi": "p-bi"}
LIVE_PRODUCTS = {
    "p-crm": LiveProduct("p-crm", "CRM", seats=10),
    "p-erp": LiveProduct("p-erp", "ERP"),
    "p-bi": LiveProduct("p-bi", "BI"),
}
REFS = {"crm": ProductRef("crm", name="CRM"), "erp": ProductRef("erp", id="p-erp")}


def _first(email: str) -> str:
    return email.split("@")[0].split(".")[0].capitalize()


def du(email: str, products: Iterable[str] = (), line: int = 1, **fields: Any) -> DesiredUser:
    """A desired user; names default to ones `lu()` gives the same email."""
    fields.setdefault("first_name", _first(email))
    fields.setdefault("last_name", "Example")
    return DesiredUser(
        email=email, products=frozenset(products), pos=SourcePos("users.yaml", line, 5), **fields
    )


def lu(email: str, products: Iterable[str] = (), **fields: Any) -> tuple[LiveUser, tuple[str, ...]]:
    """A live user and the products (by alias or `bi`) it is provisioned to."""
    fields.setdefault("id", "u-" + email.split("@")[0].casefold())
    fields.setdefault("first_name", _first(email))
    fields.setdefault("last_name", "Example")
    fields.setdefault("role", "User")
    fields.setdefault("password_required", False)
    fields.setdefault("status", "active")
    return LiveUser(email=email, **fields), tuple(products)


def states(
    desired: Iterable[DesiredUser] = (),
    live: Iterable[tuple[LiveUser, tuple[str, ...]]] = (),
    *,
    unmanaged: str = "deactivate",
    protected: Iterable[str] = (),
    scope: Iterable[str] | None = None,
    max_removals: int | str = "10%",
) -> tuple[DesiredState, LiveState]:
    settings = Settings(
        unmanaged_users=unmanaged,  # type: ignore[arg-type]
        protected_users=tuple(protected),
        scope_email_domains=None if scope is None else tuple(scope),
        safety=SafetySettings(max_removals),
    )
    users: dict[str, LiveUser] = {}
    provisioning: dict[str, set[str]] = {pid: set() for pid in LIVE_PRODUCTS}
    for user, products in live:
        users[user.key] = user
        for alias in products:
            provisioning[PRODUCT_IDS[alias]].add(user.id)
    desired_state = DesiredState(
        settings=settings,
        products=REFS,
        groups={},
        users=tuple(desired),
        files=("users.yaml",),
        digest="sha256:" + "ab" * 32,
    )
    live_state = LiveState(
        users=users,
        products=dict(LIVE_PRODUCTS),
        provisioning={pid: frozenset(ids) for pid, ids in provisioning.items()},
    )
    return desired_state, live_state
