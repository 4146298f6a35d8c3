"""A saved plan edited after review (by hand, or by someone with access to the CI
workspace) must not make apply do something other than what it shows, or get past
the safety limit.

Three kinds of attacker, each tried on every field that could change what is written
or whether it is allowed:
- one who edits the file and leaves its digest: refused by the stored digest;
- one who edits the file and writes a matching digest: refused by the digest CI
  pinned (`--expect-digest`), whatever flags the run is given;
- one who rewrites the safety fields with a matching digest, where no digest is
  pinned: the limit comes from the desired-state files (or is none), never the file.
Each case starts from a real `plan --out` against a fresh tenant, and checks that the
tenant's audit log gained nothing: not one write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.cli import emulator_env, run_inprocess
from support.e2e import FIXTURES
from support.scenarios import offboard

from reconciler.plan.model import content_digest

Edit = Callable[[dict[str, Any]], None]


def change(plan: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in plan["changes"] if c["kind"] == kind)


def set_field(kind: str | None, field: str, value: Any) -> Edit:
    def edit(plan: dict[str, Any]) -> None:
        target = plan if kind is None else change(plan, kind)
        assert target[field] != value, f"{field} already {value!r}: the edit changes nothing"
        target[field] = value

    return edit


def set_safety(**values: Any) -> Edit:
    def edit(plan: dict[str, Any]) -> None:
        plan["safety"].update(values)

    return edit


def clear_removal_flags(plan: dict[str, Any]) -> None:
    for each in plan["changes"]:
        each["removal"] = False


def add_a_change(plan: dict[str, Any]) -> None:
    extra = {**change(plan, "deactivate"), "id": "c99", "email": "eve.kim@example.com"}
    plan["changes"].append(extra)


def drop_a_change(plan: dict[str, Any]) -> None:
    plan["changes"].remove(change(plan, "revoke"))


def edit_after(plan: dict[str, Any]) -> None:
    change(plan, "update")["after"]["last_name"] = "Mallory"


def edit_before(plan: dict[str, Any]) -> None:
    change(plan, "update")["before"]["last_name"] = "Mallory"


def drop_a_dependency(plan: dict[str, Any]) -> None:
    # a new user's grant made to run whether or not the create succeeded
    next(c for c in plan["changes"] if c["depends_on"] is not None)["depends_on"] = None


def edit_counts(plan: dict[str, Any]) -> None:
    plan["counts"]["deactivate"] = 0


# Every field of a saved plan that could change what apply writes or whether it may.
FIELD_EDITS = [
    pytest.param(set_field(None, "target", "https://other.example"), id="target"),
    pytest.param(set_field(None, "desired_digest", "0" * 64), id="desired_digest"),
    pytest.param(edit_counts, id="counts"),
    pytest.param(set_safety(limit=99), id="safety.limit"),
    pytest.param(set_safety(removals=0), id="safety.removals"),
    pytest.param(set_safety(managed_users=10_000), id="safety.managed_users"),
    pytest.param(set_safety(blocked=True), id="safety.blocked"),
    pytest.param(set_safety(allowed_by_override=True), id="safety.allowed_by_override"),
    pytest.param(clear_removal_flags, id="removal flags"),
    pytest.param(set_field("deactivate", "kind", "delete"), id="kind: deactivate->delete"),
    pytest.param(set_field("revoke", "kind", "grant"), id="kind: revoke->grant"),
    pytest.param(set_field("deactivate", "user_id", "u-eve"), id="user_id"),
    pytest.param(set_field("deactivate", "email", "eve.kim@example.com"), id="email"),
    pytest.param(set_field("grant", "product_id", "p-ap"), id="product_id"),
    pytest.param(set_field("grant", "product", "agileplace"), id="product"),
    pytest.param(edit_before, id="before"),
    pytest.param(edit_after, id="after"),
    pytest.param(drop_a_dependency, id="depends_on"),
    pytest.param(set_field("update", "fingerprint", "f" * 64), id="fingerprint"),
    pytest.param(add_a_change, id="a change added"),
    pytest.param(drop_a_change, id="a change dropped"),
]


@pytest.fixture
def tenant(emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    return emulator_factory(state=json.loads((FIXTURES / "tenant.json").read_text()))


def plan_to_file(env: dict[str, str], desired: Path, out: Path, *extra: str) -> dict[str, Any]:
    planned = run_inprocess(env, "plan", str(desired), "--out", str(out), *extra)
    assert planned.code in (0, 3), planned.output
    return json.loads(out.read_text())


def rewrite(path: Path, plan: dict[str, Any], *, new_digest: bool) -> None:
    if new_digest:
        plan["digest"] = content_digest(plan)
    path.write_text(json.dumps(plan))


def assert_refused(run: Any, emulator: Any, writes_before: int, code: int = 1) -> None:
    assert run.code == code, run.output
    assert "Traceback" not in run.output
    assert "Nothing was changed" in run.output or "nothing was changed" in run.output
    assert emulator.state()["audit"][writes_before:] == []


@pytest.mark.parametrize("edit", FIELD_EDITS)
def test_an_edit_that_leaves_the_digest_is_refused(edit: Edit, tenant: Any, tmp_path: Path) -> None:
    env = emulator_env(tenant)
    saved = tmp_path / "plan.json"
    plan = plan_to_file(env, FIXTURES / "desired.yaml", saved)
    edit(plan)
    rewrite(saved, plan, new_digest=False)
    writes = len(tenant.state()["audit"])

    run = run_inprocess(
        env, "apply", "--plan", str(saved), str(FIXTURES / "desired.yaml"), "--allow-delete"
    )

    assert_refused(run, tenant, writes)
    assert "was changed after it was made" in run.stderr


@pytest.mark.parametrize("edit", FIELD_EDITS)
def test_an_edit_with_a_new_digest_is_refused_by_the_pinned_one(
    edit: Edit, tenant: Any, tmp_path: Path
) -> None:
    env = emulator_env(tenant)
    saved = tmp_path / "plan.json"
    plan = plan_to_file(env, FIXTURES / "desired.yaml", saved)
    reviewed = plan["digest"]
    edit(plan)
    rewrite(saved, plan, new_digest=True)
    writes = len(tenant.state()["audit"])

    # every consent flag given: only the pin stands between the edit and the tenant
    run = run_inprocess(
        env, "apply", "--plan", str(saved), str(FIXTURES / "desired.yaml"),
        "--expect-digest", reviewed, "--allow-delete", "--allow-removals", "99",
    )  # fmt: skip

    assert_refused(run, tenant, writes)
    assert "is not the plan that was reviewed" in run.stderr


def lift_the_limit(plan: dict[str, Any]) -> None:
    """The issue's reproduction: raise the limit, clear the verdict, claim an override."""
    removals = plan["safety"]["removals"]
    plan["safety"].update(limit=removals * 10, blocked=False, allowed_by_override=True,
                          reason=f"{removals} removals within the limit")  # fmt: skip


