"""Tenants and desired states for the benchmark, generated from a seed.

The tenant is built here rather than by the emulator's own generator so that its
shape is exactly what the issue asks for (8 product environments, about 1.5 products
per user) whatever the emulator's defaults become; it is loaded with
`PUT /_emulator/state`. The desired state is what `reconciler export` would write for
that tenant, in the shape `reconciler export` gives it (products referenced by id
under the alias export derives from the name, every user's role written, block style
with flow lists of products), then edited: a share of the users changed the ways real
pull requests change them.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (alias, id, name, type, environment): the 8 product environments of the tenant. The
# aliases are the ones `reconciler export` derives from the names.
PRODUCTS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "agileplace-production",
        "p-agileplace-prod",
        "AgilePlace Production",
        "AgilePlace",
        "Production",
    ),
    ("agileplace-sandbox", "p-agileplace-sbx", "AgilePlace Sandbox", "AgilePlace", "Sandbox"),
    (
        "portfolios-production",
        "p-portfolios-prod",
        "Portfolios Production",
        "Portfolios",
        "Production",
    ),
    ("portfolios-sandbox", "p-portfolios-sbx", "Portfolios Sandbox", "Portfolios", "Sandbox"),
    (
        "adaptivework-production",
        "p-adaptivework-prod",
        "AdaptiveWork Production",
        "AdaptiveWork",
        "Production",
    ),
    (
        "adaptivework-sandbox",
        "p-adaptivework-sbx",
        "AdaptiveWork Sandbox",
        "AdaptiveWork",
        "Sandbox",
    ),
    (
        "projectplace-production",
        "p-projectplace-prod",
        "Projectplace Production",
        "Projectplace",
        "Production",
    ),
    ("roadmaps-production", "p-roadmaps-prod", "Roadmaps Production", "Roadmaps", "Production"),
)
# Production environments are used far more than sandboxes.
PRODUCT_WEIGHTS = (30, 4, 22, 3, 18, 3, 14, 6)

FIRST: tuple[str, ...] = (
    "Alice",
    "Bob",
    "Carol",
    "David",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kenji",
    "Laura",
    "Mateo",
    "Nadia",
    "Omar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Anna",
    "Ben",
    "Chloe",
    "Diego",
    "Elif",
    "Femi",
    "Greta",
    "Hugo",
    "Ivana",
    "Jamal",
    "Kaito",
    "Lena",
    "Marco",
    "Noor",
    "Olga",
    "Pablo",
    "Rania",
    "Sami",
    "Tomas",
)
LAST: tuple[str, ...] = (
    "Smith",
    "Garcia",
    "Müller",
    "Rossi",
    "Dubois",
    "Kowalski",
    "Nguyen",
    "Tanaka",
    "Okafor",
    "Silva",
    "Johansson",
    "Novak",
    "Ivanova",
    "Haddad",
    "Kim",
    "Chen",
    "Patel",
    "Schmidt",
    "Moreau",
    "Costa",
    "Andersen",
    "Fischer",
    "Romano",
    "Lopez",
    "Weber",
    "Nowak",
    "Yilmaz",
    "Horvat",
    "O'Brien",
    "Jensen",
    "Ahmed",
    "Popescu",
    "Sato",
    "van der Berg",
)
DOMAINS = ("example.com", "example.com", "example.com", "eu.example.com", "example.co.uk")


def make_tenant(users: int, seed: int) -> dict[str, Any]:
    """A tenant in the shape of `GET /_emulator/state`."""
    rng = random.Random(seed)
    products = [
        {"id": pid, "name": name, "type": kind, "environment": env, "seats": None}
        for _, pid, name, kind, env in PRODUCTS
    ]
    records = []
    provisioning: dict[str, list[str]] = {pid: [] for _, pid, *_ in PRODUCTS}
    for n in range(users):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = _local_part(first, last)
        # A few emails keep the capitals someone typed: the server keeps the case.
        email = f"{local}{n}@{rng.choice(DOMAINS)}"
        if rng.random() < 0.05:
            email = email[0].upper() + email[1:]
        roll = rng.random()
        status = "Active" if roll < 0.85 else "Pending" if roll < 0.93 else "Deactivated"
        created = f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T09:00:00Z"
        user_id = f"u-{rng.getrandbits(64):016x}"
        records.append(
            {
                "id": user_id,
                "email": email,
                "firstName": first,
                "lastName": last,
                "role": "Administrator" if rng.random() < 0.03 else "User",
                "passwordRequired": rng.random() < 0.02,
                "status": status,
                "lastLogin": None if status == "Pending" else "2026-11-01T10:00:00Z",
                "createdAt": created,
                "updatedAt": created,
            }
        )
        # Half the users have one product, half two: 1.5 on average.
        held = set(rng.choices(range(len(PRODUCTS)), weights=PRODUCT_WEIGHTS, k=1))
        if rng.random() < 0.5:
            while len(held) < 2:
                held.add(rng.choices(range(len(PRODUCTS)), weights=PRODUCT_WEIGHTS, k=1)[0])
        for index in sorted(held):
            provisioning[PRODUCTS[index][1]].append(user_id)
    return {"users": records, "products": products, "provisioning": provisioning, "audit": []}


# --------------------------------------------------------------------------- desired


@dataclass
class Desired:
    document: dict[str, Any]
    # What the reconciler should plan: change kind -> count.
    expected: Counter[str] = field(default_factory=Counter)
    removals: int = 0


def export_document(tenant: dict[str, Any]) -> dict[str, Any]:
    """The desired state equal to the live tenant, as `reconciler export` writes it."""
    alias_of = {pid: alias for alias, pid, *_ in PRODUCTS}
    held: dict[str, list[str]] = {}
    for pid, user_ids in tenant["provisioning"].items():
        for user_id in user_ids:
            held.setdefault(user_id, []).append(alias_of[pid])
    users = []
    for record in sorted(tenant["users"], key=lambda r: r["email"].casefold()):
        user: dict[str, Any] = {
            "email": record["email"],
            "firstName": record["firstName"],
            "lastName": record["lastName"],
            "role": record["role"],  # export writes the role even when it is the default
        }
        if record["passwordRequired"]:
            user["passwordRequired"] = True
        if record["status"] == "Deactivated":
            user["active"] = False
        if held.get(record["id"]):
            user["products"] = sorted(held[record["id"]])
        users.append(user)
    return {
        "version": 1,
        "products": {alias: {"id": pid} for alias, pid, *_ in sorted(PRODUCTS)},
        "users": users,
    }


def plan_scenario(tenant: dict[str, Any], share: float, seed: int) -> Desired:
    """Live tenant exported, then `share` of its users changed as pull requests do:
    renames, promotions and demotions, products granted and revoked, leavers removed
    (deactivated, within the default safety limit) and joiners added."""
    rng = random.Random(seed)
    doc = export_document(tenant)
    users: list[dict[str, Any]] = doc["users"]
    result = Desired(doc)
    live_active = {r["email"].casefold() for r in tenant["users"] if r["status"] != "Deactivated"}
    candidates = [i for i, u in enumerate(users) if u["email"].casefold() in live_active]
    changed = rng.sample(candidates, max(1, round(len(users) * share)))
    aliases = [alias for alias, *_ in PRODUCTS]
    leavers = []
    joiners = 0
    for index in changed:
        user = users[index]
        roll = rng.random()
        if roll < 0.40:
            user["lastName"] = user["lastName"] + "-" + rng.choice(LAST)
            result.expected["update"] += 1
        elif roll < 0.50:
            if user.get("role") == "Administrator":
                user["role"] = "User"
                result.removals += 1
            else:
                user["role"] = "Administrator"
            result.expected["update"] += 1
        elif roll < 0.70:
            missing = [a for a in aliases if a not in user.get("products", [])]
            user["products"] = sorted([*user.get("products", []), rng.choice(missing)])
            result.expected["grant"] += 1
        elif roll < 0.80 and len(user.get("products", [])) >= 1:
            products = list(user["products"])
            products.remove(rng.choice(products))
            if products:
                user["products"] = products
            else:
                del user["products"]
            result.expected["revoke"] += 1
            result.removals += 1
        elif roll < 0.90:
            leavers.append(index)
            result.expected["deactivate"] += 1
            result.removals += 1
        else:
            joiners += 1
    for index in sorted(leavers, reverse=True):
        del users[index]
    for n in range(joiners):
        products = sorted(set(rng.choices(aliases, weights=PRODUCT_WEIGHTS, k=1)))
        users.append(_joiner(rng, n, products))
        result.expected["create"] += 1
        result.expected["grant"] += len(products)
    users.sort(key=lambda u: u["email"].casefold())
    return result


def apply_scenario(tenant: dict[str, Any], changes: int, seed: int) -> Desired:
    """Exactly `changes` changes that take no access away (so no safety override is
    needed): half renames, a third grants, the rest new users without products."""
    rng = random.Random(seed)
    doc = export_document(tenant)
    users: list[dict[str, Any]] = doc["users"]
    result = Desired(doc)
    live_active = {r["email"].casefold() for r in tenant["users"] if r["status"] != "Deactivated"}
    candidates = [i for i, u in enumerate(users) if u["email"].casefold() in live_active]
    creates = changes * 15 // 100
    grants = changes * 35 // 100
    updates = changes - creates - grants
    if updates + grants > len(candidates):
        raise ValueError(f"a tenant of {len(users)} users cannot take {changes} changes")
    picked = rng.sample(candidates, updates + grants)
    aliases = [alias for alias, *_ in PRODUCTS]
    for index in picked[:updates]:
        users[index]["firstName"] = users[index]["firstName"] + "-" + rng.choice(FIRST)
    for index in picked[updates:]:
        user = users[index]
        missing = [a for a in aliases if a not in user.get("products", [])]
        user["products"] = sorted([*user.get("products", []), rng.choice(missing)])
    for n in range(creates):
        users.append(_joiner(rng, n, []))
    users.sort(key=lambda u: u["email"].casefold())
    result.expected.update(update=updates, grant=grants, create=creates)
    return result


def _joiner(rng: random.Random, n: int, products: list[str]) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = _local_part(first, last)
    user: dict[str, Any] = {
        "email": f"{local}.new{n}@example.com",
        "firstName": first,
        "lastName": last,
    }
    if products:
        user["products"] = products
    return user


def _local_part(first: str, last: str) -> str:
    name = f"{first}.{last}".lower().replace("ü", "ue").replace(" ", "").replace("'", "")
    return name


# What `reconciler export` writes plain; anything else it double-quotes (JSON's quoting
# is valid YAML). A leading digit and YAML 1.1's keywords are quoted, as export does.
_PLAIN = re.compile(r"[^\W\d][\w .@'+/-]*")
_KEYWORDS = frozenset({"null", "true", "false", "yes", "no", "on", "off", "y", "n"})
_FIELDS = ("email", "firstName", "lastName", "role", "passwordRequired", "active")


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if _PLAIN.fullmatch(text) and not text.endswith(" ") and text.casefold() not in _KEYWORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def write_yaml(document: dict[str, Any], path: Path) -> Path:
    """Write `document` (version, products by id, users) as `reconciler export` lays
    its files out: header comments, `alias: {id: ...}  # name`, users in block style
    with their products as a flow list. The file shape decides what loading it costs,
    so the benchmark's files must look like the ones users validate and plan."""
    unknown = set(document) - {"version", "products", "users"}
    if unknown:
        raise ValueError(f"write_yaml writes export-shaped files only, not {sorted(unknown)}")
    names = {pid: name for _, pid, name, *_ in PRODUCTS}
    lines = [
        "# yaml-language-server: $schema=../schemas/desired-state.schema.json",
        "# Generated by bench/generate.py in the shape `reconciler export` writes; do not edit.",
        f"version: {document['version']}",
        "products:",
    ]
    for alias, ref in document["products"].items():
        lines.append(f"  {alias}: {{id: {_scalar(ref['id'])}}}  # {names.get(ref['id'], '')}")
    lines.append("users:")
    for user in document["users"]:
        unknown = set(user) - {*_FIELDS, "products"}
        if unknown:
            raise ValueError(f"write_yaml cannot write user fields {sorted(unknown)}")
        first = True
        for key in _FIELDS:
            if key in user:
                lines.append(f"{'  - ' if first else '    '}{key}: {_scalar(user[key])}")
                first = False
        if user.get("products"):
            lines.append("    products: [" + ", ".join(user["products"]) + "]")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
