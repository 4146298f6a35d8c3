"""load_desired: the DesiredState later stages get, and the errors they can rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import InputError
from reconciler.model import SourcePos
from reconciler.validate import load_desired, protected_matcher

ROOT = Path(__file__).parents[2]
GOOD = ROOT / "tests" / "fixtures" / "desired" / "good"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_team_directory_is_joined_into_one_state() -> None:
    state = load_desired([GOOD / "team"])
    assert state.files == (
        str(GOOD / "team" / "a-settings.yaml"),
        str(GOOD / "team" / "b-users.yml"),
    )
    assert state.settings.scope_email_domains == ("example.com",)  # lower-cased
    assert state.settings.safety.max_removals == "25%"
    assert state.settings.protected_users == ("root@example.com", "svc-[ab]*@example.com")
    assert set(state.groups) == {"eng", "pmo"}
    erin, frank = state.users
    # groups' products and direct products, expanded
    assert erin.products == frozenset({"agileplace", "portfolios"})
    assert frank.products == frozenset()
    assert frank.active is False and frank.role == "User" and frank.password_required is False
    assert erin.pos == SourcePos(str(GOOD / "team" / "b-users.yml"), 5, 5)
    assert state.products["portfolios"].id == "p-portfolios"
    assert state.products["agileplace"].name == "AgilePlace"
    assert state.products["agileplace"].pos == SourcePos(
        str(GOOD / "team" / "a-settings.yaml"), 7, 15
    )


def test_defaults_when_settings_are_absent() -> None:
    state = load_desired([GOOD / "minimal.yaml"])
    settings = state.settings
    assert settings.unmanaged_users == "deactivate"
    assert settings.scope_email_domains is None
    assert settings.safety.max_removals == "10%"
    assert settings.protected_users == ()
    (alice,) = state.users
    assert alice.email == "Alice.Smith@Example.com"  # kept as written
    assert alice.key == "alice.smith@example.com"


def test_anchors_and_merge_keys() -> None:
    state = load_desired([GOOD / "anchors.yaml"])
    alice, admin = state.users
    assert admin.email == "alice.admin@example.com"
    assert admin.last_name == "Smith-Admin" and admin.role == "Administrator"
    assert admin.products == alice.products == frozenset({"agileplace", "portfolios"})


def test_examples_are_valid() -> None:
    assert len(load_desired([ROOT / "examples" / "basic" / "users.yaml"]).users) == 4
    teams = load_desired([ROOT / "examples" / "teams"])
    assert len(teams.files) == 3 and len(teams.users) == 4


def test_examples_point_editors_at_the_schema() -> None:
    for path in [
        *(ROOT / "examples" / "basic").glob("*.yaml"),
        *(ROOT / "examples" / "teams").glob("*.yaml"),
    ]:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target.name == "desired-state.schema.json" and target.is_file(), path


def test_errors_carry_position_and_document_path(tmp_path: Path) -> None:
    path = write(
        tmp_path / "u.yaml",
        "version: 1\nusers:\n  - {email: a@example.com, firstName: A, lastName: B}\n"
        "  - {email: b@example.com, firstName: B, lastName: C, role: root}\n",
    )
    with pytest.raises(InputError) as info:
        load_desired([path])
    (problem,) = info.value.diagnostics
    assert problem.pos == SourcePos(str(path), 4, 61)
    assert problem.path == "users[1].role"
    assert str(problem).startswith(f"{path}:4:61: 'root' is not one of")
    assert str(problem).endswith("(at users[1].role)")


SAME_A = """version: 1
settings: {unmanagedUsers: ignore, scope: {emailDomains: [example.com]}}
products: {agile: {name: AgilePlace}, port: {id: p-1}}
groups: {eng: {products: [agile, port]}}
users:
  - {email: a@example.com, firstName: A, lastName: Z, groups: [eng]}
  - {email: b@example.com, firstName: B, lastName: Y, products: [port]}
"""
# The same content: keys reordered, other layout and comments, users reordered.
SAME_B = """# reordered
users:
  - lastName: Y
    firstName: B
    email: b@example.com
    products: [port]
  - email: a@example.com
    groups: [eng]
    firstName: A
    lastName: Z
groups:
  eng:
    products: [port, agile]
products:
  port: {id: p-1}
  agile: {name: AgilePlace}
settings:
  scope: {emailDomains: [EXAMPLE.com]}
  unmanagedUsers: ignore
