"""plan and apply end to end: the CLI against the emulator over real HTTP.

The tenant (`tests/fixtures/e2e/tenant.json`) has AgilePlace with 3 seats, all taken;
`desired.yaml` needs every change kind but delete, and fits only if the revoke and
the deactivation free their seats before the grants run.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.cli import run_against as run_cli
from support.e2e import DESIRED, FIXTURES, variant

from reconciler.cli.main import main
from reconciler.render.mdescape import md_text


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same retries, shorter back-off: keeps fault scenarios quick without changing them."""
    from reconciler.cli import connection

    real = connection.PlanviewBackend

    def backend(settings: Any) -> Any:
        return real(replace(settings, backoff_base=0.01))

    monkeypatch.setattr(connection, "PlanviewBackend", backend)


def tenant_state(emulator: Any) -> dict[str, Any]:
    """Users by lower-cased email, and holders' emails per product: what apply changes."""
    state = emulator.state()
    users = {u["email"].casefold(): u for u in state["users"]}
    by_id = {u["id"]: u["email"].casefold() for u in state["users"]}
    holders = {
        pid: sorted(by_id[uid] for uid in uids) for pid, uids in state["provisioning"].items()
    }
    return {"users": users, "provisioning": holders}




def strict(tmp_path: Path) -> Path:
    """Two removals planned (a revoke and a deactivation) against a limit of one."""
    return variant(
        tmp_path,
        "strict.yaml",
        (
            "  unmanagedUsers: deactivate\n",
            "  unmanagedUsers: deactivate\n  safety:\n    maxRemovals: 1\n",
        ),
    )


@pytest.fixture
def tenant(emulator_factory: Any) -> Any:
    return emulator_factory(state=json.loads((FIXTURES / "tenant.json").read_text()))


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # apply's default journal goes under the working directory.
    monkeypatch.chdir(tmp_path)


def assert_converged(state: dict[str, Any]) -> None:
    users, holders = state["users"], state["provisioning"]
    ann = users["ann.lee@example.com"]
    assert (ann["role"], ann["lastName"]) == ("Administrator", "Lee-Smith")
    assert ann["email"] == "Ann.Lee@example.com"  # case differences are not changes
    assert users["cat.day@example.com"]["status"] in ("Active", "Pending")
    assert users["dan.fox@example.com"]["status"] == "Deactivated"
    frank = users["frank.new@example.com"]
    assert (frank["firstName"], frank["lastName"], frank["role"]) == ("Frank", "New", "User")
    # Seats (held by active and pending users only): the revoke and the deactivation
    # made room for cat and frank.
    seated = [e for e in holders["p-ap"] if users[e]["status"] != "Deactivated"]
    assert seated == [
        "bob.ray@example.com",
        "cat.day@example.com",
        "frank.new@example.com",
    ]
    managed = [e for e in holders["p-pf"] if e.endswith("@example.com") and "glass" not in e]
    assert managed == ["ann.lee@example.com", "bob.ray@example.com", "eve.kim@example.com"]


def journal_files(workdir: Path) -> list[Path]:
    return sorted((workdir / ".reconciler").glob("journal-*.jsonl"))


# ----------------------------------------------------------------------------- apply


