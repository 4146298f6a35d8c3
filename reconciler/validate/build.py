"""Turning merged, valid documents into the `DesiredState` every later stage reads."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

from reconciler.load import Document
from reconciler.load.document import unpack
from reconciler.model import (
    DesiredState,
    DesiredUser,
    PolicySettings,
    ProductRef,
    SafetySettings,
    Settings,
)
from reconciler.validate.merge import Merged


def build_state(merged: Merged, files: list[str]) -> DesiredState:
    """Only called when validation found nothing wrong, so shapes can be trusted."""
    sections = merged.sections
    settings = _settings({name: entry for name, entry in sections["settings"].items()})
    products = {
        alias: ProductRef(alias, value.get("name"), value.get("id"), origin.pos())
        for alias, (value, origin) in sections["products"].items()
    }
    groups = {name: tuple(value["products"]) for name, (value, _) in sections["groups"].items()}
    group_products = {name: frozenset(aliases) for name, aliases in groups.items()}

    users: list[DesiredUser] = []
    # Most users share one of a few group/product combinations: expanding each
    # combination once also shares the frozensets, which saves memory on large files.
    expansions: dict[tuple[tuple[str, ...], tuple[str, ...]], frozenset[str]] = {}
    # Which optional fields a user writes: few combinations, one frozenset each.
    written: dict[tuple[bool, bool, bool], frozenset[str]] = {}
    positions: list[int] = []
    current: Document | None = None
    for user, document, index in merged.users:
        if document is not current:
            current = document
            positions = document.positions[id(document.value["users"])]
        combination = (tuple(user.get("groups", ())), tuple(user.get("products", ())))
        expanded = expansions.get(combination)
        if expanded is None:
            expanded = frozenset(combination[1]).union(*(group_products[g] for g in combination[0]))
            expansions[combination] = expanded
        flags = ("role" in user, "passwordRequired" in user, "active" in user)
        set_fields = written.get(flags)
        if set_fields is None:
            set_fields = frozenset(
                name for name, isset in zip(_OPTIONAL_FIELDS, flags, strict=True) if isset
            )
            written[flags] = set_fields
        users.append(
            DesiredUser(
                user["email"],
                user["firstName"],
                user["lastName"],
                user.get("role", "User"),
                user.get("passwordRequired", False),
                user.get("active", True),
                expanded,
                unpack(document.file, positions[index]),
                set_fields,
            )
        )
    state = DesiredState(
        settings=settings,
        products=products,
        groups=groups,
        users=tuple(users),
        files=tuple(files),
    )
    return replace(state, digest=digest(state))


# Neutral names of the optional user keys `role`, `passwordRequired`, `active`.
_OPTIONAL_FIELDS = ("role", "password_required", "active")


def _settings(entries: dict[str, Any]) -> Settings:
    def value(name: str, default: Any = None) -> Any:
        return entries[name][0] if name in entries else default

    scope = value("scope") or {}
    domains = scope.get("emailDomains")
    safety = value("safety") or {}
    safety_pos = entries["safety"][1].pos() if "safety" in entries else None
    max_removals = safety.get("maxRemovals", "10%")
    if "maxRemovals" in safety:
        safety_pos = entries["safety"][1].pos("maxRemovals")
    policy = value("policy") or {}
    policy_pos = entries["policy"][1].pos() if "policy" in entries else None
    return Settings(
        policy=PolicySettings(
            min_administrators=policy.get("minAdministrators", 1),
            min_administrators_set="minAdministrators" in policy,
            required_administrators=tuple(policy.get("requiredAdministrators", ())),
            pos=policy_pos,
        ),
        unmanaged_users=value("unmanagedUsers", "deactivate"),
        protected_users=tuple(value("protectedUsers", ())),
        scope_email_domains=tuple(d.lower() for d in domains) if domains is not None else None,
        safety=SafetySettings(max_removals=max_removals, pos=safety_pos),
        delete_deactivated_after=grace_days(value("deleteDeactivatedAfter")),
    )


def grace_days(text: str | None) -> int | None:
    """`90d` -> 90, `12w` -> 84 (the schema has checked the shape)."""
    if text is None:
        return None
    number, unit = int(text.strip()[:-1]), text.strip()[-1]
    return number * 7 if unit == "w" else number


def digest(state: DesiredState) -> str:
    """sha256 of the content in a canonical form: the same whatever the file layout,
    key order, whitespace, comments, user order or order of users."""
    settings = state.settings
    head = {
        "format": 1,
        "settings": {
            "unmanagedUsers": settings.unmanaged_users,
            "protectedUsers": sorted(settings.protected_users),
            "emailDomains": sorted(settings.scope_email_domains)
            if settings.scope_email_domains is not None
            else None,
            "maxRemovals": settings.safety.max_removals,
            # Only when set, so the digests of files without it stay what they were.
            **(
                {"deleteDeactivatedAfter": settings.delete_deactivated_after}
                if settings.delete_deactivated_after is not None
                else {}
            ),
            # Only when written, so that files without a policy keep their digest; a saved
            # plan's administrator check takes minAdministrators from the files it names.
            **(
                {
                    "policy": [
                        settings.policy.min_administrators,
                        sorted(settings.policy.required_administrators),
                    ]
                }
                if settings.policy.min_administrators_set
                or settings.policy.required_administrators
                else {}
            ),
        },
        "products": {alias: [ref.name, ref.id] for alias, ref in state.products.items()},
        "groups": {name: sorted(aliases) for name, aliases in state.groups.items()},
    }
    # Tuples in one comprehension and one C-encoded dump: on 50,000 users this is a
    # third of the cost of building a list per user and sorting a generator.
    rows = [
        (
            u.email.casefold(),
            u.email,
            u.first_name,
            u.last_name,
            u.role,
            u.password_required,
            u.active,
            sorted(u.products),
        )
        for u in state.users
    ]
    rows.sort()
    sha = hashlib.sha256()
    sha.update(json.dumps(head, sort_keys=True, separators=(",", ":")).encode())
    sha.update(b"\n")
    sha.update(json.dumps(rows, separators=(",", ":")).encode())
    return sha.hexdigest()
