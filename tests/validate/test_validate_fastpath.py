"""The compiled user check agrees with jsonschema on every item, valid or not.

Users the fast check accepts are never shown to jsonschema, so if the two disagreed an
invalid user could slip through; this is what makes the shortcut safe.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.validate.fastpath import compile_check
from reconciler.validate.schema_check import (
    _document_fast_check,
    _document_validator,
    _user_fast_check,
    _user_validator,
    is_email,
    schema,
)

FIELDS = [
    "email",
    "firstName",
    "lastName",
    "role",
    "passwordRequired",
    "active",
    "groups",
    "products",
    "emial",
    "Role",
]
strings = st.one_of(
    st.sampled_from(
        [
            "a@example.com",
            "A.B@Example.co.uk",
            "x",
            "",
            " ",
            "Alice",
            "Alice ",
            "Administrator",
            "User",
            "admin",
            "eng",
            "bad alias",
            "@x.com",
            "a@b",
            "a" * 101,
            "é@example.com",
            "x" * 70 + "@example.com",
        ]
    ),
    st.text(max_size=12),
)
scalars = st.one_of(strings, st.booleans(), st.integers(-2, 2), st.none(), st.floats(0, 1))
values = st.one_of(
    scalars,
    st.lists(strings, max_size=3),
    st.lists(scalars, max_size=2),
    st.dictionaries(strings, scalars, max_size=2),
)
valid_user = st.fixed_dictionaries(
    {
        "email": st.sampled_from(["a@example.com", "b.c@ex-ample.org"]),
        "firstName": st.sampled_from(["A", "Zoë", "Mary Ann"]),
        "lastName": st.sampled_from(["B", "O'Brien"]),
    },
    optional={
        "role": st.sampled_from(["Administrator", "User"]),
        "passwordRequired": st.booleans(),
        "active": st.booleans(),
        "groups": st.lists(st.sampled_from(["eng", "pmo", "x-1"]), unique=True),
        "products": st.lists(st.sampled_from(["agile", "port"]), unique=True),
    },
)


def mutated(user: dict[str, Any], field: str, value: Any, drop: bool) -> dict[str, Any]:
    changed = dict(user)
    if drop:
        changed.pop(field, None)
    else:
        changed[field] = value
    return changed


def agree(item: Any) -> None:
    fast = _user_fast_check()
    assert fast is not None
    expected = not any(True for _ in _user_validator().iter_errors(item))
    assert fast(item) is expected, item


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_user, st.sampled_from(FIELDS), values, st.booleans())
def test_fast_check_equals_jsonschema(
    user: dict[str, Any], field: str, value: Any, drop: bool
) -> None:
    agree(user)
    agree(mutated(user, field, value, drop))


@settings(max_examples=100, deadline=None)
@given(values)
def test_fast_check_equals_jsonschema_on_non_users(item: Any) -> None:
    agree(item)


def test_an_unknown_keyword_disables_the_fast_path() -> None:
    """A schema change the compiler does not understand must fall back, not be ignored."""
    root = schema()
    user = dict(root["$defs"]["user"], dependentRequired={"role": ["groups"]})
    assert compile_check(user, root, {"email": is_email}) is None
    assert compile_check(root["$defs"]["user"], root, {"email": is_email}) is not None


documents = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 1, 2, "1", True, 1.0])},
    optional={
        "settings": st.fixed_dictionaries(
            {},
            optional={
                "unmanagedUsers": st.sampled_from(["deactivate", "ignore", "remove", 1]),
                "deleteDeactivatedAfter": st.sampled_from(
                    ["90d", "12w", "0d", "90", "3m", "90d\n", " 90d", "99999d", 90, None]
                ),
                "protectedUsers": st.lists(strings, max_size=2),
                "scope": st.fixed_dictionaries(
                    {"emailDomains": st.lists(st.sampled_from(["example.com", "x", "a b"]))}
                ),
                "safety": st.fixed_dictionaries(
                    {"maxRemovals": st.sampled_from([5, 0, -1, "10%", "100%", "101%", True, 2.0])}
                ),
                "policy": st.fixed_dictionaries(
                    {},
                    optional={
                        "minAdministrators": st.sampled_from([1, 0, -1, 2.0, True, "2", None]),
                        "requiredAdministrators": st.lists(strings, max_size=2),
                        "other": st.none(),
                    },
                ),
                "other": st.none(),
            },
        ),
        "products": st.dictionaries(
            strings,
            st.dictionaries(st.sampled_from(["name", "id", "x"]), strings, max_size=2),
            max_size=2,
        ),
        "groups": st.dictionaries(
            strings,
            st.fixed_dictionaries({"products": st.lists(strings, max_size=2)}) | values,
            max_size=2,
        ),
        "users": st.lists(valid_user | values, max_size=2),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_a_document_the_fast_check_accepts_is_valid(document: dict[str, Any]) -> None:
    """The document-level check may be unsure (then jsonschema decides), never wrong."""
    fast = _document_fast_check()
    assert fast is not None
    if fast(document):
        assert not any(True for _ in _document_validator().iter_errors(document)), document
