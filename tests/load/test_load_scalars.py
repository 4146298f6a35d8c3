"""Plain scalars read exactly as PyYAML's safe loader reads them (dates excepted).

The reader resolves scalars itself and skips the resolver for values that cannot be
anything but a string; this checks that shortcut against PyYAML on generated values.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.load import read_document

WORDS = [
    "yes",
    "No",
    "ON",
    "off",
    "true",
    "False",
    "null",
    "Null",
    "~",
    "y",
    "n",
    "Yes!",
    "0x1F",
    "0o17",
    "017",
    "1_000",
    "1:30",
    "-1.5e3",
    ".inf",
    "-.Inf",
    ".NaN",
    "+12",
    "2024-01-02",
    "2024-01-02T10:00:00Z",
    "1e3",
    "0b101",
    "=",
    "<<x",
    "nulls",
    "trueish",
    "Farid",
    "farid.obrien@example.com",
    "Tanaka",
    "O'Brien",
    "10%",
    "1.2.3",
]
plain = st.one_of(
    st.sampled_from(WORDS),
    st.text(alphabet="yesnoONtrufalYSETRUFAL0123456789+-._:~xob", min_size=1, max_size=8),
)


def ours(scalar: str) -> Any:
    document, problems = read_document("f.yaml", f"k: {scalar}\n".encode())
    if document.value is None:
        return problems
    return document.value["k"]


def theirs(scalar: str) -> Any:
    try:
        return yaml.safe_load(f"k: {scalar}\n")["k"]
    except yaml.YAMLError as exc:
        return exc


@settings(max_examples=300, deadline=None)
@given(plain)
def test_plain_scalars_resolve_like_pyyaml(scalar: str) -> None:
    expected = theirs(scalar)
    if isinstance(expected, yaml.YAMLError):
        return  # not a valid plain scalar in this position; the reader reports it
    got = ours(scalar)
    if isinstance(expected, (datetime.date, datetime.datetime)):
        assert got == scalar  # JSON has no dates: kept as written
    elif isinstance(expected, float) and math.isnan(expected):
        assert isinstance(got, float) and math.isnan(got)
    else:
        assert got == expected and type(got) is type(expected), (scalar, got, expected)