def test_apply_makes_every_change_then_plan_shows_none(tenant: Any, tmp_path: Path) -> None:
    before = tenant_state(tenant)
    assert before["provisioning"]["p-ap"] == [
        "ann.lee@example.com",
        "bob.ray@example.com",
        "dan.fox@example.com",
    ]

    applied = run_cli(tenant, "apply", str(DESIRED), "--auto-approve")

    assert applied.code == 0, applied.stderr
    assert "Apply complete: 8 succeeded, 0 failed, 0 skipped." in applied.stdout
    assert "API:" in applied.stderr  # the request summary
    after = tenant_state(tenant)
    assert_converged(after)
    # Unmanaged product and unchanged user untouched.
    assert after["provisioning"]["p-sb"] == before["provisioning"]["p-sb"]
    assert after["users"]["eve.kim@example.com"] == before["users"]["eve.kim@example.com"]

    journals = journal_files(tmp_path)
    assert len(journals) == 1
    assert stat.S_IMODE(os.stat(journals[0]).st_mode) == 0o600
    records = [json.loads(line) for line in journals[0].read_text().splitlines()]
    assert sorted(r["kind"] for r in records) == sorted(
        ["update", "revoke", "grant", "grant", "grant", "reactivate", "create", "deactivate"]
    )
    assert all(r["outcome"] == "ok" and r["target"] == tenant.url for r in records)
    assert tenant.client_secret not in journals[0].read_text()

    again = run_cli(tenant, "plan", str(DESIRED), "--detailed-exitcode")
    assert again.code == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout

    nothing = run_cli(tenant, "apply", str(DESIRED))  # no TTY, but nothing to confirm
    assert nothing.code == 0
    assert "Nothing to apply" in nothing.stdout
    assert len(journal_files(tmp_path)) == 1  # no empty journal for a no-op


def test_apply_without_tty_needs_auto_approve(tenant: Any) -> None:
    before = tenant.state()

    result = run_cli(tenant, "apply", str(DESIRED))

    assert result.code == 1
    assert "--auto-approve" in result.stderr
    assert "frank.new@example.com" in result.stdout  # the plan was shown
    assert tenant.state() == before


