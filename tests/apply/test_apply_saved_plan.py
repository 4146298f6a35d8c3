"""Saved plans: atomic owner-only files, refused when malformed or stale."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from apply_builders import PlanBuilder, product, user
from apply_memory_backend import MemoryBackend

from reconciler.apply import check_fresh, load_plan, plan_digest, save_plan
from reconciler.backends.base import NewUser
from reconciler.errors import ConfigError, StalePlanError
from reconciler.plan.model import PlanFormatError, content_digest


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend(
        users=[user("u1", "ann.lee@example.com"), user("u2", "bob.ray@example.com")],
        products=[product("p-ap", seats=5)],
        provisioning={"p-ap": {"u1"}},
    )


def full_plan(backend: MemoryBackend) -> PlanBuilder:
    b = PlanBuilder(backend)
    new = b.create("eve.new@example.com")
    b.grant("p-ap", after=new, email="eve.new@example.com")
    b.update("u1", first_name="Annie")
    b.revoke("p-ap", "u1")
    b.grant("p-ap", "u2")
    return b


def test_save_and_load_round_trip_owner_only(backend: MemoryBackend, tmp_path: Path) -> None:
    plan = full_plan(backend).plan()
    path = tmp_path / "plan.json"
    path.write_text("old")
    os.chmod(path, 0o644)

    save_plan(plan, path)

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_plan(path) == plan
    assert plan_digest(load_plan(path)) == plan_digest(plan)
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temp file left


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON at line 1"),
        ("[1, 2]", "expected a JSON object"),
        ('{"format_version": 99}', "unsupported plan format version 99"),
        ('{"format_version": 1, "target": "x"}', "malformed"),
    ],
)
def test_malformed_or_unknown_version_is_refused(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(PlanFormatError, match=message):
        load_plan(path)


def test_hand_edited_dependency_is_refused(backend: MemoryBackend, tmp_path: Path) -> None:
    path = save_plan(full_plan(backend).plan(), tmp_path / "plan.json")
    data = json.loads(path.read_text())
    data["changes"][1]["depends_on"] = "c42"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFormatError, match="changed after it was made"):
        load_plan(path)
    # rewritten with a matching digest, as a deliberate edit would be: still refused
    data["digest"] = content_digest(data)
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFormatError, match="unknown change 'c42'"):
        load_plan(path)


def test_missing_plan_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the saved plan"):
        load_plan(tmp_path / "nope.json")


def test_fresh_plan_passes(backend: MemoryBackend) -> None:
    check_fresh(full_plan(backend).plan(), backend)
    assert backend.writes == []


def test_plan_for_another_target_is_refused(backend: MemoryBackend) -> None:
    plan = replace(full_plan(backend).plan(), target="https://other.example.test")
    with pytest.raises(ConfigError, match=r"made for https://other\.example\.test"):
        check_fresh(plan, backend)


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (
            lambda m: m.create_user(NewUser("Eve.New@example.com", "E", "N")),
            "c1 create eve.new@example.com: a user with this email now exists",
        ),
        (lambda m: m.update_user("u1", {"role": "Administrator"}), "update ann.lee@example.com"),
        (lambda m: m.delete_user("u1"), "the user no longer exists"),
        (lambda m: m.provisioning["p-ap"].add("u2"), "grant bob.ray@example.com"),
        (lambda m: m.provisioning["p-ap"].discard("u1"), "revoke ann.lee@example.com"),
    ],
)
def test_any_changed_record_makes_the_plan_stale(
    backend: MemoryBackend, tamper, expected: str
) -> None:
    plan = full_plan(backend).plan()
    tamper(backend)
    writes = list(backend.writes)
    with pytest.raises(StalePlanError, match="plan is stale") as caught:
        check_fresh(plan, backend)
    assert expected in str(caught.value)
    assert "re-run plan" in str(caught.value).lower()
    assert backend.writes == writes


def test_many_users_are_checked_with_one_bulk_read(backend: MemoryBackend) -> None:
    b = PlanBuilder(backend)
    for n in range(40):
        b.create(f"n{n}@example.com")
    b.update("u2", first_name="Bobby")
    plan = b.plan()
    check_fresh(plan, backend)
    assert [r[0] for r in backend.reads] == ["read_live"]
    backend.update_user("u2", {"last_name": "Changed"})
    with pytest.raises(StalePlanError, match=r"bob\.ray@example\.com: the user was changed"):
        check_fresh(plan, backend)


def test_unwritable_destination_is_a_clear_error(backend: MemoryBackend, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write the plan to"):
        save_plan(full_plan(backend).plan(), tmp_path / "missing" / "plan.json")
