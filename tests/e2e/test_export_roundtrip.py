"""export end to end: the file it writes validates and plans to no changes."""

from __future__ import annotations

from dataclasses import astuple
from pathlib import Path
from typing import Any

import yaml
from support.cli import run_against as run_cli


def round_trip(emulator: Any, path: Path, *extra: str) -> str:
    code, _, err = astuple(run_cli(emulator, "export", "--out", str(path), *extra))
    assert code == 0, err
    code, out, err = astuple(run_cli(emulator, "validate", str(path)))
    assert code == 0, out + err
    code, out, err = astuple(run_cli(emulator, "plan", "--detailed-exitcode", str(path)))
    assert code == 0, out + err
    return path.read_text()


def test_export_validates_and_plans_to_no_changes(emulator: Any, tmp_path: Path) -> None:
    # Make the tenant awkward first: a name YAML would misread, a deactivated user
    # holding products, a pending invitation, a password-required Administrator.
    users = [u for u in emulator.state()["users"] if u["status"] == "Active"]
    emulator.out_of_band("update", email=users[0]["email"], lastName="No", firstName="1e3")
    emulator.out_of_band(
        "update", email=users[1]["email"], role="Administrator", passwordRequired=True
    )
    emulator.out_of_band("deactivate", email=users[2]["email"])
    emulator.out_of_band(
        "create", email="Mixed.Case@Example.com", firstName="Ümit", lastName="O'Neil: Jr"
    )
    text = round_trip(emulator, tmp_path / "tenant.yaml")

    state = emulator.state()
    data = yaml.safe_load(text)
    assert text.splitlines()[0].startswith("# yaml-language-server: $schema=")
    emails = [u["email"] for u in data["users"]]
    assert emails == sorted(emails, key=str.casefold)
    assert len(emails) == len(state["users"])
    assert {ref["id"] for ref in data["products"].values()} == {p["id"] for p in state["products"]}
    by_email = {u["email"]: u for u in data["users"]}
    assert by_email[users[0]["email"]]["lastName"] == "No"
    assert by_email[users[0]["email"]]["firstName"] == "1e3"
    assert by_email[users[2]["email"]]["active"] is False
    assert by_email["Mixed.Case@Example.com"]["lastName"] == "O'Neil: Jr"
    # A second export of an unchanged tenant is the same file but for its time stamp.
    again = round_trip(emulator, tmp_path / "again.yaml")
    strip = lambda t: [line for line in t.splitlines() if not line.startswith("# Exported")]  # noqa: E731
    assert strip(again) == strip(text)


def test_export_of_an_empty_tenant(emulator_factory: Any, tmp_path: Path) -> None:
    emulator = emulator_factory(users=0, products=0)
    text = round_trip(emulator, tmp_path / "empty.yaml")
    assert yaml.safe_load(text) == {"version": 1, "users": []}


def test_export_for_one_domain_scopes_the_file(emulator: Any, tmp_path: Path) -> None:
    text = round_trip(emulator, tmp_path / "eu.yaml", "--domain", "eu.example.com")
    data = yaml.safe_load(text)
    assert data["settings"]["scope"]["emailDomains"] == ["eu.example.com"]
    assert data["users"] and all(u["email"].endswith("@eu.example.com") for u in data["users"])


def test_export_to_stdout_and_never_over_an_existing_file(emulator: Any, tmp_path: Path) -> None:
    code, out, err = astuple(run_cli(emulator, "export"))
    assert code == 0 and out.startswith("# yaml-language-server:")
    assert "Exported" in err
    existing = tmp_path / "mine.yaml"
    existing.write_text("hand-written\n")
    code, _, err = astuple(run_cli(emulator, "export", "--out", str(existing)))
    assert code == 1 and "--force" in err
    assert existing.read_text() == "hand-written\n"
    code, _, _ = astuple(run_cli(emulator, "export", "--out", str(existing), "--force"))
    assert code == 0 and existing.read_text().startswith("# yaml-language-server:")