version: 1
"""


def test_digest_is_stable_across_layout(tmp_path: Path) -> None:
    a = load_desired([write(tmp_path / "a.yaml", SAME_A)])
    b = load_desired([write(tmp_path / "b.yaml", SAME_B)])
    assert len(a.digest) == 64
    assert a.digest == b.digest
    # the same content split across two files
    split = tmp_path / "split"
    split.mkdir()
    head, _, users = SAME_A.partition("users:\n")
    write(split / "1.yaml", head)
    write(split / "2.yaml", "version: 1\nusers:\n" + users)
    assert load_desired([split]).digest == a.digest


def test_digest_changes_with_content(tmp_path: Path) -> None:
    a = load_desired([write(tmp_path / "a.yaml", SAME_A)])
    changed = load_desired(
        [write(tmp_path / "c.yaml", SAME_A.replace("lastName: Y", "lastName: X"))]
    )
    assert changed.digest != a.digest


def test_references_are_not_checked_when_a_file_is_unreadable(tmp_path: Path) -> None:
    """The group may be defined in the broken file: saying 'unknown group' would mislead."""
    write(tmp_path / "a.yaml", "version: 1\ngroups: {eng: {products: []}\n")
    write(
        tmp_path / "b.yaml",
        "version: 1\nusers:\n"
        "  - {email: a@example.com, firstName: A, lastName: B, groups: [eng]}\n",
    )
    with pytest.raises(InputError) as info:
        load_desired([tmp_path])
    messages = [d.message for d in info.value.diagnostics]
    assert len(messages) == 1 and messages[0].startswith("invalid YAML")


def test_protected_matcher_is_case_insensitive_glob() -> None:
    is_protected = protected_matcher(
        ["break-glass@example.com", "*@Planview.com", "svc-[ab]?@x.org"]
    )
    assert is_protected("Break-Glass@Example.com")
    assert is_protected("someone@planview.COM")
    assert is_protected("svc-a1@x.org")
    assert not is_protected("svc-c1@x.org")
    assert not is_protected("alice@example.com")


def test_each_problem_is_reported_once(tmp_path: Path) -> None:
    path = write(tmp_path / "u.yaml", "version: 1\nusers:\n- groups:\n  - []\n")
    with pytest.raises(InputError) as info:
        load_desired([path])
    assert [(d.pos.line if d.pos else 0, d.message) for d in info.value.diagnostics] == [
        (3, "missing required field 'email' for this user"),
        (3, "missing required field 'firstName' for this user"),
        (3, "missing required field 'lastName' for this user"),
        (4, "expected a string, got a list"),
    ]


def test_a_huge_value_is_not_echoed_whole(tmp_path: Path) -> None:
    email = "a" * 1_000_000 + "@example.com"
    path = write(
        tmp_path / "u.yaml",
        "version: 1\nusers:\n"
        f"  - {{email: {email}, firstName: A, lastName: B, {'k' * 1_000}: 1}}\n",
    )
    with pytest.raises(InputError) as info:
        load_desired([path])
    assert len(info.value.diagnostics) >= 2
    assert all(len(str(d)) < 400 for d in info.value.diagnostics), str(info.value)[:2000]
    assert "is not a valid email address" in str(info.value)
    assert "unknown field 'kkk" in str(info.value)


def test_non_ascii_emails_are_distinct_users_unless_they_fold_to_ascii(tmp_path: Path) -> None:
    cyrillic_a = "\u0430"
    state = load_desired(
        [
            write(
                tmp_path / "ok.yaml",
                "version: 1\nusers:\n"
                "  - {email: alice@example.com, firstName: A, lastName: B}\n"
                f"  - {{email: {cyrillic_a}lice@example.com, firstName: A, lastName: B}}\n"
                "  - {email: jos\u00e9@example.com, firstName: J, lastName: B}\n",
            )
        ]
    )
    assert len({u.key for u in state.users}) == 3
    with pytest.raises(InputError) as info:
        load_desired(
            [
                write(
                    tmp_path / "bad.yaml",
                    "version: 1\nusers:\n"
                    "  - {email: stra\u00dfe@example.com, firstName: A, lastName: B}\n",
                )
            ]
        )
    (problem,) = info.value.diagnostics
    assert "LATIN SMALL LETTER SHARP S" in problem.message and "'ss'" in problem.message


def test_one_shape_complaint_per_value_but_every_bad_key(tmp_path: Path) -> None:
    path = write(
        tmp_path / "u.yaml",
        "version: 1\nproducts:\n  bad one: {name: A}\n  bad two: {name: B}\n"
        'users:\n  - {email: a@example.com, firstName: "", lastName: B}\n',
    )
    with pytest.raises(InputError) as info:
        load_desired([path])
    assert [(d.path, d.message.split(":")[0]) for d in info.value.diagnostics] == [
        ("products['bad one']", "'bad one' is not a valid product alias"),
        ("products['bad two']", "'bad two' is not a valid product alias"),
        ("users[0].firstName", "the first name may not be empty"),
    ]
