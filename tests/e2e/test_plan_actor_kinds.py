"""plan end to end: a user not in the desired state that the service's own product sync
created is named as such before the plan deactivates it, in text, Markdown and JSON,
with a warning; the audit reads this costs are spent only on such removals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.cli import run_against as run_cli

from reconciler.backends.scim.mapping import ProviderConfig
from reconciler.drift.audit import read_creators
from reconciler.render.mdescape import md_text

SYNCED = "synced.person@example.com"
BY_HAND = "by.hand@example.com"
SYNC_WARNING = (
    "1 user to deactivate was created by the product sync; see docs/concepts.md on living "
    "alongside the sync (scope, unmanagedUsers: ignore, protectedUsers)"
)


def exported(emulator: Any, tmp_path: Path) -> Path:
    path = tmp_path / "tenant.yaml"
    result = run_cli(emulator, "export", "--out", str(path))
    assert result.code == 0, result.stderr
    return path


def admin_of(emulator: Any) -> str:
    return next(
        u["email"]
        for u in emulator.state()["users"]
        if u["status"] == "Active" and u["role"] == "Administrator"
    )


def create(emulator: Any, email: str, actor: dict[str, Any] | str) -> None:
    emulator.out_of_band(
        "create", email=email, firstName="Out", lastName="OfBand", status="Active", actor=actor
    )


def audit_requests(emulator: Any) -> tuple[int, int]:
    """(customer-log requests, per-user history requests) the emulator has served."""
    counts = emulator.stats()["requests"]
    log = counts.get("GET /public/v1/audit", 0)
    per_user = sum(n for key, n in counts.items() if key.endswith("/audit") and "/user/" in key)
    return log, per_user


def two_unlisted_users(emulator: Any, tmp_path: Path) -> tuple[Path, str]:
    desired = exported(emulator, tmp_path)
    admin = admin_of(emulator)
    create(emulator, SYNCED, {"kind": "system", "name": "Product sync"})
    create(emulator, BY_HAND, {"kind": "person", "email": admin})
    return desired, admin


def test_text_names_the_sync_and_warns(emulator: Any, tmp_path: Path) -> None:
    desired, admin = two_unlisted_users(emulator, tmp_path)
    emulator.reset_stats()
    result = run_cli(emulator, "plan", "--detailed-exitcode", str(desired))
    assert result.code == 2, result.stderr
    lines = result.stdout.splitlines()
    synced = next(line for line in lines if SYNCED in line)
    assert "(deactivate) (created by Product sync, system)" in synced
    by_hand = next(line for line in lines if BY_HAND in line)
    assert f"(created by {admin}, person)" in by_hand
    assert "system" not in by_hand
    assert SYNC_WARNING in result.stdout
    # Two unlisted removals in a small tenant: at most one read each, never more.
    log, per_user = audit_requests(emulator)
    assert log + per_user <= 2


def test_json_and_markdown_carry_the_creator(emulator: Any, tmp_path: Path) -> None:
    desired, admin = two_unlisted_users(emulator, tmp_path)
    result = run_cli(emulator, "plan", "--detailed-exitcode", "--format", "json", str(desired))
    assert result.code == 2, result.stderr
    plan = json.loads(result.stdout)
    removals = {c["email"]: c for c in plan["changes"] if c["kind"] == "deactivate"}
    assert removals[SYNCED]["before"]["created_by_kind"] == "system"
    assert removals[SYNCED]["before"]["created_by"] == "Product sync"
    assert removals[SYNCED]["before"]["status"] == "active"
    assert removals[BY_HAND]["before"]["created_by_kind"] == "person"
    assert removals[BY_HAND]["before"]["created_by"] == admin
    assert SYNC_WARNING in plan["warnings"]

    md = run_cli(emulator, "plan", "--format", "markdown", str(desired)).stdout
    assert f"{md_text(SYNCED)} ({md_text('created by Product sync, system')})" in md
    assert f"{md_text(BY_HAND)} ({md_text(f'created by {admin}, person')})" in md
    assert md_text(SYNC_WARNING) in md


def test_a_person_created_user_raises_no_sync_warning(emulator: Any, tmp_path: Path) -> None:
    desired = exported(emulator, tmp_path)
    admin = admin_of(emulator)
    create(emulator, BY_HAND, {"kind": "person", "email": admin})
    result = run_cli(emulator, "plan", "--detailed-exitcode", str(desired))
    assert result.code == 2, result.stderr
    assert f"(created by {admin}, person)" in result.stdout
    assert "product sync" not in result.stdout
    assert "system" not in result.stdout


def test_what_the_plan_does_is_unchanged(emulator: Any, tmp_path: Path) -> None:
    """Only what the plan says changes: the same deactivations, and apply carries them
    out (a saved plan's digest still matches its content)."""
    desired, _ = two_unlisted_users(emulator, tmp_path)
    saved = tmp_path / "plan.json"
    result = run_cli(emulator, "plan", "--detailed-exitcode", "--out", str(saved), str(desired))
    assert result.code == 2, result.stderr
    plan = json.loads(saved.read_text(encoding="utf-8"))
    assert sorted(c["email"] for c in plan["changes"]) == [BY_HAND, SYNCED]
    assert {c["kind"] for c in plan["changes"]} == {"deactivate"}
    applied = run_cli(
        emulator, "apply", "--plan", str(saved), str(desired), "--auto-approve",
        "--expect-digest", plan["digest"],
    )  # fmt: skip
    assert applied.code == 0, applied.stdout + applied.stderr
    status = {u["email"]: u["status"] for u in emulator.state()["users"]}
    assert status[SYNCED] == status[BY_HAND] == "Deactivated"


def test_no_unlisted_removals_spend_no_audit_reads(emulator: Any, tmp_path: Path) -> None:
    desired = exported(emulator, tmp_path)
    emulator.reset_stats()
    result = run_cli(emulator, "plan", "--detailed-exitcode", str(desired))
    assert result.code == 0, result.stderr
    assert audit_requests(emulator) == (0, 0)
    before = emulator.stats()["requests"]

    # The same plan with a user added to the files (a create, no removal) costs the
    # same reads: naming creators is only for users the plan removes.
    text = desired.read_text(encoding="utf-8")
    text = text.replace(
        "\nusers:\n",
        "\nusers:\n  - email: new.person@example.com\n    firstName: New\n    lastName: Person\n",
        1,
    )
    desired.write_text(text, encoding="utf-8")
    emulator.reset_stats()
    result = run_cli(emulator, "plan", "--detailed-exitcode", str(desired))
    assert result.code == 2, result.stderr
    assert emulator.stats()["requests"] == before
    assert audit_requests(emulator) == (0, 0)


def test_many_removals_read_the_customer_log_once(emulator: Any, tmp_path: Path) -> None:
    """Three removals in a tenant whose log fits one page: one request for the log
    rather than three histories, as drift would choose."""
    desired = exported(emulator, tmp_path)
    for n in range(3):
        create(emulator, f"synced{n}@example.com", {"kind": "system", "name": "Product sync"})
    emulator.reset_stats()
    result = run_cli(emulator, "plan", "--detailed-exitcode", str(desired))
    assert result.code == 2, result.stderr
    assert audit_requests(emulator) == (1, 0)
    assert result.stdout.count("(created by Product sync, system)") == 3
    assert "3 users to deactivate were created by the product sync" in result.stdout


def test_a_sync_created_user_to_delete_is_named(emulator: Any, tmp_path: Path) -> None:
    desired = exported(emulator, tmp_path)
    text = desired.read_text(encoding="utf-8")
    assert "\nsettings:" not in text
    text = text.replace("\nproducts:", "\nsettings:\n  unmanagedUsers: delete\nproducts:", 1)
    desired.write_text(text, encoding="utf-8")
    create(emulator, SYNCED, {"kind": "system", "name": "Product sync"})
    result = run_cli(emulator, "plan", "--allow-delete", str(desired))
    assert result.code == 0, result.stdout + result.stderr
    synced = next(line for line in result.stdout.splitlines() if SYNCED in line)
    assert "(delete) (created by Product sync, system)" in synced
    assert "1 user to delete was created by the product sync" in result.stdout


def test_a_log_longer_than_estimated_is_given_up_for_user_histories(
    emulator_factory: Any, tmp_path: Path
) -> None:
    # The server pages the customer log 10 at a time, far more pages than the estimate:
    # the plan stops paying for it once it has cost as much as the three histories.
    emulator = emulator_factory(users=25, products=5, seed=1, page_max={"audit": 10})
    desired = exported(emulator, tmp_path)
    admin = admin_of(emulator)
    noisy = next(u["email"] for u in emulator.state()["users"] if u["role"] == "User")
    for n in range(40):  # noise the customer log must page through
        emulator.out_of_band("update", email=noisy, firstName=f"Noise{n}", actor=admin)
    for n in range(3):
        create(emulator, f"synced{n}@example.com", {"kind": "system", "name": "Product sync"})
    emulator.reset_stats()
    result = run_cli(emulator, "plan", str(desired))
    log, per_user = audit_requests(emulator)
    assert per_user == 3
    assert log <= 4  # not the 5 pages the whole log takes
    assert result.stdout.count("(created by Product sync, system)") == 3


class NoAuditLog:
    """A backend like SCIM's: no audit log, and any attempt to read one fails the test."""

    capabilities = ProviderConfig(patch=True, etag=False, filter=True, page_size=100).capabilities()

    def user_audit(self, user_id: str) -> Any:
        raise AssertionError("read a user's audit history from a backend without one")

    def audit_events(self, since: Any) -> Any:
        raise AssertionError("read the audit log of a backend without one")


def test_a_backend_without_an_audit_log_reads_and_names_nothing() -> None:
    creators = read_creators(NoAuditLog(), [("u1", SYNCED)], 10)  # type: ignore[arg-type]
    assert creators == {}
