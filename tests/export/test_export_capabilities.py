"""Export writes only the fields the backend manages, so its file plans against it."""

from __future__ import annotations

import yaml

from reconciler.backends.capabilities import Capabilities
from reconciler.backends.planview.contract import CAPABILITIES as PLANVIEW
from reconciler.export import export_desired
from reconciler.model import LiveState, LiveUser

NO_ROLES = Capabilities(name="names-only", managed_fields=frozenset({"first_name", "last_name"}))


def _live() -> LiveState:
    ann = LiveUser("u1", "ann@x.com", "Ann", "Lee", "", True, "active")
    return LiveState(users={ann.key: ann}, products={}, provisioning={})


def test_a_backend_without_roles_gets_no_role_or_password_required_in_the_file() -> None:
    result = export_desired(
        _live(),
        target="https://d.example",
        exported_at="2026-01-01T00:00:00Z",
        capabilities=NO_ROLES,
    )
    (written,) = yaml.safe_load(result.text)["users"]
    assert written == {"email": "ann@x.com", "firstName": "Ann", "lastName": "Lee"}
    assert result.problems == ()  # an empty role is no problem where roles do not exist


def test_planview_roles_are_written_and_checked_against_its_vocabulary() -> None:
    result = export_desired(
        _live(),
        target="https://t.example",
        exported_at="2026-01-01T00:00:00Z",
        capabilities=PLANVIEW,
    )
    (written,) = yaml.safe_load(result.text)["users"]
    assert written["passwordRequired"] is True and written["role"] == ""
    assert result.problems == ("ann@x.com: role '' is not one of Administrator, User",)