def test_apply_on_a_tty_accepts_only_yes(tenant: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.cli import apply_cmd

    monkeypatch.setattr(apply_cmd, "stdin_is_tty", lambda: True)
    before = tenant.state()

    declined = run_cli(tenant, "apply", str(DESIRED), input="y\n")

    assert declined.code == 1
    assert f"Apply these 8 changes to {tenant.url}? Only 'yes' will be accepted" in (
        declined.stdout + declined.stderr
    )
    assert "cancelled" in declined.stderr
    assert tenant.state() == before

    accepted = run_cli(tenant, "apply", str(DESIRED), input="yes\n")
    assert accepted.code == 0, accepted.stderr
    assert_converged(tenant_state(tenant))


def test_validation_error_changes_nothing_and_saves_nothing(tenant: Any, tmp_path: Path) -> None:
    before = tenant.state()
    requests_before = tenant.stats()

    applied = run_cli(tenant, "apply", str(FIXTURES / "invalid.yaml"), "--auto-approve")
    planned = run_cli(tenant, "plan", str(FIXTURES / "invalid.yaml"), "--out", "plan.json")

    for result in (applied, planned):
        assert result.code == 1
        assert "invalid.yaml:" in result.stderr  # points at the file and line
    assert not (tmp_path / "plan.json").exists()
    assert not (tmp_path / ".reconciler").exists()
    assert tenant.state() == before
    # plan starts reading while the files load (issue 13): reads only, never a write
    after = tenant.stats()["requests"]
    spent = {k: n - requests_before["requests"].get(k, 0) for k, n in after.items()}
    assert all(k.startswith(("GET ", "POST /io/v1/oauth2/token")) for k, n in spent.items() if n)


def test_missing_paths_is_an_error(tenant: Any) -> None:
    result = run_cli(tenant, "plan")
    assert result.code == 1
    assert "no desired-state files given" in result.stderr


def test_delete_needs_the_policy_and_the_flag(tenant: Any, tmp_path: Path) -> None:
    deleting = variant(
        tmp_path, "delete.yaml", ("unmanagedUsers: deactivate", "unmanagedUsers: delete")
    )

    without_flag = run_cli(tenant, "plan", str(deleting), "--format", "json")
    assert without_flag.code == 0
    counts = json.loads(without_flag.stdout)["counts"]
    assert (counts["delete"], counts["deactivate"]) == (0, 1)

    applied = run_cli(tenant, "apply", str(deleting), "--auto-approve", "--allow-delete")
    assert applied.code == 0, applied.stdout + applied.stderr
    assert "dan.fox@example.com" not in tenant_state(tenant)["users"]
    assert run_cli(tenant, "plan", str(deleting), "--detailed-exitcode").code == 0


def test_a_saved_plan_that_deletes_needs_allow_delete_again(tenant: Any, tmp_path: Path) -> None:
    # Deleting is permanent: consent is given when planning and again when applying,
    # so a saved plan edited to turn a deactivation into a delete cannot slip through.
    deleting = variant(
        tmp_path, "delete.yaml", ("unmanagedUsers: deactivate", "unmanagedUsers: delete")
    )
    planned = run_cli(tenant, "plan", str(deleting), "--allow-delete", "--out", "plan.json")
    assert planned.code == 0, planned.stderr
    before = tenant.state()

    refused = run_cli(tenant, "apply", "--plan", "plan.json", str(deleting))
    assert refused.code == 1
    assert "deletes 1 user, permanently: apply it with --allow-delete" in refused.stderr
    assert tenant.state() == before

    applied = run_cli(tenant, "apply", "--plan", "plan.json", str(deleting), "--allow-delete")
    assert applied.code == 0, applied.stdout + applied.stderr
    assert "dan.fox@example.com" not in tenant_state(tenant)["users"]


# ----------------------------------------------------------------------------- plan


def test_plan_exit_codes_and_formats(tenant: Any) -> None:
    before = tenant.state()

    plain = run_cli(tenant, "plan", str(DESIRED))
    detailed = run_cli(tenant, "plan", str(DESIRED), "--detailed-exitcode")
    as_json = run_cli(tenant, "plan", str(DESIRED), "--format", "json")
    as_markdown = run_cli(tenant, "plan", str(DESIRED), "--format", "markdown")

    assert plain.code == 0 and as_json.code == 0 and as_markdown.code == 0
    assert detailed.code == 2
    assert "+ frank.new@example.com" in plain.stdout
    assert "API:" in plain.stderr
    data = json.loads(as_json.stdout)
    assert data["target"] == tenant.url
    assert data["counts"]["create"] == 1 and len(data["changes"]) == 8
    assert md_text("frank.new@example.com") in as_markdown.stdout  # escaped Markdown
    assert tenant.state() == before  # plan never writes


@pytest.mark.usefixtures("fast_retries")
def test_plan_reports_a_connection_failure_as_exit_1(tenant: Any, tmp_path: Path) -> None:
    url = tenant.url
    tenant.stop()
    env_run = CliRunner()
    with env_run.isolation(
        env={
            "PLANVIEW_ADMIN_URL": url,
            "PLANVIEW_ADMIN_CLIENT_ID": "x",
            "PLANVIEW_ADMIN_CLIENT_SECRET": "y" * 20,
        }
    ) as streams:
        with pytest.raises(SystemExit) as exited:
            main(["plan", str(DESIRED), "--out", "plan.json", "--detailed-exitcode"])
        stderr = streams[1].getvalue().decode()
    assert exited.value.code == 1
    assert "Traceback" not in stderr
    assert not (tmp_path / "plan.json").exists()


# ----------------------------------------------------------------------------- safety


def test_safety_block_exit_3_then_override(tenant: Any, tmp_path: Path) -> None:
    guarded = strict(tmp_path)
    before = tenant.state()

    planned = run_cli(tenant, "plan", str(guarded), "--detailed-exitcode")
    assert planned.code == 3
    assert "BLOCKED" in planned.stdout and "--allow-removals 2" in planned.stdout
    assert "dan.fox@example.com" in planned.stdout  # the blocked plan is still shown

    refused = run_cli(tenant, "apply", str(guarded), "--auto-approve")
    assert refused.code == 3
    assert "--allow-removals 2" in refused.stderr
    assert tenant.state() == before

    too_few = run_cli(tenant, "apply", str(guarded), "--auto-approve", "--allow-removals", "1")
    assert too_few.code == 3
    assert tenant.state() == before

    allowed = run_cli(tenant, "apply", str(guarded), "--auto-approve", "--allow-removals", "2")
    assert allowed.code == 0, allowed.stdout + allowed.stderr
    assert_converged(tenant_state(tenant))


# ----------------------------------------------------------------------------- saved plans


def test_saved_plan_is_applied_as_reviewed(tenant: Any, tmp_path: Path) -> None:
    planned = run_cli(tenant, "plan", str(DESIRED), "--out", "plan.json")
    assert planned.code == 0
    saved = tmp_path / "plan.json"
    assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    assert json.loads(saved.read_text())["format_version"] == 2
    assert tenant.client_secret not in saved.read_text()

    applied = run_cli(tenant, "apply", "--plan", str(saved), str(DESIRED))

    assert applied.code == 0, applied.stdout + applied.stderr
    assert_converged(tenant_state(tenant))
    assert run_cli(tenant, "plan", str(DESIRED), "--detailed-exitcode").code == 0


def test_stale_saved_plan_is_refused_and_changes_nothing(tenant: Any, tmp_path: Path) -> None:
    assert run_cli(tenant, "plan", str(DESIRED), "--out", "plan.json").code == 0
    # Someone edits Ann in the web UI after the plan was reviewed.
    tenant.out_of_band("update", email="ann.lee@example.com", firstName="Annie")
    before = tenant.state()

    applied = run_cli(tenant, "apply", "--plan", "plan.json", str(DESIRED), "--auto-approve")

    assert applied.code == 1
    assert "plan is stale" in applied.stderr
    assert "ann.lee@example.com" in applied.stderr
    assert "Re-run plan" in applied.stderr
    assert tenant.state() == before
    assert not (tmp_path / ".reconciler").exists()


def test_saved_plan_is_stale_when_a_planned_user_appears(tenant: Any, tmp_path: Path) -> None:
    assert run_cli(tenant, "plan", str(DESIRED), "--out", "plan.json").code == 0
    tenant.out_of_band("create", email="Frank.New@example.com", firstName="Frank", lastName="Other")
    before = tenant.state()

    applied = run_cli(tenant, "apply", "--plan", "plan.json", str(DESIRED))

    assert applied.code == 1
    assert "create frank.new@example.com: a user with this email now exists" in applied.stderr
    assert tenant.state() == before


def test_saved_plan_for_another_tenant_is_refused(
    tenant: Any, emulator_factory: Any, tmp_path: Path
) -> None:
    other = emulator_factory(state=json.loads((FIXTURES / "tenant.json").read_text()))
    assert run_cli(other, "plan", str(DESIRED), "--out", "plan.json").code == 0
    before = tenant.state()

    applied = run_cli(tenant, "apply", "--plan", "plan.json", str(DESIRED))

    assert applied.code == 1
    assert f"made for {other.url}" in applied.stderr
    assert tenant.state() == before


def test_saved_plan_with_other_desired_files_is_refused(tenant: Any, tmp_path: Path) -> None:
    assert run_cli(tenant, "plan", str(DESIRED), "--out", "plan.json").code == 0
    edited = variant(tmp_path, "edited.yaml", ("lastName: Lee-Smith", "lastName: Lee-Jones"))
    before = tenant.state()

    applied = run_cli(tenant, "apply", str(edited), "--plan", "plan.json")

    assert applied.code == 1
    assert "desired-state files differ" in applied.stderr
    assert tenant.state() == before


def test_saved_blocked_plan_needs_the_override(tenant: Any, tmp_path: Path) -> None:
    guarded = strict(tmp_path)
    assert run_cli(tenant, "plan", str(guarded), "--out", "blocked.json").code == 3
    before = tenant.state()

    refused = run_cli(tenant, "apply", "--plan", "blocked.json", str(guarded))
    assert refused.code == 3
    assert tenant.state() == before

    allowed = run_cli(
        tenant, "apply", "--plan", "blocked.json", str(guarded), "--allow-removals", "2"
    )
    assert allowed.code == 0, allowed.stdout + allowed.stderr
    assert_converged(tenant_state(tenant))


def test_an_override_given_to_plan_must_be_given_to_apply_again(
    tenant: Any, tmp_path: Path
) -> None:
    guarded = strict(tmp_path)
    planned = run_cli(tenant, "plan", str(guarded), "--allow-removals", "2", "--out", "ok.json")
    assert planned.code == 0
    assert "--allow-removals 2" in planned.stderr  # the hint says how to apply it
    before = tenant.state()

    refused = run_cli(tenant, "apply", "--plan", "ok.json", str(guarded))
    assert refused.code == 3
    assert "does not carry over" in refused.stderr
    assert tenant.state() == before

    applied = run_cli(tenant, "apply", "--plan", "ok.json", str(guarded), "--allow-removals", "2")
    assert applied.code == 0, applied.stdout + applied.stderr
    assert_converged(tenant_state(tenant))


def test_a_saved_plan_without_its_files_allows_no_removal_unasked(
    tenant: Any, tmp_path: Path
) -> None:
    # The file alone cannot vouch for its limit: it could have been rewritten whole.
    assert run_cli(tenant, "plan", str(DESIRED), "--out", "plan.json").code == 0
    before = tenant.state()

    refused = run_cli(tenant, "apply", "--plan", "plan.json")
    assert refused.code == 3
    assert "give apply the desired-state files" in refused.stderr
    assert tenant.state() == before

    digest = json.loads((tmp_path / "plan.json").read_text())["digest"]
    pinned = run_cli(tenant, "apply", "--plan", "plan.json", "--expect-digest", digest)
    assert pinned.code == 0, pinned.stdout + pinned.stderr
    assert_converged(tenant_state(tenant))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("this is not json", "not a saved plan"),
        ('{"format_version": 7}', "unsupported plan format version 7"),
        ('{"format_version": 1}', "unsupported plan format version 1"),
        ('{"format_version": 2, "changes": []}', "malformed"),
    ],
)
def test_malformed_saved_plan_is_refused(
    tenant: Any, tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "bad.json").write_text(content)
    before = tenant.state()

    applied = run_cli(tenant, "apply", "--plan", "bad.json")

    assert applied.code == 1
    assert message in applied.stderr
    assert tenant.state() == before


