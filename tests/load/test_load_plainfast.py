"""The plain-style fast reader agrees with the event reader, or stands aside.

A desired-state file read by `plainfast.read_plain` must give exactly what walking
libyaml's events gives: the same values (types included), the same positions for
every node, the same root. Anything it cannot read that way goes to the event reader,
so every refusal (duplicate keys, aliases, tags, several documents, bad characters)
keeps its message.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.load import read_document
from reconciler.load.document import Document
from reconciler.load.plainfast import read_plain

ROOT = Path(__file__).resolve().parents[2]
YAML_FILES = sorted(
    p
    for base in (ROOT / "tests" / "fixtures", ROOT / "examples")
    for p in base.rglob("*.y*ml")
    if p.is_file()
)


def same(a: Any, b: Any) -> bool:
    """Equal with types: True is not 1, 1 is not 1.0, key order counts."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def same_positions(fast: Document, full: Document) -> bool:
    def walk(a: Any, b: Any) -> bool:
        if isinstance(a, dict | list):
            if fast.positions[id(a)] != full.positions[id(b)]:
                return False
            pairs = (
                zip(a.values(), b.values(), strict=True)
                if isinstance(a, dict)
                else zip(a, b, strict=True)
            )
            return all(walk(x, y) for x, y in pairs)
        return True

    return fast.root == full.root and walk(fast.value, full.value)


def both_ways(text: str) -> tuple[Document | None, Document, list[str]]:
    full, problems = read_document("f.yaml", text.encode("utf-8"), plain_first=False)
    return read_plain("f.yaml", text), full, [str(p) for p in problems]


def check_agreement(text: str) -> bool:
    """Whether the fast reader took `text`; fails the test if it took it wrongly."""
    fast, full, problems = both_ways(text)
    if fast is None:
        return False
    assert problems == [], f"the fast reader accepted what the loader refuses: {problems}"
    assert same(fast.value, full.value), (fast.value, full.value)
    assert same_positions(fast, full)
    return True


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_fixture_and_example_reads_the_same_either_way(path: Path) -> None:
    data = path.read_bytes()
    default, default_problems = read_document(str(path), data)
    full, full_problems = read_document(str(path), data, plain_first=False)
    assert [str(p) for p in default_problems] == [str(p) for p in full_problems]
    assert same(default.value, full.value)
    if default.value is not None:
        assert same_positions(default, full)


def test_the_usual_files_take_the_fast_way() -> None:
    """Not a vacuous agreement: the examples, the end-to-end fixtures and what `export`
    writes are read by the fast reader."""
    usual = [
        p for p in YAML_FILES if ("examples" in p.parts and "ci" not in p.parts) or "e2e" in p.parts
    ]
    assert len(usual) >= 5
    left = [p for p in usual if read_plain(str(p), p.read_text(encoding="utf-8")) is None]
    assert left == []
    exported = (
        "# Exported\nversion: 1\nproducts:\n  agileplace: {id: p-agile}  # AgilePlace\n"
        'users:\n  - email: a@example.com\n    firstName: Ann\n    lastName: "O\'Neil"\n'
        "    role: User\n    active: false\n    products: [agileplace]\n"
        "  - email: b@example.com\n    firstName: Bo\n    lastName: Lee\n    products: []\n"
    )
    assert check_agreement(exported)


