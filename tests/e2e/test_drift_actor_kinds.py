"""drift end to end: people, API clients and the service's own product sync are told
apart as actors, in text, Markdown and JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.cli import run_against as run_cli

from reconciler.render.mdescape import md_text


def exported(emulator: Any, tmp_path: Path) -> Path:
    path = tmp_path / "tenant.yaml"
    result = run_cli(emulator, "export", "--out", str(path))
    assert result.code == 0, result.stderr
    return path


def plain_users(emulator: Any) -> tuple[str, list[dict[str, Any]]]:
    users = [u for u in emulator.state()["users"] if u["status"] == "Active"]
    admin = next(u["email"] for u in users if u["role"] == "Administrator")
    return admin, [u for u in users if u["role"] == "User"]


def act_as_each_kind(emulator: Any) -> tuple[str, list[dict[str, Any]]]:
    admin, users = plain_users(emulator)
    emulator.out_of_band(
        "create", email="synced.person@example.com", firstName="Synced", lastName="Person",
        status="Active", actor={"kind": "system", "name": "Product sync"},
    )  # fmt: skip
    emulator.out_of_band(
        "update", email=users[0]["email"], lastName="FromHR",
        actor={"kind": "api_client", "name": "hr-feed"},
    )  # fmt: skip
    emulator.out_of_band(
        "update", email=users[1]["email"], lastName="ByHand",
        actor={"kind": "person", "email": admin},
    )  # fmt: skip
    return admin, users


def test_text_names_each_kind_of_actor(emulator: Any, tmp_path: Path) -> None:
    desired = exported(emulator, tmp_path)
    admin, _ = act_as_each_kind(emulator)
    result = run_cli(emulator, "drift", str(desired))
    assert result.code == 2, result.stderr
    out = result.stdout
    assert "+ synced.person@example.com: created out of band" in out
    assert "created by Product sync (system) at " in out
    assert "updated by API client hr-feed at " in out
    assert f"updated by {admin} (person) at " in out
    # The sync is not somebody working around the files: the report says what to do.
    assert "1 user(s) not in the desired state were created by the service itself" in out
    assert "unmanagedUsers: ignore" in out


def test_json_and_markdown_carry_the_actor_kind(emulator: Any, tmp_path: Path) -> None:
    desired = exported(emulator, tmp_path)
    admin, users = act_as_each_kind(emulator)
    result = run_cli(emulator, "drift", "--format", "json", str(desired))
    assert result.code == 2, result.stderr
    report = json.loads(result.stdout)
    kinds = {
        user["email"]: item["attribution"]["actor_kind"]
        for user in report["users"]
        for item in user["items"]
    }
    assert kinds == {
        "synced.person@example.com": "system",
        users[0]["email"]: "api_client",
        users[1]["email"]: "person",
    }
    assert report["created_by_system"] == 1
    synced = next(u for u in report["users"] if u["email"] == "synced.person@example.com")
    assert synced["items"][0]["attribution"]["actor_label"] == "Product sync (system)"

    md = run_cli(emulator, "drift", "--format", "markdown", str(desired)).stdout
    assert f"| {md_text('Product sync (system)')} |" in md
    assert f"| {md_text(admin + ' (person)')} |" in md
    assert f"| {md_text('API client hr-feed')} |" in md


def test_users_synced_outside_the_scope_are_not_drift(emulator: Any, tmp_path: Path) -> None:
    """What docs/concepts.md recommends: scope the files to the domains they manage, and
    users the sync brings in under other domains are invisible to drift and plan."""
    desired = exported(emulator, tmp_path)
    text = desired.read_text(encoding="utf-8")
    domains = sorted({u["email"].rpartition("@")[2].lower() for u in emulator.state()["users"]})
    assert "\nsettings:" not in text
    scope = f"settings:\n  scope:\n    emailDomains: [{', '.join(domains)}]\n"
    text = text.replace("\nproducts:", f"\n{scope}products:", 1)
    desired.write_text(text, encoding="utf-8")
    emulator.out_of_band(
        "create", email="someone@partner-product.example.org", firstName="Partner",
        lastName="User", status="Active", actor={"kind": "system"},
    )  # fmt: skip
    result = run_cli(emulator, "drift", str(desired))
    assert result.code == 0, result.stdout + result.stderr
    assert "No drift" in result.stdout
