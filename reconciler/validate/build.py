"""Turning merged, valid documents into the `DesiredState` every later stage reads."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from json.encoder import encode_basestring_ascii
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
    append = users.append
    # Most users share one of a few group/product combinations: expanding each
    # combination once also shares the frozensets, which saves memory on large files.
    expansions: dict[tuple[tuple[str, ...], tuple[str, ...]], frozenset[str]] = {}
    direct: dict[tuple[str, ...], frozenset[str]] = {}
    # Which optional fields a user writes: few combinations, one frozenset each.
    written: dict[tuple[bool, bool, bool], frozenset[str]] = {}
    positions: list[int] = []
    file = ""
    current: Document | None = None
    for user, document, index in merged.users:
        if document is not current:
            current = document
            file = document.file
            positions = document.positions[id(document.value["users"])]
        get = user.get
        # The schema has checked every value, so a key that is absent reads as None and
        # one that is written never does.
        groups_ = get("groups")
        products_ = get("products")
        if groups_:
            combination = (tuple(groups_), tuple(products_) if products_ else ())
            expanded = expansions.get(combination)
            if expanded is None:
                expanded = frozenset(combination[1]).union(
                    *(group_products[g] for g in combination[0])
                )
                expansions[combination] = expanded
        elif products_:
            only = tuple(products_)
            expanded = direct.get(only)
            if expanded is None:
                expanded = direct[only] = frozenset(only)
        else:
            expanded = _NOTHING
        role = get("role")
        password = get("passwordRequired")
        active = get("active")
        flags = (role is not None, password is not None, active is not None)
        set_fields = written.get(flags)
        if set_fields is None:
            set_fields = frozenset(
                name for name, isset in zip(_OPTIONAL_FIELDS, flags, strict=True) if isset
            )
            written[flags] = set_fields
        append(
            DesiredUser(
                user["email"],
                user["firstName"],
                user["lastName"],
                "User" if role is None else role,
                False if password is None else password,
                True if active is None else active,
                expanded,
                unpack(file, positions[index]),
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


_NOTHING: frozenset[str] = frozenset()

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
    sha = hashlib.sha256()
    sha.update(json.dumps(head, sort_keys=True, separators=(",", ":")).encode())
    sha.update(b"\n")
    sha.update(_user_rows_json(state.users).encode())
    return sha.hexdigest()


def _user_rows_json(users: tuple[DesiredUser, ...]) -> str:
    """The users' canonical rows, exactly as `_user_rows_json_plain` writes them.

    Saved plans pin the digest, so these bytes may never change. The plain form pays
    for a tuple, a sorted list and the generic encoder on every user; here each
    distinct name, role and product set is encoded once (they repeat across thousands
    of users), and rows are ordered by the folded email alone, which decides the order
    whenever no two users share it (validation guarantees that; a state built in code
    may not, and then the plain form decides)."""
    quote = encode_basestring_ascii
    texts: dict[str, str] = {}
    product_texts: dict[int, str] = {}
    keys: list[str] = []
    rows: list[str] = []
    for u in users:
        email, first, last, role = u.email, u.first_name, u.last_name, u.role
        password, active, products = u.password_required, u.active, u.products
        if (
            type(email) is not str
            or type(first) is not str
            or type(last) is not str
            or type(role) is not str
            or type(password) is not bool
            or type(active) is not bool
        ):
            return _user_rows_json_plain(users)
        key = email.casefold()
        email_text = quote(email)
        key_text = email_text if key == email else quote(key)
        first_text = texts.get(first)
        if first_text is None:
            first_text = texts[first] = quote(first)
        last_text = texts.get(last)
        if last_text is None:
            last_text = texts[last] = quote(last)
        role_text = texts.get(role)
        if role_text is None:
            role_text = texts[role] = quote(role)
        # Validation shares one frozenset between users with the same products, and
        # every set stays alive (in `users`) while its id is a key here.
        products_text = product_texts.get(id(products))
        if products_text is None:
            products_text = json.dumps(sorted(products), separators=(",", ":"))
            product_texts[id(products)] = products_text
        keys.append(key)
        rows.append(
            f"[{key_text},{email_text},{first_text},{last_text},{role_text},"
            f"{'true' if password else 'false'},{'true' if active else 'false'},"
            f"{products_text}]"
        )
    if len(set(keys)) != len(keys):
        return _user_rows_json_plain(users)
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return "[" + ",".join([rows[i] for i in order]) + "]"


def _user_rows_json_plain(users: tuple[DesiredUser, ...]) -> str:
    """The definition of the users' canonical rows (also used for any state whose
    values are not the plain types validation produces)."""
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
        for u in users
    ]
    rows.sort()
    return json.dumps(rows, separators=(",", ":"))