def hide_the_removals(plan: dict[str, Any]) -> None:
    clear_removal_flags(plan)
    plan["safety"].update(removals=0, blocked=False, reason=None)


def inflate_the_managed_users(plan: dict[str, Any]) -> None:
    # against a percentage limit: 10% of 10,000 would be 1,000
    plan["safety"].update(managed_users=10_000, limit=1_000, blocked=False, reason=None)


SAFETY_EDITS = [
    pytest.param(lift_the_limit, id="limit lifted"),
    pytest.param(hide_the_removals, id="removals hidden"),
    pytest.param(inflate_the_managed_users, id="managed users inflated"),
]


@pytest.mark.parametrize("with_files", [True, False], ids=["with files", "plan file alone"])
@pytest.mark.parametrize("edit", SAFETY_EDITS)
@pytest.mark.parametrize("limit", ["5", "5%"])
def test_a_rewritten_blocked_plan_stays_blocked(
    limit: str,
    edit: Edit,
    with_files: bool,
    emulator_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    scenario = offboard(100)  # ten leavers, against a limit of 5 (or 5% of 100, so 5)
    emulator = emulator_factory(state=scenario.tenant)
    env = emulator_env(emulator)
    desired = scenario.write(tmp_path)
    written = f'"{limit}"' if limit.endswith("%") else limit
    desired.write_text(desired.read_text().replace("maxRemovals: 10", f"maxRemovals: {written}"))
    saved = tmp_path / "mass.plan"
    plan = plan_to_file(env, desired, saved)
    assert plan["safety"]["blocked"] is True
    edit(plan)
    rewrite(saved, plan, new_digest=True)  # a deliberate edit: the stored digest matches
    writes = len(emulator.state()["audit"])

    args = ["apply", "--plan", str(saved), "--auto-approve"]
    run = run_inprocess(env, *args, *([str(desired)] if with_files else []))

    assert_refused(run, emulator, writes, code=3)
    assert "10 removals exceed the limit of" in run.stderr
    assert "--allow-removals 10" in run.stderr
    # what was reviewed (a blocked plan) is still applied after an explicit, fresh consent
    allowed = run_inprocess(env, *args, str(desired), "--allow-removals", "10")
    assert allowed.code == 0, allowed.output


def test_a_pin_vouches_for_the_limit_the_reviewer_saw(tenant: Any, tmp_path: Path) -> None:
    # Without the files, a pinned digest is what lets a saved plan's removals through.
    env = emulator_env(tenant)
    saved = tmp_path / "plan.json"
    plan = plan_to_file(env, FIXTURES / "desired.yaml", saved)
    writes = len(tenant.state()["audit"])

    unpinned = run_inprocess(env, "apply", "--plan", str(saved))
    assert_refused(unpinned, tenant, writes, code=3)

    pinned = run_inprocess(env, "apply", "--plan", str(saved), "--expect-digest", plan["digest"])
    assert pinned.code == 0, pinned.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expect-digest", "sha256:xyz"], "is not a plan digest"),
        (["--expect-digest", ""], "is not a plan digest"),
        (["--expect-digest", "0" * 64], "is not the plan that was reviewed"),
    ],
)
def test_a_bad_pin_is_a_clear_error(
    args: list[str], message: str, tenant: Any, tmp_path: Path
) -> None:
    env = emulator_env(tenant)
    saved = tmp_path / "plan.json"
    plan_to_file(env, FIXTURES / "desired.yaml", saved)
    writes = len(tenant.state()["audit"])

    run = run_inprocess(env, "apply", "--plan", str(saved), str(FIXTURES / "desired.yaml"), *args)

    assert_refused(run, tenant, writes)
    assert message in run.stderr


