"""Inputs near the limits: a 10 MB file, deep nesting, very long strings, and emails
that look alike, differ only in case, or end in a dot.

Decided behaviour for look-alikes: an email with a Cyrillic letter in its local part
is a different user from its Latin twin (kept apart, never merged); a look-alike
domain, or a trailing dot, is refused by the email format, and so is a letter whose
case folding lands on ASCII (KELVIN SIGN, sharp s), which would otherwise take over
the plain spelling's account. Case alone never makes a new user: two spellings in the
files are a duplicate, pointed at both lines.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from support.cli import assert_clean_failure, emulator_env, run_inprocess, run_subprocess

from reconciler.errors import InputError
from reconciler.validate import load_desired

TEN_MB = 10 * 1024 * 1024
# An error message quotes what is wrong, not all of it: a user reads it in a CI log.
MESSAGE_LIMIT = 2_000

CYRILLIC_A = "\u0430"
KELVIN_SIGN = "\u212a"
SHARP_S = "\u00df"


def write(tmp_path: Path, text: str | bytes, name: str = "users.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def refused(path: Path) -> InputError:
    with pytest.raises(InputError) as caught:
        load_desired([str(path)])
    error = caught.value
    assert error.diagnostics
    assert len(str(error)) < MESSAGE_LIMIT * max(1, len(error.diagnostics)), str(error)[:500]
    return error


def users_yaml(emails: list[str], header: str = "") -> str:
    lines = ["version: 1", header, "users:"] if header else ["version: 1", "users:"]
    for email in emails:
        lines += [f'  - email: "{email}"', "    firstName: A", "    lastName: B"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ size


def test_a_valid_10_mb_file_loads_and_validates_from_the_command_line(tmp_path: Path) -> None:
    def block(n: int) -> str:
        return (
            f"  - email: person.number{n:06d}@example.com\n"
            f"    firstName: Firstname{n:06d}\n"
            f"    lastName: Lastname-with-some-length-{n:06d}\n"
            "    role: User\n"
        )

    count = TEN_MB // len(block(0)) + 1
    path = write(tmp_path, "version: 1\nusers:\n" + "".join(block(n) for n in range(count)))
    assert path.stat().st_size >= TEN_MB

    run = run_subprocess({}, "validate", str(path), timeout=120)

    assert run.code == 0, run.output[-2000:]
    assert "Traceback" not in run.output


def test_10_mb_of_random_bytes_is_a_clean_error(tmp_path: Path) -> None:
    path = write(tmp_path, random.Random(7).randbytes(TEN_MB))

    refused(path)
    run = run_subprocess({}, "validate", str(path), timeout=120)
    assert_clean_failure(run)
    assert len(run.stderr) < MESSAGE_LIMIT * 5


def test_a_10_mb_string_is_refused_without_being_echoed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        users_yaml(["a@example.com"]).replace("firstName: A", "firstName: " + "A" * TEN_MB),
    )

    error = refused(path)

    assert any("firstName" in str(d) for d in error.diagnostics), str(error)[:500]


@pytest.mark.parametrize("length", [255, 10_000, 1_000_000])
def test_very_long_emails_are_refused_without_being_echoed(tmp_path: Path, length: int) -> None:
    email = "a" * (length - len("@example.com")) + "@example.com"
    error = refused(write(tmp_path, users_yaml([email])))
    assert any("email" in str(d) for d in error.diagnostics)


def test_a_megabyte_long_key_is_refused_without_being_echoed(tmp_path: Path) -> None:
    refused(write(tmp_path, f"version: 1\n{'k' * 1_000_000}: 1\n"))


# ------------------------------------------------------------------ nesting


@pytest.mark.parametrize(
    "text",
    [
        "version: 1\nusers: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "version: 1\nusers: " + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n",
        "version: 1\nsettings:\n" + "".join("  " * n + f"k{n}:\n" for n in range(1, 200)),
        "version: 1\nusers: " + "[" * 100_000,  # never closed
    ],
    ids=["flow lists", "flow mappings", "block mappings", "unclosed"],
)
def test_deep_nesting_is_refused_cleanly(tmp_path: Path, text: str) -> None:
    error = refused(write(tmp_path, text))
    assert any("nested" in d.message or "line" in str(d) for d in error.diagnostics)


def test_deep_nesting_from_the_command_line_is_exit_1_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nusers: " + "[" * 100_000 + "]" * 100_000 + "\n")
    run = run_subprocess({}, "validate", str(path), timeout=60)
    assert_clean_failure(run, "nested more than")


def test_a_billion_laughs_file_fails_fast(tmp_path: Path) -> None:
    lines = ["version: 1", 'a0: &a0 ["lol"]']
    for n in range(1, 30):
        lines.append(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]")
    run = run_subprocess({}, "validate", str(write(tmp_path, "\n".join(lines) + "\n")), timeout=60)
    assert_clean_failure(run)


# ------------------------------------------------------------------ emails


def test_a_cyrillic_letter_makes_a_different_user_never_a_merge(tmp_path: Path) -> None:
    latin, cyrillic = "alice@example.com", f"{CYRILLIC_A}lice@example.com"
    state = load_desired([str(write(tmp_path, users_yaml([latin, cyrillic])))])
    assert sorted(u.email for u in state.users) == sorted([latin, cyrillic])


def test_a_cyrillic_look_alike_is_planned_as_a_new_user_not_an_update(
    emulator_factory: Any, tmp_path: Path
) -> None:
    live = {
        "users": [{"id": "u-alice", "email": "alice@example.com", "firstName": "Alice",
                   "lastName": "Real", "status": "Active"}],
        "products": [],
    }  # fmt: skip
    emulator = emulator_factory(state=live)
    desired = write(
        tmp_path,
        users_yaml([f"{CYRILLIC_A}lice@example.com"], header="settings: {unmanagedUsers: ignore}"),
    )

    run = run_inprocess(emulator_env(emulator), "plan", str(desired), "--format", "json")

    assert run.code == 0, run.output
    changes = json.loads(run.stdout)["changes"]
    assert [(c["kind"], c["email"]) for c in changes] == [
        ("create", f"{CYRILLIC_A}lice@example.com")
    ]


@pytest.mark.parametrize(
    "email",
    [f"alice@ex{CYRILLIC_A}mple.com", "alice@example.com.", "alice@example..com", "alice@.com"],
    ids=["cyrillic domain", "trailing dot", "double dot", "leading dot"],
)
def test_look_alike_or_dotted_domains_are_refused_by_the_email_format(
    tmp_path: Path, email: str
) -> None:
    path = write(tmp_path, users_yaml(["alice@example.com", email]))
    error = refused(path)
    (diagnostic,) = error.diagnostics
    assert diagnostic.pos is not None and diagnostic.pos.line == 6
    assert "email" in diagnostic.message.lower()


def test_emails_differing_only_in_case_are_one_user_listed_twice(tmp_path: Path) -> None:
    path = write(tmp_path, users_yaml(["Alice.Smith@Example.com", "alice.smith@example.COM"]))
    error = refused(path)
    (diagnostic,) = error.diagnostics
    assert "already listed at" in diagnostic.message and "ignore case" in diagnostic.message
    assert diagnostic.pos is not None and diagnostic.pos.line == 6


def test_case_differences_across_files_are_caught_too(tmp_path: Path) -> None:
    write(tmp_path, users_yaml(["bob@example.com"]), "a.yaml")
    write(tmp_path, users_yaml(["BOB@example.com"]), "b.yaml")
    with pytest.raises(InputError) as caught:
        load_desired([str(tmp_path)])
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.pos is not None and diagnostic.pos.file.endswith("b.yaml")
    assert "a.yaml" in diagnostic.message


@pytest.mark.parametrize(
    ("desired_email", "live_email"),
    [(f"{KELVIN_SIGN}ate@example.com", "kate@example.com"),
     (f"stra{SHARP_S}e@example.com", "strasse@example.com")],
    ids=["kelvin sign", "sharp s"],
)  # fmt: skip
def test_a_look_alike_that_case_folds_to_ascii_does_not_take_over_a_live_user(
    emulator_factory: Any, tmp_path: Path, desired_email: str, live_email: str
) -> None:
    live = {
        "users": [{"id": "u-1", "email": live_email, "firstName": "Live",
                   "lastName": "Person", "status": "Active"}],
        "products": [],
    }  # fmt: skip
    emulator = emulator_factory(state=live)
    desired = write(
        tmp_path, users_yaml([desired_email], header="settings: {unmanagedUsers: ignore}")
    )

    run = run_inprocess(emulator_env(emulator), "plan", str(desired), "--format", "json")

    # Refused, pointed at the email: it would compare equal to the plain spelling.
    assert run.code == 1, run.output
    assert "users.yaml:4:" in run.stderr and "plain" in run.stderr, run.stderr
    assert "Traceback" not in run.output
