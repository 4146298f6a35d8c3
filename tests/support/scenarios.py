"""Tenants and desired states for the chaos scenarios, generated at any size.

Every scenario is a pair (tenant state for the emulator, desired-state YAML) whose
difference is known exactly, so a test can say what apply must do and nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOMAIN = "chaos.example.com"
PRODUCTS = [
    {"id": "p-ap", "name": "AgilePlace Production", "type": "AgilePlace",
     "environment": "Production", "seats": None},
    {"id": "p-pf", "name": "Portfolios Production", "type": "Portfolios",
     "environment": "Production", "seats": None},
    {"id": "p-aw", "name": "AdaptiveWork Sandbox", "type": "AdaptiveWork",
     "environment": "Sandbox", "seats": None},
]  # fmt: skip
ALIASES = {"agileplace": "p-ap", "portfolios": "p-pf", "adaptivework": "p-aw"}


@dataclass(frozen=True)
class Scenario:
    name: str
    tenant: dict[str, Any]
    desired_yaml: str
    #: the change kinds and how many of each the first plan must contain
    expected_counts: dict[str, int]

    def write(self, directory: Path) -> Path:
        path = directory / f"{self.name}.yaml"
        path.write_text(self.desired_yaml, encoding="utf-8")
        return path


def email(index: int) -> str:
    return f"user{index:05d}@{DOMAIN}"


def _aliases_for(index: int) -> list[str]:
    # everyone gets AgilePlace; every third user Portfolios too
    return ["agileplace", "portfolios"] if index % 3 == 0 else ["agileplace"]


def _live_user(index: int, *, last_name: str = "Original") -> dict[str, Any]:
    return {
        "id": f"u-{index:05d}",
        "email": email(index),
        "firstName": f"First{index}",
        "lastName": last_name,
        "role": "User",
        "status": "Active",
        "lastLogin": "2026-11-01T10:00:00Z",
    }


def _desired(indices: Iterable[int], *, last_name: str, max_removals: int | str = "10%") -> str:
    lines = [
        "version: 1",
        "settings:",
        "  unmanagedUsers: deactivate",
        "  scope:",
        f"    emailDomains: [{DOMAIN}]",
        "  safety:",
        f'    maxRemovals: "{max_removals}"' if isinstance(max_removals, str)
        else f"    maxRemovals: {max_removals}",
        "products:",
        *(f"  {alias}: {{id: {pid}}}" for alias, pid in ALIASES.items()),
        "users:",
    ]  # fmt: skip
    for index in indices:
        lines += [
            f"  - email: {email(index)}",
            f"    firstName: First{index}",
            f"    lastName: {last_name}",
            f"    products: [{', '.join(_aliases_for(index))}]",
        ]
    return "\n".join(lines) + "\n"


def _provisioning(indices: Iterable[int]) -> dict[str, list[str]]:
    holders: dict[str, list[str]] = {p["id"]: [] for p in PRODUCTS}
    for index in indices:
        for alias in _aliases_for(index):
            holders[ALIASES[alias]].append(f"u-{index:05d}")
    return holders


def bootstrap(users: int) -> Scenario:
    """An empty tenant; the files list `users` people: a create and grants each."""
    grants = sum(len(_aliases_for(i)) for i in range(users))
    return Scenario(
        name=f"bootstrap-{users}",
        tenant={"users": [], "products": PRODUCTS, "provisioning": {}},
        desired_yaml=_desired(range(users), last_name="Original"),
        expected_counts={"create": users, "grant": grants},
    )


def mass_update(users: int) -> Scenario:
    """Every user exists with the right access; every last name changes."""
    return Scenario(
        name=f"mass-update-{users}",
        tenant={
            "users": [_live_user(i) for i in range(users)],
            "products": PRODUCTS,
            "provisioning": _provisioning(range(users)),
        },
        desired_yaml=_desired(range(users), last_name="Renamed"),
        expected_counts={"update": users},
    )


def offboard(users: int) -> Scenario:
    """Every tenth user leaves (unlisted: deactivated), within a limit of exactly that."""
    leaving = [i for i in range(users) if i % 10 == 9]
    staying = [i for i in range(users) if i % 10 != 9]
    text = _desired(staying, last_name="Original", max_removals=len(leaving))
    return Scenario(
        name=f"offboard-{users}",
        tenant={
            "users": [_live_user(i) for i in range(users)],
            "products": PRODUCTS,
            "provisioning": _provisioning(range(users)),
        },
        desired_yaml=text,
        expected_counts={"deactivate": len(leaving)},
    )


SCENARIOS = {"bootstrap": bootstrap, "mass-update": mass_update, "offboard": offboard}