def test_a_pin_without_a_saved_plan_is_refused(tenant: Any) -> None:
    writes = len(tenant.state()["audit"])
    run = run_inprocess(
        emulator_env(tenant), "apply", str(FIXTURES / "desired.yaml"), "--auto-approve",
        "--expect-digest", "0" * 64,
    )  # fmt: skip
    assert_refused(run, tenant, writes)
    assert "use it with --plan FILE" in run.stderr


def test_credentials_written_into_a_plans_target_are_never_shown(
    tenant: Any, tmp_path: Path
) -> None:
    env = emulator_env(tenant)
    saved = tmp_path / "plan.json"
    plan = plan_to_file(env, FIXTURES / "desired.yaml", saved)
    plan["target"] = "https://admin:hunter2secret@other.example"
    rewrite(saved, plan, new_digest=True)
    writes = len(tenant.state()["audit"])

    run = run_inprocess(env, "apply", "--plan", str(saved), str(FIXTURES / "desired.yaml"))

    assert_refused(run, tenant, writes)
    assert "made for https://other.example" in run.stderr
    assert "hunter2secret" not in run.output


def test_the_saved_plan_checks_share_one_read_of_the_users(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A percentage limit (managed users counted again) and the administrator invariant
    # (deactivations could take an administrator away) both need the tenant's users.
    monkeypatch.chdir(tmp_path)
    scenario = offboard(100)
    emulator = emulator_factory(state=scenario.tenant)
    env = emulator_env(emulator)
    desired = scenario.write(tmp_path)
    desired.write_text(desired.read_text().replace("maxRemovals: 10", 'maxRemovals: "5%"'))
    saved = tmp_path / "mass.plan"
    plan_to_file(env, desired, saved)
    before = emulator.stats()["requests"].get("GET /public/v1/user", 0)

    run = run_inprocess(
        env, "apply", "--plan", str(saved), str(desired), "--allow-removals", "10"
    )

    assert run.code == 0, run.output
    # 100 users fit one page: one listing read, not one per check
    assert emulator.stats()["requests"].get("GET /public/v1/user", 0) - before == 1