# ----------------------------------------------------------------------------- scope


def test_protected_and_out_of_scope_users_are_never_touched(
    emulator_factory: Any, tmp_path: Path
) -> None:
    state = json.loads((FIXTURES / "tenant.json").read_text())
    state["users"] += [
        {
            "id": "u-glass",
            "email": "break-glass@example.com",
            "firstName": "Break",
            "lastName": "Glass",
            "role": "Administrator",
            "status": "Active",
        },
        {
            "id": "u-ext",
            "email": "ext.partner@partner.org",
            "firstName": "Ext",
            "lastName": "Partner",
            "role": "User",
            "status": "Active",
        },
    ]
    state["provisioning"]["p-pf"] += ["u-glass", "u-ext"]
    tenant = emulator_factory(state=state)
    scoped = variant(
        tmp_path,
        "scoped.yaml",
        (
            "  unmanagedUsers: deactivate\n",
            "  unmanagedUsers: deactivate\n"
            '  protectedUsers: ["break-glass@*"]\n'
            "  scope:\n    emailDomains: [example.com]\n",
        ),
    )

    planned = run_cli(tenant, "plan", str(scoped))
    assert planned.code == 0
    assert "break-glass@example.com" in planned.stdout  # listed as skipped, with why
    assert "protected" in planned.stdout
    assert "partner.org" not in planned.stdout  # out of scope: invisible

    applied = run_cli(tenant, "apply", str(scoped), "--auto-approve")

    assert applied.code == 0, applied.stdout + applied.stderr
    after = tenant_state(tenant)
    assert_converged(after)
    for email in ("break-glass@example.com", "ext.partner@partner.org"):
        assert after["users"][email]["status"] == "Active"
        assert email in after["provisioning"]["p-pf"]
    assert run_cli(tenant, "plan", str(scoped), "--detailed-exitcode").code == 0


def test_saved_plan_without_deletes_accepts_allow_delete(tenant: Any, tmp_path: Path) -> None:
    assert run_cli(tenant, "plan", str(DESIRED), "--out", "plan.json").code == 0

    applied = run_cli(tenant, "apply", "--plan", "plan.json", str(DESIRED), "--allow-delete")

    assert applied.code == 0, applied.stdout + applied.stderr
    assert run_cli(tenant, "plan", str(DESIRED), "--detailed-exitcode").code == 0
