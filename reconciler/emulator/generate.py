"""A realistic tenant for a seed: the same seed always gives the same records.

Nothing here reads the clock: timestamps are laid out before a fixed point in time,
so two runs with one seed produce identical state, audit history included.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone

from reconciler.emulator.tenant import Tenant, iso

_FIRST = (
    "Alice Bob Carla Daniel Elena Farid Grace Hiro Ines Jonas Kemal Lena Marco Nadia Oskar "
    "Priya Quentin Rosa Stefan Tamara Uma Victor Wei Ximena Yusuf Zoe Amara Bruno Chloe Dmitri "
    "Emma Felix Gabriela Henrik Isabel Jamal Katarina Liam Mei Nikolai Olivia Pavel Rania Sven "
    "Tomas Ursula Valentina William Yara Zeynep Aiko Benedikt Camille Diego Esther Fatima "
    "Gustav Hannah Ivan Julia Kofi Laura Mateo Noor Omar Paula Rafael Sofia Theo Vera"
)
_LAST = (
    "Smith Johnson Garcia Müller Rossi Nguyen Kowalski Silva Andersson Okafor Tanaka Dubois "
    "Schmidt Novak Hansen Costa Fischer Jensen Moreau Petrov Kim Lopez Weber Bianchi Nilsson "
    "Martin Ivanova Chen Singh Haddad O'Brien Van-Dijk Yilmaz Horvat Lindqvist Santos Berg "
    "Ferreira Kaur Sato Meyer Larsen Romano Fernandez Kovacs Dahl Murphy Lambert Ahmed Park "
    "Schneider Wagner Becker Hoffmann Koch Richter Klein Wolf Neumann Schwarz Zimmermann"
)
FIRST_NAMES = _FIRST.split()
LAST_NAMES = _LAST.split()
DOMAINS = (
    ("example.com", 50),
    ("eu.example.com", 20),
    ("example.org", 15),
    ("contractors.example.net", 10),
    ("acquired.example.io", 5),
)
# (type, environment) in the order a customer typically adds them.
PRODUCT_CATALOGUE = (
    ("AgilePlace", "Production"),
    ("Portfolios", "Production"),
    ("AdaptiveWork", "Production"),
    ("AgilePlace", "Sandbox"),
    ("Projectplace", "Production"),
    ("Portfolios", "Sandbox"),
    ("PPM Pro", "Production"),
    ("AdaptiveWork", "Sandbox"),
    ("IdeaPlace", "Production"),
    ("Projectplace", "Sandbox"),
    ("Roadmaps", "Production"),
    ("PPM Pro", "Sandbox"),
    ("Barometer", "Production"),
    ("Hub", "Production"),
    ("Roadmaps", "Sandbox"),
    ("Hub", "Sandbox"),
)
# Generated history ends here; 2 years of sign-ups lead up to it.
EPOCH_END = datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp()
HISTORY = 2 * 365 * 86400.0
SYSTEM_ACTOR = {"type": "user", "id": None, "email": "it-admin@example.com"}


def product_list(count: int) -> list[dict[str, object]]:
    products: list[dict[str, object]] = []
    for index in range(count):
        kind, env = PRODUCT_CATALOGUE[index % len(PRODUCT_CATALOGUE)]
        round_ = index // len(PRODUCT_CATALOGUE)
        slug = kind.lower().replace(" ", "")
        suffix = "" if round_ == 0 else f"-{round_ + 1}"
        name_suffix = "" if round_ == 0 else f" {round_ + 1}"
        products.append(
            {
                "id": f"p-{slug}-{'prod' if env == 'Production' else 'sandbox'}{suffix}",
                "name": f"{kind} {env}{name_suffix}",
                "type": kind,
                "environment": env,
                "seats": None,
            }
        )
    return products


def generate(users: int, products: int, seed: int) -> Tenant:
    rng = random.Random(f"emulator-tenant-{seed}")
    # The fixed point keeps generation independent of the clock; the tenant's own
    # clock (for later writes) is the real one.
    tenant = Tenant(id_seed=seed)
    for product in product_list(products):
        tenant.add_product(product)
    product_ids = list(tenant.products)
    domains = [d for d, _ in DOMAINS]
    weights = [w for _, w in DOMAINS]
    taken: set[str] = set()
    start = EPOCH_END - HISTORY
    step = HISTORY / max(users, 1)
    admin_actor = SYSTEM_ACTOR
    for index in range(users):
        created = start + index * step + rng.random() * step * 0.9
        if index == 0:
            first, last, local, domain = "IT", "Admin", "it-admin", "example.com"
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            domain = rng.choices(domains, weights)[0]
            local = f"{first}.{last}".replace("'", "")
        email = f"{local}@{domain}"
        number = 2
        while email.casefold() in taken:
            email = f"{local}{number}@{domain}"
            number += 1
        taken.add(email.casefold())
        if rng.random() > 0.1:
            email = email.lower()
        roll = rng.random()
        status = (
            "Active" if index == 0 or roll < 0.8 else "Pending" if roll < 0.92 else "Deactivated"
        )
        signed_in = status == "Active" or (status == "Deactivated" and rng.random() < 0.8)
        last_login = None
        if signed_in:
            last_login = iso(created + rng.random() * (EPOCH_END - created))
        user: dict[str, object] = {
            "id": tenant.new_user_id(),
            "email": email,
            "firstName": first,
            "lastName": last,
            "role": "Administrator" if index == 0 or rng.random() < 0.06 else "User",
            "passwordRequired": rng.random() < 0.05,
            "status": "Active" if status == "Deactivated" else status,
            "lastLogin": last_login,
            "createdAt": iso(created),
            "updatedAt": iso(created),
        }
        tenant._insert_user(user)
        tenant.record("user.created", admin_actor, user, at=created)
        if index == 0:
            admin_actor = {"type": "user", "id": str(user["id"]), "email": email}
        if product_ids:
            wanted = 1 + (rng.random() < 0.4) + (rng.random() < 0.1)
            picks = rng.sample(product_ids, min(wanted, len(product_ids)))
            for offset, product_id in enumerate(picks):
                tenant._link(product_id, user)
                tenant.record(
                    "product.provisioned",
                    admin_actor,
                    user,
                    product_id=product_id,
                    at=created + 60 * (offset + 1),
                )
        if status == "Deactivated":
            when = created + rng.random() * (EPOCH_END - created)
            tenant._set_status(user, "Deactivated", admin_actor, "user.deactivated")
            user["updatedAt"] = iso(when)
            _retime_last(tenant, when)
    _set_seat_limits(tenant, rng)
    return tenant


def _retime_last(tenant: Tenant, when: float) -> None:
    """Move the event just recorded (stamped with the clock) back into history."""
    event = tenant.audit.pop()
    tenant.audit_times.pop()
    user_events = tenant.user_audit[event["userId"]]
    user_events.pop()
    event["timestamp"] = iso(when)
    tenant._append_event(event, float(int(when)))


def _set_seat_limits(tenant: Tenant, rng: random.Random) -> None:
    # Every third product is licensed by seat, with headroom over what is in use.
    for index, product in enumerate(tenant.products.values()):
        if index % 3 == 2:
            used = tenant.seats_used[product["id"]]
            product["seats"] = used + max(5, used // 5) + rng.randrange(5)
