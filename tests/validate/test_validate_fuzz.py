"""Whatever the input, the loader and validator answer with a DesiredState or a clean
InputError naming a place; no other exception ever escapes."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.load import read_document
from reconciler.validate import validate_documents

KEYS = [
    "version",
    "settings",
    "products",
    "groups",
    "users",
    "email",
    "firstName",
    "lastName",
    "role",
    "groups",
    "products",
    "name",
    "id",
    "scope",
    "emailDomains",
    "safety",
    "maxRemovals",
    "protectedUsers",
    "unmanagedUsers",
    "active",
    "<<",
]
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["1", "a@example.com", "10%", "eng"]),
)
structures = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=5)), inner, max_size=5),
    ),
    max_leaves=20,
)
documents = st.one_of(
    structures,
    st.fixed_dictionaries(
        {"version": st.sampled_from([1, 2, "1"])},
        optional={k: structures for k in ("settings", "products", "groups", "users")},
    ),
)
SNIPPETS = [
    "version: 1\n",
    "users:\n",
    "  - ",
    "email: ",
    "&a ",
    "*a",
    "!!int ",
    "!x ",
    "<<: ",
    "[",
    "]",
    "{",
    "}",
    ": ",
    "- ",
    "---\n",
    "\t",
    "'",
    '"',
    "#",
    "\n",
    "\xff",
    "é",
    "%YAML 1.1\n",
    "? ",
    "|\n  ",
    "\x00",
    "\x01",
    "\ufeff",
    "\r\n",
]
texts = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(SNIPPETS), max_size=25).map("".join),
)


def check(data: bytes) -> None:
    document, problems = read_document("fuzz.yaml", data)
    try:
        state = validate_documents([document], problems)
    except InputError as error:
        assert error.diagnostics
        assert len(set(error.diagnostics)) == len(error.diagnostics), "a problem repeated"
        for diagnostic in error.diagnostics:
            assert diagnostic.message
            assert diagnostic.pos is not None and diagnostic.pos.file == "fuzz.yaml"
            assert diagnostic.pos.line >= 1 and diagnostic.pos.col >= 1
        return
    assert state.files == ("fuzz.yaml",)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_arbitrary_text(text: str) -> None:
    check(text.encode("utf-8", errors="surrogatepass"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=40))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.booleans())
def test_arbitrary_yaml_structures(value: Any, flow: bool) -> None:
    text = yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True)
    check(text.encode("utf-8"))