REFUSED = {
    "duplicate key": ("a: 1\nb: 2\na: 3\n", "duplicate key 'a'"),
    "duplicate key in a flow mapping": ("a: {x: 1, x: 2}\n", "duplicate key 'x'"),
    "alias bomb": (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
            for p, c in zip("abcdefg", "bcdefgh", strict=True)
        )
        + "i: [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n",
        "aliases expand to far more data",
    ),
    "alias": ("a: &x 1\nb: *x\n", None),
    "deep nesting": ("a: " + "[" * 70 + "]" * 70 + "\n", "nested more than 64 levels"),
    "deep block nesting": (
        "".join(f"{'  ' * i}k{i}:\n" for i in range(70)) + "  " * 70 + "v: 1\n",
        "nested more than 64 levels",
    ),
    "deep block and flow nesting": (
        "".join(f"{'  ' * i}k{i}:\n" for i in range(60)) + "  " * 60 + "v: [[[[[x]]]]]\n",
        "nested more than 64 levels",
    ),
    "python tag": ("a: !!python/object:os.system x\n", "is not allowed"),
    "custom tag": ("a: !secret x\n", "is not allowed"),
    "several documents": ("a: 1\n---\nb: 2\n", "more than one YAML document"),
    "document end, then more": ("a: 1\n...\nb: 2\n", None),
    "merge key": ("d: &d {x: 1}\ne:\n  <<: *d\n  y: 2\n", None),
    "boolean key": ("yes: 1\n", "a key must be a string"),
    "number key": ("1: a\n", "a key must be a string"),
    "null key": ("~: a\n", None),
    "mapping in a value": ("a: b: c\n", "mapping values are not allowed"),
    "tab": ("a:\n\tb: 1\n", None),
    "control character": ("a: b\x07c\n", "character YAML does not allow"),
    "lone carriage return": ("a: 1\rb: 2\n", None),
    "next line character": ("a: 1\x85b: 2\n", None),
    "byte order mark": ("\ufeffa: 1\n", None),
    "continuation line": ("a: some\n  words\n", None),
    "escape in double quotes": ('a: "x\\ty"\n', None),
    "quote in single quotes": ("a: 'it''s'\n", None),
    "block scalar": ("a: |\n  text\n", None),
    "multi-line flow": ("a: [x,\n  y]\n", None),
    "list at the root": ("- a\n- b\n", None),
    "scalar at the root": ("just text\n", None),
    "bad indentation": ("a:\n    b: 1\n  c: 2\n", None),
    "anchor on a key": ("&k a: 1\n", None),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_the_fast_reader_cannot_read_goes_to_the_full_loader(name: str) -> None:
    text, message = REFUSED[name]
    assert read_plain("f.yaml", text) is None
    document, problems = read_document("f.yaml", text.encode("utf-8"))
    full, full_problems = read_document("f.yaml", text.encode("utf-8"), plain_first=False)
    assert [str(p) for p in problems] == [str(p) for p in full_problems]
    if message is not None:
        assert any(message in str(p) for p in problems), problems
    assert same(document.value, full.value)


def test_a_file_larger_than_one_chunk_reads_the_same() -> None:
    """The fast reader takes its lines a chunk at a time; lines at the seams, blank
    ones included, must keep their numbers."""
    users = "".join(
        f"  - email: user{i}@example.com{'  # note' if i % 7 == 0 else ''}\n"
        f"    firstName: {'Ann' if i % 2 else 'yes'}\n"
        f"{chr(10) if i % 5 == 0 else ''}"
        f'    lastName: "Lee {i}"\n    products: [a, b{i % 3}]\n'
        for i in range(9000)
    )
    text = "version: 1\nusers:\n" + users
    assert len(text) > 3 * (1 << 18)
    assert check_agreement(text)


@pytest.mark.parametrize("plain_first", [True, False])
def test_values_follow_yaml_1_1_either_way(plain_first: bool) -> None:
    """What docs/desired-state.md promises about values, by both readers."""
    text = "a: yes\nb: Off\nc: 010\nd: 1:30\ne: 'no'\nf: 2024-01-02\ng: [on, \"on\"]\n"
    document, problems = read_document("f.yaml", text.encode(), plain_first=plain_first)
    assert problems == []
    assert same(
        document.value,
        {"a": True, "b": False, "c": 8, "d": 90, "e": "no", "f": "2024-01-02", "g": [True, "on"]},
    )
    assert read_plain("f.yaml", text) is not None  # the fast reader takes this file


def test_windows_line_ends_read_the_same() -> None:
    text = "version: 1\r\nusers:\r\n  - email: a@example.com  # x\r\n    firstName: A\r\n"
    assert check_agreement(text)


# --------------------------------------------------------------------- generated files

