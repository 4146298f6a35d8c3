"""settings.deleteDeactivatedAfter end to end: the CLI against the emulator, with
deactivation times set in the tenant's audit log and records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.cli import run_against as run_cli


def user(uid: str, email: str, status: str, updated: str) -> dict[str, Any]:
    return {"id": uid, "email": email, "firstName": "F", "lastName": "L", "role": "User",
            "status": status, "createdAt": "2024-01-01T00:00:00Z", "updatedAt": updated}


def deactivated(n: int, uid: str, email: str, when: str) -> dict[str, Any]:
    return {"id": f"a-{n}", "timestamp": when, "action": "user.deactivated",
            "actor": {"type": "user", "id": "u-admin", "email": "admin@example.com"},
            "userId": uid, "userEmail": email, "productId": None,
            "changes": {"status": {"from": "Active", "to": "Deactivated"}}}  # fmt: skip


TENANT = {
    "users": [
        user("u-admin", "admin@example.com", "Active", "2024-01-01T00:00:00Z"),
        # The audit log says long ago, though the record was touched last week.
        user("u-old", "old@example.com", "Deactivated", "2026-11-20T00:00:00Z"),
        # No deactivation event: the record's last update stands in.
        user("u-quiet", "quiet@example.com", "Deactivated", "2025-02-01T00:00:00Z"),
        user("u-recent", "recent@example.com", "Deactivated", "2026-11-25T00:00:00Z"),
    ],
    "products": [],
    "provisioning": {},
    "audit": [
        deactivated(1, "u-old", "old@example.com", "2025-01-10T09:00:00Z"),
        deactivated(2, "u-recent", "recent@example.com", "2026-11-25T00:00:00Z"),
    ],
}


def desired(tmp_path: Path, max_removals: int = 10) -> str:
    path = tmp_path / "users.yaml"
    path.write_text(
        "version: 1\nsettings:\n  unmanagedUsers: deactivate\n  deleteDeactivatedAfter: 90d\n"
        f"  safety:\n    maxRemovals: {max_removals}\n"
        "users:\n  - {email: admin@example.com, firstName: F, lastName: L}\n",
        encoding="utf-8",
    )
    return str(path)


def test_deleted_only_with_allow_delete_and_dated(emulator: Any, tmp_path: Path) -> None:
    emulator.load_state(TENANT)
    path = desired(tmp_path)
    without = run_cli(emulator, "plan", path)
    assert without.code == 0, without.stdout + without.stderr
    assert "2 users not in the desired state, deactivated for longer than" in without.stdout
    assert "--allow-delete" in without.stdout

    plan = run_cli(emulator, "plan", "--allow-delete", path)
    assert plan.code == 0, plan.stdout + plan.stderr
    out = plan.stdout
    assert "old@example.com" in out and "deactivated since 2025-01-10 (audit log)" in out
    assert "deactivated since 2025-02-01 (last update of the record)" in out
    assert "recent@example.com" not in out
    # One audit read per candidate, no more.
    requests = emulator.stats()["requests"]
    # Two plans so far, each reading the three deactivated users' histories.
    assert requests.get("GET /public/v1/user/{id}/audit") == 6
    assert "GET /public/v1/audit" not in requests

    saved = tmp_path / "plan.json"
    result = run_cli(emulator, "plan", "--allow-delete", "--format", "json", "--out", str(saved),
                     path)  # fmt: skip
    assert result.code == 0, result.stderr
    data = json.loads(saved.read_text(encoding="utf-8"))
    deletes = {c["email"]: c["before"] for c in data["changes"] if c["kind"] == "delete"}
    assert deletes["old@example.com"]["deactivated_at"] == "2025-01-10T09:00:00Z"
    assert deletes["quiet@example.com"]["deactivated_from"] == "updated_at"

    applied = run_cli(emulator, "apply", "--allow-delete", "--auto-approve", path)
    assert applied.code == 0, applied.stdout + applied.stderr
    left = {u["email"] for u in emulator.state()["users"]}
    assert left == {"admin@example.com", "recent@example.com"}


def test_deletions_count_against_the_removal_limit(emulator: Any, tmp_path: Path) -> None:
    emulator.load_state(TENANT)
    result = run_cli(emulator, "plan", "--allow-delete", desired(tmp_path, max_removals=1))
    assert result.code == 3, result.stdout + result.stderr
    assert "2 removals exceed the limit of 1" in result.stdout
