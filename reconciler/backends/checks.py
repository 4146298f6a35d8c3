"""Neutral records of `reconciler doctor`: one per assumption a backend checked.

Each backend probes its own service (`reconciler/backends/<name>/doctor.py`) and
returns a list of `Check`; the CLI only renders them, so nothing here knows Planview
or SCIM.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["ok", "differs", "note"]
STATUSES: tuple[Status, ...] = ("ok", "differs", "note")


@dataclass(frozen=True, slots=True)
class Check:
    """One assumption and what the service showed.

    `ok`: as the tool expects. `note`: different, but the tool copes (worth knowing).
    `differs`: the tool cannot work this way; `fix_at` names the code that would need
    to change to match the service (a module and the constant or function in it).
    """

    name: str
    status: Status
    saw: str
    fix_at: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"a check's status is one of {', '.join(STATUSES)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def usable(checks: list[Check]) -> bool:
    """Whether the tool can work with this service: no assumption it depends on failed."""
    return all(check.status != "differs" for check in checks)