# Scalars written as they would be, chosen for the YAML 1.1 rules they exercise.
SCALARS = [
    "word",
    "Ann Lee",
    "a@example.com",
    "O'Brien",
    "x#y",
    "a:b",
    "http://x.example",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "true",
    "False",
    "~",
    "null",
    "Null",
    "",
    "0",
    "010",
    "0o10",
    "0x1f",
    "1_000",
    "-5",
    "+3",
    "1.5",
    "1e3",
    "6.02e+23",
    ".inf",
    "-.Inf",
    ".nan",
    "1:30",
    "190:20:30",
    "2024-01-02",
    "2024-01-02T10:00:00Z",
    "=",
    "<<",
    "-x",
    "-",
    "- x",
    "?x",
    ":x",
    "@x",
    "`x",
    "%x",
    "!x",
    "&x",
    "*x",
    "|",
    ">",
    "10%",
    "a, b",
    "[a]",
    "{a}",
    "a #c",
    "é",
    "日本",
    "\U0001f600x",
    "a  b",
]
KEYS_ = [
    "a",
    "b",
    "email",
    "firstName",
    "products",
    "x1",
    "1a",
    "yes",
    "on",
    "1",
    "<<",
    "a b",
    "é",
    "a.b",
    "a-b",
    "_k",
    "null",
    "k:",
]
COMMON_KEYS = st.sampled_from(["a", "b", "email", "firstName", "products", "a-b", "a.b", "_k"])
KEY_CHOICE = st.one_of(COMMON_KEYS, COMMON_KEYS, COMMON_KEYS, st.sampled_from(KEYS_))


def _scalar_text(draw: Any, value: str) -> str:
    style = draw(st.sampled_from(["plain", "plain", "double", "single"]))
    if style == "double" and '"' not in value and "\\" not in value:
        return f'"{value}"'
    if style == "single" and "'" not in value:
        return f"'{value}'"
    return value


@st.composite
def _node(draw: Any, depth: int = 0) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["scalar", "scalar", "map", "list"] if depth < 3 else ["scalar"]))
    if kind == "scalar":
        common = st.sampled_from(["word", "Ann Lee", "a@example.com", "O'Brien", "10%", "x1"])
        return (
            "scalar",
            _scalar_text(draw, draw(st.one_of(common, common, common, st.sampled_from(SCALARS)))),
        )
    size = draw(st.integers(0, 3))
    if kind == "list":
        return ("list", [draw(_node(depth + 1)) for _ in range(size)])
    keys = draw(st.lists(KEY_CHOICE, max_size=size, unique=draw(st.booleans())))
    return ("map", [(key, draw(_node(depth + 1))) for key in keys])


def _flow(node: tuple[str, Any]) -> str:
    kind, body = node
    if kind == "scalar":
        return body
    if kind == "list":
        return "[" + ", ".join(_flow(n) for n in body) + "]"
    return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in body) + "}"


@st.composite
def _render(draw: Any, node: tuple[str, Any], indent: int, width: int) -> list[str]:
    """Block style for the node's entries, each line at `indent`."""
    kind, body = node
    pad = " " * indent
    lines: list[str] = []
    noise = st.sampled_from(["", "", "", "", "  # note", "   ", " #x"])
    for entry in body:
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(["", "# comment", pad + "# indented", "  "])))
        if kind == "list":
            value = entry
            head = pad + "- " + " " * draw(st.integers(0, 1))
            if value[0] == "map" and value[1] and draw(st.booleans()):
                # `- key: value` and the rest of the mapping under it
                inner = draw(_render(value, len(head), width))
                lines.append(head + inner[0].lstrip(" ") if inner else head.rstrip())
                lines.extend(inner[1:])
                continue
            key_text = head
        else:
            key, value = entry
            key_text = f"{pad}{key}:" + " " * draw(st.integers(1, 2))
        if value[0] != "scalar" and value[1] and draw(st.integers(0, 3)) != 0:
            lines.append(key_text.rstrip() + draw(noise))
            compact = kind == "map" and value[0] == "list" and draw(st.booleans())
            lines.extend(draw(_render(value, indent if compact else indent + width, width)))
        else:
            lines.append(key_text + _flow(value) + draw(noise))
    return lines


