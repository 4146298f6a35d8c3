"""Export of hand-built live states: what the file says, read back with PyYAML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import ConfigError
from reconciler.export import export_desired, product_aliases, slugify, write_atomic
from reconciler.model import LiveProduct, LiveState, LiveUser


def user(uid: str, email: str, **kw) -> LiveUser:
    kw.setdefault("first_name", "Ann")
    kw.setdefault("last_name", "Example")
    kw.setdefault("role", "User")
    kw.setdefault("password_required", False)
    kw.setdefault("status", "active")
    return LiveUser(id=uid, email=email, **kw)


PRODUCTS = {
    "p-1": LiveProduct("p-1", "AgilePlace Production"),
    "p-2": LiveProduct("p-2", "AgilePlace Production"),  # same name: suffixed alias
    "p-3": LiveProduct("p-3", "Portfolios — Sandbox (EU)"),
}


def live_state(users: list[LiveUser], provisioning: dict[str, set[str]] | None = None) -> LiveState:
    prov = {pid: frozenset((provisioning or {}).get(pid, set())) for pid in PRODUCTS}
    return LiveState(users={u.key: u for u in users}, products=dict(PRODUCTS), provisioning=prov)


def export(live: LiveState, **kw) -> tuple[str, dict]:
    result = export_desired(
        live, target="https://t.example", exported_at="2026-11-28T00:00:00Z", **kw
    )
    return result.text, yaml.safe_load(result.text)


def test_slugs_are_readable_and_unique() -> None:
    assert slugify("Portfolios — Sandbox (EU)") == "portfolios-sandbox-eu"
    assert slugify("Café Ünïcode") == "cafe-unicode"
    assert slugify("!!!") == "product"
    assert product_aliases(PRODUCTS.values()) == {
        "p-1": "agileplace-production",
        "p-2": "agileplace-production-2",
        "p-3": "portfolios-sandbox-eu",
    }


def test_users_sorted_defaults_left_out_products_by_alias() -> None:
    live = live_state(
        [
            user("u-2", "zed@example.com", role="Administrator", password_required=True),
            user("u-1", "Ann.Smith@example.com", status="pending"),
            user("u-3", "bob@example.com", status="deactivated"),
        ],
        {"p-1": {"u-1"}, "p-3": {"u-1", "u-2"}},
    )
    text, data = export(live)
    assert text.startswith("# yaml-language-server: $schema=")
    assert "Pending" in text.split("version: 1")[0]  # the header says what is lost
    assert data["version"] == 1
    assert data["products"] == {
        "agileplace-production": {"id": "p-1"},
        "agileplace-production-2": {"id": "p-2"},
        "portfolios-sandbox-eu": {"id": "p-3"},
    }
    assert "# Portfolios — Sandbox (EU)" in text
    assert [u["email"] for u in data["users"]] == [
        "Ann.Smith@example.com",
        "bob@example.com",
        "zed@example.com",
    ]
    ann, bob, zed = data["users"]
    assert ann == {
        "email": "Ann.Smith@example.com",
        "firstName": "Ann",
        "lastName": "Example",
        "role": "User",
        "products": ["agileplace-production", "portfolios-sandbox-eu"],
    }
    assert bob["active"] is False and "products" not in bob
    assert zed["passwordRequired"] is True and zed["role"] == "Administrator"


@pytest.mark.parametrize(
    "name",
    [
        "no",
        "yes",
        "null",
        "On",
        "Y",
        "NULL",
        "True",
        "off",
        "Zoë-Ann O'Neil",
        "1e3",
        "0o17",
        "O'Brien",
        "a: b",
        "x #y",
        "-dash",
        " pad",
        "José",
        "~",
        "'q'",
        '"dq"',
        "tab\tin",
    ],
)
def test_awkward_names_read_back_exactly(name: str) -> None:
    _, data = export(live_state([user("u-1", "a@example.com", first_name=name, last_name=name)]))
    assert data["users"][0]["firstName"] == name
    assert data["users"][0]["lastName"] == name


def test_domains_scope_the_file() -> None:
    live = live_state([user("u-1", "a@example.com"), user("u-2", "b@Other.example")])
    text, data = export(live, domains=["other.example"])
    assert data["settings"] == {"scope": {"emailDomains": ["other.example"]}}
    assert [u["email"] for u in data["users"]] == ["b@Other.example"]
    assert "1 other users were left out" in text


def test_empty_tenant() -> None:
    empty = LiveState(users={}, products={}, provisioning={})
    text, data = export(empty)
    assert data == {"version": 1, "users": []}
    assert text.startswith("# yaml-language-server:")


def test_write_atomic_replaces_whole_file_and_refuses_missing_dir(tmp_path: Path) -> None:
    target = tmp_path / "users.yaml"
    target.write_text("old")
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["users.yaml"]
    with pytest.raises(ConfigError, match="does not exist"):
        write_atomic(tmp_path / "nope" / "x.yaml", "x")


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_any_name_reads_back_exactly(name: str) -> None:
    result = export_desired(
        live_state([user("u-1", "a@example.com", first_name=name, last_name=name)]),
        target="https://t.example\n# not a key",
        exported_at="2026-11-28T00:00:00Z",
    )
    data = yaml.safe_load(result.text)
    assert data["users"][0]["firstName"] == name
    assert data["users"][0]["lastName"] == name


@given(st.text(max_size=80))
def test_product_aliases_always_fit_the_alias_pattern(name: str) -> None:
    products = [LiveProduct("p-1", name), LiveProduct("p-2", name), LiveProduct("p-3", name + "!")]
    aliases = product_aliases(products)
    assert len(set(aliases.values())) == 3
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", a) for a in aliases.values())


def test_values_the_format_refuses_are_flagged_not_altered() -> None:
    result = export_desired(
        live_state([user("u-1", "a@example.com", first_name=" Ann", last_name="")]),
        target="https://t.example",
        exported_at="2026-11-28T00:00:00Z",
    )
    assert len(result.problems) == 2
    assert "# WARNING: 2 live value(s) break the format's rules" in result.text
    data = yaml.safe_load(result.text)
    assert data["users"][0]["firstName"] == " Ann"
