"""--target and the administrator invariant end to end: the CLI against the emulator.

The tenant and desired state are the e2e scenario's (`tests/fixtures/e2e/`): dan.fox
is not listed (deactivated by a whole plan), frank.new is created with AgilePlace,
bob.ray is the tenant's one Administrator and ann.lee is promoted to a second.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.cli import run_against as run_cli
from support.e2e import DESIRED, FIXTURES, variant

ROUTINE = "not for routine use"


@pytest.fixture
def tenant(emulator_factory: Any) -> Any:
    return emulator_factory(state=json.loads((FIXTURES / "tenant.json").read_text()))


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # apply's default journal goes under the working directory




def users(emulator: Any) -> dict[str, dict[str, Any]]:
    return {u["email"].casefold(): u for u in emulator.state()["users"]}


def writes(emulator: Any) -> dict[str, int]:
    requests = emulator.stats()["requests"]
    return {k: n for k, n in requests.items() if not k.startswith(("GET ", "POST /io/v1/oauth2"))}


# ----------------------------------------------------------------------------- --target


def test_targeted_plan_holds_only_that_user_and_says_so_in_every_format(tenant: Any) -> None:
    text = run_cli(tenant, "plan", str(DESIRED), "--target", "Dan.Fox@example.com")
    assert text.code == 0, text.stderr
    assert text.stdout.splitlines()[3].startswith("Targeted plan (--target dan.fox@example.com)")
    assert "dan.fox@example.com (deactivate)" in text.stdout
    assert "frank.new" not in text.stdout and "cat.day" not in text.stdout.split("Warnings")[0]
    assert ROUTINE in text.stderr  # Terraform's warning, on stderr too

    markdown = run_cli(
        tenant, "plan", str(DESIRED), "--target", "dan.fox@example.com", "--format", "markdown"
    )
    assert "> [!WARNING]" in markdown.stdout.split("####")[0]

    data = json.loads(
        run_cli(
            tenant, "plan", str(DESIRED), "--target", "dan.fox@example.com", "--format", "json"
        ).stdout
    )
    assert data["targets"] == ["dan.fox@example.com"]
    assert {(c["kind"], c["email"]) for c in data["changes"]} <= {
        ("deactivate", "dan.fox@example.com"),
        ("revoke", "dan.fox@example.com"),
    }
    assert any(ROUTINE in w for w in data["warnings"])


def test_a_product_target_never_deactivates_the_unlisted_user(tenant: Any) -> None:
    result = run_cli(
        tenant, "plan", str(DESIRED), "--target", "product:agileplace", "--format", "json"
    )
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    kinds = {(c["kind"], c["email"]) for c in data["changes"]}
    assert ("deactivate", "dan.fox@example.com") not in kinds
    # frank's grant needs frank: the create comes with it, and the plan says so
    assert ("create", "frank.new@example.com") in kinds
    assert ("grant", "frank.new@example.com") in kinds
    assert all(c["product"] in (None, "agileplace") for c in data["changes"])
    assert any("create of frank.new@example.com is included" in w for w in data["warnings"])


def test_apply_with_a_target_changes_only_that_user(tenant: Any) -> None:
    before = users(tenant)
    result = run_cli(
        tenant, "apply", str(DESIRED), "--target", "dan.fox@example.com", "--auto-approve"
    )
    assert result.code == 0, result.stderr
    assert ROUTINE in result.stderr
    after = users(tenant)
    assert after["dan.fox@example.com"]["status"] == "Deactivated"
    assert "frank.new@example.com" not in after
    for email in ("ann.lee@example.com", "cat.day@example.com", "bob.ray@example.com"):
        assert after[email] == before[email]


def test_the_removal_limit_counts_the_targeted_changes(tenant: Any, tmp_path: Path) -> None:
    strict = variant(
        tmp_path,
        "strict.yaml",
        (
            "  unmanagedUsers: deactivate\n",
            "  unmanagedUsers: deactivate\n  safety:\n    maxRemovals: 1\n",
        ),
    )
    assert run_cli(tenant, "plan", str(strict)).code == 3  # the whole plan: 2+ removals
    before = tenant.state()
    two = run_cli(
        tenant,
        "apply",
        str(strict),
        "--target",
        "dan.fox@example.com",
        "--target",
        "ann.lee@example.com",
        "--auto-approve",
    )
    assert two.code == 3, two.stdout + two.stderr
    assert tenant.state() == before
    one = run_cli(tenant, "apply", str(strict), "--target", "ann.lee@example.com", "--auto-approve")
    assert one.code == 0, one.stdout + one.stderr
    assert users(tenant)["ann.lee@example.com"]["role"] == "Administrator"
    assert users(tenant)["dan.fox@example.com"]["status"] == "Active"


def test_a_saved_targeted_plan_is_applied_with_its_targets(tenant: Any, tmp_path: Path) -> None:
    saved = run_cli(
        tenant, "plan", str(DESIRED), "--target", "dan.fox@example.com", "--out", "plan.json"
    )
    assert saved.code == 0, saved.stderr
    assert json.loads((tmp_path / "plan.json").read_text())["targets"] == ["dan.fox@example.com"]

    refused = run_cli(
        tenant, "apply", "--plan", "plan.json", str(DESIRED), "--target", "ann.lee@example.com"
    )
    assert refused.code == 1 and "records its own targets" in refused.stderr

    applied = run_cli(tenant, "apply", "--plan", "plan.json", str(DESIRED))
    assert applied.code == 0, applied.stdout + applied.stderr
    assert "Targeted plan (--target dan.fox@example.com)" in applied.stdout
    after = users(tenant)
    assert after["dan.fox@example.com"]["status"] == "Deactivated"
    assert "frank.new@example.com" not in after


def test_an_unknown_alias_is_an_error_and_an_idle_email_a_warning(tenant: Any) -> None:
    unknown = run_cli(tenant, "plan", str(DESIRED), "--target", "product:nope")
    assert unknown.code == 1
    assert "product:nope names a product alias that is not defined" in unknown.stderr
    assert unknown.stdout == ""

    idle = run_cli(tenant, "plan", str(DESIRED), "--target", "eve.kim@example.com")
    assert idle.code == 0
    assert "--target eve.kim@example.com: the plan has no change for this user." in idle.stdout

    malformed = run_cli(tenant, "plan", str(DESIRED), "--target", "eve")
    assert malformed.code == 1 and "neither an email nor product:ALIAS" in malformed.stderr


def test_drift_with_a_target_reports_only_that_user(tenant: Any) -> None:
    whole = json.loads(run_cli(tenant, "drift", str(DESIRED), "--format", "json").stdout)
    assert len(whole["users"]) > 1
    result = run_cli(
        tenant, "drift", str(DESIRED), "--target", "dan.fox@example.com", "--format", "json"
    )
    assert result.code == 2, result.stderr
    report = json.loads(result.stdout)
    assert [u["email"] for u in report["users"]] == ["dan.fox@example.com"]


# ----------------------------------------------------------------------------- administrators


def no_admins(tmp_path: Path) -> Path:
    """bob.ray demoted and ann.lee left a User: the tenant would have no Administrator."""
    return variant(
        tmp_path,
        "no-admins.yaml",
        ("    lastName: Lee-Smith\n    role: Administrator\n", "    lastName: Lee-Smith\n"),
        ("    lastName: Ray\n    role: Administrator\n", "    lastName: Ray\n    role: User\n"),
    )


def test_a_plan_leaving_no_administrator_is_blocked_whatever_the_override(
    tenant: Any, tmp_path: Path
) -> None:
    path = no_admins(tmp_path)
    planned = run_cli(tenant, "plan", str(path), "--allow-removals", "20")
    assert planned.code == 3, planned.stdout + planned.stderr
    assert "would leave 0 active Administrators (now 1)" in planned.stdout
    assert "Plan blocked by the administrator invariant" in planned.stderr

    before = tenant.state()
    writes_before = writes(tenant)
    applied = run_cli(tenant, "apply", str(path), "--auto-approve", "--allow-removals", "20")
    assert applied.code == 3, applied.stdout + applied.stderr
    assert "minAdministrators" in applied.stderr
    assert tenant.state() == before and writes(tenant) == writes_before


def test_a_saved_plan_is_checked_again_from_the_files(tenant: Any, tmp_path: Path) -> None:
    path = no_admins(tmp_path)
    saved = run_cli(tenant, "plan", str(path), "--out", "plan.json")
    assert saved.code == 3
    # Even with the verdict edited away (and a matching digest), apply re-counts.
    from reconciler.plan.model import Plan, SafetyVerdict

    plan = Plan.from_dict(json.loads((tmp_path / "plan.json").read_text()))
    forged = Plan(
        **{
            **{f: getattr(plan, f) for f in plan.__dataclass_fields__},
            "safety": SafetyVerdict(plan.safety.removals, 100, 5, blocked=False),
        }
    )
    (tmp_path / "forged.json").write_text(json.dumps(forged.to_dict()))
    before = tenant.state()
    writes_before = writes(tenant)
    for name in ("plan.json", "forged.json"):
        applied = run_cli(tenant, "apply", "--plan", name, str(path), "--allow-removals", "20")
        assert applied.code == 3, applied.stdout + applied.stderr
        assert "administrator invariant" in applied.stderr
    assert tenant.state() == before and writes(tenant) == writes_before


def test_the_invariant_is_judged_on_a_targeted_plan(tenant: Any, tmp_path: Path) -> None:
    # bob.ray is dropped from the files and ann.lee promoted: 1 Administrator before and
    # after, short of 2 but not lowered, so the whole plan only warns.
    text = DESIRED.read_text()
    start = text.index("  - email: bob.ray@example.com")
    end = text.index("  - email: cat.day@example.com")
    path = tmp_path / "min2.yaml"
    path.write_text(
        (text[:start] + text[end:]).replace(
            "  unmanagedUsers: deactivate\n",
            "  unmanagedUsers: deactivate\n  policy:\n    minAdministrators: 2\n",
        )
    )
    whole = run_cli(tenant, "plan", str(path))
    assert whole.code == 0, whole.stdout + whole.stderr
    assert "fewer than settings.policy.minAdministrators (2)" in whole.stdout
    # Targeting bob.ray alone deactivates him without ann.lee's promotion: blocked.
    bob = run_cli(tenant, "plan", str(path), "--target", "bob.ray@example.com")
    assert bob.code == 3, bob.stdout + bob.stderr
    assert "would leave 0 active Administrators (now 1)" in bob.stdout