@st.composite
def documents(draw: Any) -> str:
    width = draw(st.sampled_from([2, 4, 3]))
    entries = st.tuples(KEY_CHOICE, _node(1))
    root = ("map", draw(st.lists(entries, min_size=1, max_size=4)))
    lines = draw(_render(root, 0, width))
    if draw(st.booleans()):
        lines.insert(0, draw(st.sampled_from(["---", "# header", "--- # start", ""])))
    if draw(st.integers(0, 4)) == 0 and lines:
        # one edit a hand could make: a line re-indented, cut, or a character added
        index = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["indent", "dedent", "cut", "char"]))
        line = lines[index]
        if edit == "indent":
            lines[index] = " " + line
        elif edit == "dedent":
            lines[index] = line[1:]
        elif edit == "cut" and line:
            lines[index] = line[: draw(st.integers(0, len(line) - 1))]
        elif edit == "char":
            at = draw(st.integers(0, len(line)))
            lines[index] = line[:at] + draw(st.sampled_from(list(":#-[]{},'\"&*!| ?"))) + line[at:]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_generated_files_read_the_same_by_both_readers(text: str) -> None:
    check_agreement(text)


def test_the_generator_reaches_both_readers() -> None:
    """The property above means something only if the fast reader takes many of the
    generated files and leaves many to the full loader."""
    taken = left = 0

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(documents())
    def count(text: str) -> None:
        nonlocal taken, left
        if check_agreement(text):
            taken += 1
        else:
            left += 1

    count()
    assert taken >= 75 and left >= 75, (taken, left)


# ------------------------------------------------------------- hand edits of an export

LAST_NAMES = ["Lee", "Nguyen", '"O\'Brien"']
EXPORTED = "\n".join(
    [
        "# Exported from https://example.com at 2026-11-30T00:00:00Z by `reconciler export`.",
        "version: 1",
        "products:",
        "  agileplace: {id: p-agile}  # AgilePlace",
        "  portfolios: {id: p-port}  # Portfolios",
        "users:",
    ]
    + [
        line
        for i in range(40)
        for line in (
            f"  - email: user{i}@example.com",
            f"    firstName: {['Ann', 'Bo', 'Chloé'][i % 3]}",
            "    lastName: " + LAST_NAMES[i % 3],
            "    role: User" if i % 4 else "    role: Administrator",
            *(["    active: false"] if i % 5 == 0 else []),
            f"    products: [{', '.join(['agileplace', 'portfolios'][: i % 3])}]",
        )
    ]
)
EDIT_CHARACTERS = list(":#-[]{},'\"&*!|>? \t%@`~\\é\u2028\x85\r0123456789.")
EDIT_WORDS = ["yes", "no", "010", "1:30", "~", "null", "#x", ": x", "'a'", '"b"', "[a]", "{a: b}"]


def test_hand_edits_of_an_exported_file_read_the_same_by_both_readers() -> None:
    """What reviewers will do to an exported file: a character typed, deleted, a line
    copied or re-indented, a word pasted. Seeded, so a failure is reproducible."""
    rng = random.Random(13)
    taken = left = 0
    for _ in range(400):
        lines = EXPORTED.split("\n")
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(lines))
            line = lines[at]
            where = rng.randrange(len(line) + 1)
            edit = rng.randrange(6)
            if edit == 0:
                lines[at] = line[:where] + rng.choice(EDIT_CHARACTERS) + line[where:]
            elif edit == 1:
                lines[at] = line[:where] + line[where + 1 :]
            elif edit == 2:
                lines.insert(at, line)
            elif edit == 3:
                lines[at] = " " + line
            elif edit == 4:
                lines[at] = line[1:]
            else:
                lines[at] = line[:where] + " " + rng.choice(EDIT_WORDS) + line[where:]
        if check_agreement("\n".join(lines) + "\n"):
            taken += 1
        else:
            left += 1
    assert taken >= 40 and left >= 40, (taken, left)
