"""drift end to end: the CLI against the emulator, out-of-band changes made by a person.

The desired state is the tenant's own export, so every difference the tests see was
made out of band after it, by a known person, through the emulator's web-UI door.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.cli import run_against as run_cli

from reconciler.drift.render import MARKER
from reconciler.render.mdescape import md_text


def exported(emulator: Any, tmp_path: Path) -> Path:
    path = tmp_path / "tenant.yaml"
    result = run_cli(emulator, "export", "--out", str(path))
    assert result.code == 0, result.stderr
    return path


def people(emulator: Any) -> tuple[str, list[dict[str, Any]]]:
    """An administrator to act as, and the active plain users to act on."""
    users = [u for u in emulator.state()["users"] if u["status"] == "Active"]
    admin = next(u["email"] for u in users if u["role"] == "Administrator")
    return admin, [u for u in users if u["role"] == "User"]


def audit_requests(emulator: Any) -> tuple[int, int]:
    """(customer-log requests, per-user history requests) the emulator has served."""
    counts = emulator.stats()["requests"]
    log = counts.get("GET /public/v1/audit", 0)
    per_user = sum(n for key, n in counts.items() if key.endswith("/audit") and "/user/" in key)
    return log, per_user


def test_in_sync_exits_0_and_reads_no_audit(emulator: Any, tmp_path: Path) -> None:
    desired = exported(emulator, tmp_path)
    result = run_cli(emulator, "drift", str(desired))
    assert result.code == 0, result.stderr
    assert "No drift" in result.stdout
    assert audit_requests(emulator) == (0, 0)


def test_update_by_a_person_names_them_and_the_field(emulator: Any, tmp_path: Path) -> None:
    desired = exported(emulator, tmp_path)
    admin, users = people(emulator)
    target = users[0]
    emulator.out_of_band("update", email=target["email"], role="Administrator", actor=admin)
    emulator.out_of_band("update", email=users[1]["email"], lastName="Renamed", actor=admin)

    result = run_cli(emulator, "drift", str(desired))
    assert result.code == 2, result.stderr
    out = result.stdout
    assert f"~ {target['email']}" in out
    assert "role: Administrator (desired: User)" in out
    assert f"updated by {admin} (person) at " in out
    assert "User -> Administrator" in out
    assert f"lastName: Renamed (desired: {users[1]['lastName']})" in out
    assert f"{users[1]['lastName']} -> Renamed" in out
    assert "Drift: 2 users differ" in out


def test_provision_deprovision_delete_create_out_of_band(emulator: Any, tmp_path: Path) -> None:
    desired = exported(emulator, tmp_path)
    admin, users = people(emulator)
    state = emulator.state()
    holding = {pid: set(uids) for pid, uids in state["provisioning"].items()}
    granted_to = next(u for u in users if u["id"] not in holding["p-agileplace-sandbox"])
    taken_from = next(u for u in users if u["id"] in holding["p-portfolios-prod"])
    deleted = next(u for u in users if u not in (granted_to, taken_from))
    emulator.out_of_band(
        "provision", email=granted_to["email"], productId="p-agileplace-sandbox", actor=admin
    )
    emulator.out_of_band(
        "deprovision", email=taken_from["email"], productId="p-portfolios-prod", actor=admin
    )
    emulator.out_of_band("delete", email=deleted["email"], actor=admin)
    emulator.out_of_band(
        "create", email="walk.in@example.com", firstName="Walk", lastName="In", actor=admin
    )

    result = run_cli(emulator, "drift", "--format", "json", str(desired))
    assert result.code == 2, result.stderr
    report = json.loads(result.stdout)
    assert report["counts"] == {"changed": 2, "deleted_out_of_band": 1, "created_out_of_band": 1}
    assert report["unexplained"] == 0
    by_email = {u["email"].casefold(): u for u in report["users"]}

    def only_item(email: str) -> dict[str, Any]:
        (item,) = by_email[email.casefold()]["items"]
        assert item["attribution"]["actor"] == admin
        return item

    item = only_item(granted_to["email"])
    assert item["kind"] == "product" and item["product_id"] == "p-agileplace-sandbox"
    assert item["attribution"]["action"] == "product.provisioned"
    item = only_item(taken_from["email"])
    assert item["product_id"] == "p-portfolios-prod" and item["desired"] is True
    assert item["attribution"]["action"] == "product.deprovisioned"
    assert by_email[deleted["email"].casefold()]["state"] == "deleted_out_of_band"
    assert only_item(deleted["email"])["attribution"]["action"] == "user.deleted"
    assert by_email["walk.in@example.com"]["state"] == "created_out_of_band"
    assert only_item("walk.in@example.com")["attribution"]["action"] == "user.created"

    text = run_cli(emulator, "drift", str(desired)).stdout
    assert f"- {deleted['email']}: deleted out of band" in text
    assert "+ walk.in@example.com: created out of band" in text


def test_markdown_for_a_ci_issue(emulator: Any, tmp_path: Path) -> None:
    desired = exported(emulator, tmp_path)
    admin, users = people(emulator)
    emulator.out_of_band("deactivate", email=users[0]["email"], actor=admin)
    result = run_cli(emulator, "drift", "--format", "markdown", str(desired))
    assert result.code == 2
    md = result.stdout
    assert md.splitlines()[0] == MARKER
    assert "| User | Difference | Who | When | Event |" in md
    # Tenant values are escaped Markdown (plain text once rendered): compare escaped.
    row = f"| {md_text(users[0]['email'])} | {md_text('active: false (desired: true)')} |"
    assert f"{row} {md_text(admin + ' (person)')} |" in md
    assert md_text("user.deactivated") in md


def test_difference_older_than_since_says_no_audit_event(emulator: Any, tmp_path: Path) -> None:
    desired = exported(emulator, tmp_path)
    admin, users = people(emulator)
    emulator.out_of_band("update", email=users[0]["email"], firstName="Changed", actor=admin)
    # The change is a second old at most; a window that ends before it finds nothing.
    result = run_cli(emulator, "drift", "--since", "2020-01-01", str(desired))
    assert "updated by" in result.stdout
    text = Path(desired).read_text()
    # Change the desired state instead of the tenant: a difference no event explains.
    edited = tmp_path / "edited.yaml"
    edited.write_text(text.replace(f"firstName: {users[1]['firstName']}\n", "firstName: Zed\n", 1))
    result = run_cli(emulator, "drift", str(edited))
    assert result.code == 2
    assert "no audit event found since" in result.stdout


def test_errors_exit_1_without_traceback(emulator: Any, tmp_path: Path) -> None:
    desired = exported(emulator, tmp_path)
    result = run_cli(emulator, "drift", "--since", "last tuesday", str(desired))
    assert result.code != 0 and result.code != 2
    assert "not a time" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2\nusers: []\n")
    result = run_cli(emulator, "drift", str(bad))
    assert result.code == 1
    assert audit_requests(emulator) == (0, 0)


def test_many_drifted_users_read_the_customer_log_once(emulator: Any, tmp_path: Path) -> None:
    desired = exported(emulator, tmp_path)
    admin, users = people(emulator)
    for user in users[:8]:
        emulator.out_of_band("update", email=user["email"], lastName="Moved", actor=admin)
    emulator.reset_stats()
    result = run_cli(emulator, "-v", "drift", str(desired))
    assert result.code == 2
    assert audit_requests(emulator) == (1, 0)
    assert "read from the customer audit log" in result.stdout
    assert "audit history:" in result.stderr  # -v says which way and why


@pytest.mark.slow
def test_one_drifted_user_in_a_busy_log_reads_only_their_history(
    emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = emulator_factory(users=320, products=3, seed=5)
    admin, users = people(emulator)
    assert len(users) > 210
    # A busy month: over 200 users updated (more than one page of the customer log) ...
    for user in users[:210]:
        emulator.out_of_band("update", email=user["email"], lastName="Busy", actor=admin)
    desired = exported(emulator, tmp_path)  # ... all of it already in the desired state.
    emulator.out_of_band("update", email=users[0]["email"], role="Administrator", actor=admin)
    emulator.reset_stats()
    result = run_cli(emulator, "-v", "drift", str(desired))
    assert result.code == 2
    assert audit_requests(emulator) == (0, 1)
    assert "read from each drifted user's history" in result.stdout
    assert f"updated by {admin}" in result.stdout


def test_a_log_longer_than_estimated_is_given_up_for_user_histories(
    emulator_factory: Any, tmp_path: Path
) -> None:
    # The server pages the customer log 10 at a time, so it costs far more than the
    # estimate (one page of up to 200); drift stops paying for it once it has cost
    # as much as the three drifted users' own histories.
    emulator = emulator_factory(users=25, products=5, seed=1, page_max={"audit": 10})
    desired = exported(emulator, tmp_path)
    admin, users = people(emulator)
    for n in range(40):  # noise the customer log must page through
        emulator.out_of_band("update", email=users[3]["email"], firstName=f"Noise{n}", actor=admin)
    emulator.out_of_band(
        "update", email=users[3]["email"], firstName=users[3]["firstName"], actor=admin
    )
    for user in users[:3]:
        emulator.out_of_band("update", email=user["email"], lastName="Moved", actor=admin)
    emulator.reset_stats()
    result = run_cli(emulator, "-v", "drift", str(desired))
    assert result.code == 2
    log_requests, per_user_requests = audit_requests(emulator)
    assert per_user_requests == 3
    assert log_requests <= 4  # not the 5 pages the whole log takes
    assert "longer than estimated" in result.stderr
    assert "read from each drifted user's history" in result.stdout
    assert result.stdout.count(f"updated by {admin}") == 3
