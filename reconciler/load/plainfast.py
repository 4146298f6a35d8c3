"""A fast reader for the plain block-style YAML that desired-state files are made of.

`reader.read_document` walks libyaml's event stream: one Python object per event, two
marks per object. Most desired-state files (everything `reconciler export` writes and
most hand-written ones) use a small part of YAML: block mappings and lists by
indentation, `key: value` lines, one-line `[a, b]` and `{k: v}` collections, plain or
simply quoted scalars, comments. Reading that part line by line with a few regular
expressions gives the same values and the same positions in about two thirds of the
event reader's time (1.4 s against 2.1 s of CPU for 50,000 users, docs/benchmarks.md).

It only ever accepts: on anything outside that part (anchors, aliases, tags, merge
keys, escapes, multi-line scalars, several documents, tabs, duplicate or non-string
keys, characters YAML refuses) `read_plain` returns None and the caller reads the
file with the full loader, which makes every refusal and every message. So this
module never decides that a file is wrong, only that it is simple.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from reconciler.load.document import COL, MAX_DEPTH, PAIR, Document
from reconciler.load.scalars import RESOLVABLE, plain_scalar

# A key this reader takes: plain words, single spaces between them, that cannot be
# anything but a string once resolved (checked with the loader's own rules, see
# `_Reader.key`). Quoted keys and keys with YAML indicators go to the full loader.
_KEY = r"\w[\w.@+/-]*(?: [\w.@+/-]+)*"
# One item of a one-line flow collection: a plain scalar without flow indicators,
# colons or comments, or a simply quoted one; then its terminator.
_FLOW_PLAIN = re.compile(
    r"([^\s,\[\]{}#&*!|>'\"%@`?:-][^,\[\]{}#:]*?|-[^\s,\[\]{}#:][^,\[\]{}#:]*?) *([,\]}])"
)
_FLOW_DOUBLE = re.compile(r'"([^"\\]*)" *([,\]}])')
_FLOW_SINGLE = re.compile(r"'([^']*)' *([,\]}])")
_FLOW_KEY = re.compile(rf" *({_KEY}): +")
_FLOW_EMPTY = re.compile(r"\[ *\]|\{ *\}")
_SPACES = re.compile(r" *")
_CLOSE = re.compile(r" *([,\]}])")
# After a value: nothing, or a comment.
_TAIL = re.compile(r"(?: +#.*)?")
# Characters libyaml refuses (YAML 1.1 printable set), and a byte-order mark anywhere.
# Most files are ASCII: then only control characters need a look (and the pattern
# below, with its wide ranges, costs 10 ms to compile, so it is compiled on demand).
_ASCII_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f]")
# NEL, LS and PS are line breaks to YAML but not to str.split("\n"): left out too.
_UNPRINTABLE = (
    "[^\x0a\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
# A plain scalar may not start with these (some only when a space follows: `-5` is a
# number; this reader leaves those few to the full loader too).
_NOT_PLAIN_START = frozenset(",[]{}#&*!|>'\"%@`?:-")


class _NotPlain(Exception):
    """The file uses YAML this reader leaves to the full loader."""


def read_plain(file: str, text: str) -> Document | None:
    """The document in `text`, or None if it is not plain block-style YAML.

    The Document is what `reader.read_document` builds for the same text: the same
    values, the same packed positions, the same root."""
    if "\r" in text:
        if text.count("\r") != text.count("\r\n"):
            return None  # a lone CR is a line break to YAML
        text = text.replace("\r\n", "\n")  # positions are the same either way
    if "\t" in text:
        return None
    if text.isascii():
        if _ASCII_CONTROL.search(text):
            return None
    elif re.search(_UNPRINTABLE, text):  # compiled once, by re's own cache
        return None
    try:
        return _Reader(file, text).read()
    except _NotPlain:
        return None


# Every line, split by one regex pass over the whole text: (indent, "- " of a list
# item, key, the spaces after its colon, the rest). A line this does not fit still
# matches, with the words it could not read left in the rest.
_LINE = re.compile(rf"^( *)(- +|-$)?(?:({_KEY}):( +|$))?(.*)$", re.MULTILINE)
# The first characters of a value that need more than the plain-scalar path.
_SPECIAL_START = frozenset("[{\"'") | _NOT_PLAIN_START


_CHUNK = 1 << 18


def _lines(text: str) -> Iterator[tuple[str, str, str, str, str]]:
    """`_LINE`'s fields for every line, a few thousand lines at a time: one findall
    over a 50,000-user file would hold a million strings at once (50 MB more peak)."""
    start, end = 0, len(text)
    while start <= end:
        stop = text.find("\n", start + _CHUNK)
        if stop < 0:
            stop = end
        yield from _LINE.findall(text, start, stop)
        start = stop + 1


_SIMPLE_LIST = re.compile(r"\[((?:[^\W\d][\w.@+/-]*, )*[^\W\d][\w.@+/-]*)\]")


def _simple_list(text: str) -> list[str] | None:
    """`[a, b]` of words that read as strings, one space after each comma: the items."""
    match = _SIMPLE_LIST.fullmatch(text)
    if match is None:
        return None
    items = match.group(1).split(", ")
    for item in items:
        if len(item) <= 5 and type(plain_scalar(item)) is not str:
            return None  # `[yes, no]`: booleans
    return items


class _Reader:
    def __init__(self, file: str, text: str):
        self.file = file
        self.text = text
        self.positions: dict[int, Any] = {}
        self.keys: dict[str, str] = {}

    def key(self, raw: str) -> str:
        """One string object per distinct key, and only keys that read as strings."""
        key = self.keys.get(raw)
        if key is None:
            if raw == "<<" or type(plain_scalar(raw)) is not str:
                raise _NotPlain
            key = self.keys[raw] = raw
        return key

    def read(self) -> Document:
        positions, keys, value_of = self.positions, self.keys, self.value
        resolvable, special, pair = RESOLVABLE.get, _SPECIAL_START, PAIR
        # Open block collections, innermost last: (indent, container, positions, is_map).
        stack: list[tuple[int, Any, list[int], bool]] = []
        # A key whose value starts on a later line: (mapping, its positions, key,
        # packed key position, packed position just after the colon, mapping's indent).
        pending: tuple[dict[str, Any], list[int], str, int, int, int] | None = None
        root: dict[str, Any] | None = None
        root_at = 0
        seen_start = False
        where: list[int] = []
        container: Any = None
        top_indent, is_map = -1, True
        at_line = -COL
        for spaces, dash, raw_key, gap, rest in _lines(self.text):
            at_line += COL
            if rest and rest[-1] == " ":
                rest = rest.rstrip(" ")
            if not dash and not raw_key and (not rest or rest[0] == "#"):
                continue  # blank or comment
            indent = len(spaces)
            if root is None:
                if not spaces and not raw_key and (rest == "---" or rest.startswith("--- #")):
                    if seen_start:
                        raise _NotPlain  # an empty document, then another
                    seen_start = True
                    continue
                if indent or dash or not raw_key:
                    raise _NotPlain
                root = {}
                root_at = at_line
                top_indent, container, where, is_map = 0, root, [], True
                stack.append((0, root, where, True))
                positions[id(root)] = where
            if pending is not None:
                mapping, owner_where, key, key_at, empty_at, owner = pending
                pending = None
                if indent > owner or (indent == owner and dash):
                    if len(stack) >= MAX_DEPTH:
                        raise _NotPlain
                    child: Any = [] if dash else {}
                    where = []
                    positions[id(child)] = where
                    mapping[key] = child
                    owner_where.append(key_at * pair + at_line + indent)
                    top_indent, container, is_map = indent, child, not dash
                    stack.append((indent, child, where, is_map))
                else:
                    mapping[key] = None
                    owner_where.append(key_at * pair + empty_at)
            while indent < top_indent or (
                indent == top_indent and not is_map and not dash and len(stack) > 1
            ):
                # A list written at its parent key's own indent ends at the next key.
                stack.pop()
                if not stack:
                    raise _NotPlain
                top_indent, container, where, is_map = stack[-1]
            if indent != top_indent:
                raise _NotPlain  # a continuation line, or indentation YAML would refuse
            if not is_map:
                if not dash or dash == "-":
                    raise _NotPlain  # not an item, or one whose content is on the next line
                column = indent + len(dash)
                if not raw_key:
                    if not rest or rest[0] == "#":
                        raise _NotPlain  # the item's content starts on the next line
                    container.append(value_of(rest, at_line, column, len(stack)))
                    where.append(at_line + column)
                    continue
                if len(stack) >= MAX_DEPTH:
                    raise _NotPlain
                item: dict[str, Any] = {}
                item_where: list[int] = []
                positions[id(item)] = item_where
                container.append(item)
                where.append(at_line + column)
                indent = column
                top_indent, container, where, is_map = column, item, item_where, True
                stack.append((column, item, item_where, True))
            elif dash or not raw_key:
                raise _NotPlain
            key = keys.get(raw_key) or self.key(raw_key)
            if key in container:
                raise _NotPlain  # the full loader names both places
            key_at = at_line + indent
            if not rest or rest[0] == "#":
                colon = indent + len(raw_key) + 1
                pending = (container, where, key, key_at, at_line + colon, indent)
                continue
            value_col = indent + len(raw_key) + 1 + len(gap)
            first = rest[0]
            if (
                first == "["
                and len(stack) < MAX_DEPTH
                and (items := _simple_list(rest)) is not None
            ):
                # `products: [a, b]` on most users: the general flow reader costs more
                # than the rest of the line.
                items_where: list[int] = []
                positions[id(items)] = items_where
                column = at_line + value_col + 1
                for word in items:
                    items_where.append(column)
                    column += len(word) + 2
                container[key] = items
            elif first in special or " #" in rest or ": " in rest or rest[-1] == ":":
                container[key] = value_of(rest, at_line, value_col, len(stack))
            elif len(rest) <= resolvable(first, -1):
                container[key] = plain_scalar(rest)
            else:
                container[key] = rest
            where.append(key_at * pair + at_line + value_col)
        if pending is not None:
            mapping, owner_where, key, key_at, empty_at, _ = pending
            mapping[key] = None
            owner_where.append(key_at * pair + empty_at)
        if root is None:
            raise _NotPlain
        return Document(self.file, root, root=root_at, positions=positions)

    def value(self, text: str, at_line: int, column: int, depth: int) -> Any:
        """The scalar or one-line flow collection `text` (spaces at its end removed),
        `depth` collections deep."""
        first = text[0]
        if first == "[" or first == "{":
            value, end = self.flow(text, 0, at_line, column, depth)
            self.tail(text, end)
            return value
        if first == '"':
            end = text.find('"', 1)
            if end < 0 or "\\" in text[1:end]:
                raise _NotPlain
            self.tail(text, end + 1)
            return text[1:end]
        if first == "'":
            end = text.find("'", 1)
            if end < 0 or text[end + 1 : end + 2] == "'":
                raise _NotPlain
            self.tail(text, end + 1)
            return text[1:end]
        if first in _NOT_PLAIN_START and (first != "-" or len(text) == 1 or text[1] == " "):
            raise _NotPlain
        comment = text.find(" #")
        if comment >= 0:
            text = text[:comment].rstrip(" ")
        if ": " in text or text[-1] == ":":
            raise _NotPlain  # YAML refuses a second mapping here; let it say so
        return plain_scalar(text)

    @staticmethod
    def tail(text: str, end: int) -> None:
        if end < len(text) and _TAIL.fullmatch(text, end) is None:
            raise _NotPlain

    def flow(
        self, text: str, start: int, at_line: int, column: int, depth: int = 0
    ) -> tuple[Any, int]:
        """A one-line `[...]` or `{...}` at text[start] (written at `column`); returns it
        and the index just after it."""
        if depth >= MAX_DEPTH:
            raise _NotPlain
        is_map = text[start] == "{"
        result: Any = {} if is_map else []
        where: list[int] = []
        self.positions[id(result)] = where
        empty = _FLOW_EMPTY.match(text, start)
        if empty is not None:
            return result, empty.end()
        base = at_line + column - start  # text[i] is at packed position base + i
        at = start + 1
        key = ""
        key_at = 0
        while True:
            if is_map:
                key_match = _FLOW_KEY.match(text, at)
                if key_match is None:
                    raise _NotPlain
                key = self.key(key_match.group(1))
                if key in result:
                    raise _NotPlain
                key_at = base + key_match.start(1)
                at = key_match.end()
            at = _SPACES.match(text, at).end()  # type: ignore[union-attr]
            first = text[at : at + 1]
            if first == "[" or first == "{":
                value_at = base + at
                value, at = self.flow(text, at, at_line, value_at - at_line, depth + 1)
                closing = _CLOSE.match(text, at)
                if closing is None:
                    raise _NotPlain
                terminator, at = closing.group(1), closing.end()
            else:
                if first == '"':
                    match = _FLOW_DOUBLE.match(text, at)
                elif first == "'":
                    match = _FLOW_SINGLE.match(text, at)
                else:
                    match = _FLOW_PLAIN.match(text, at)
                if match is None:
                    raise _NotPlain
                value_at = base + at
                raw = match.group(1)
                value = raw if first == '"' or first == "'" else plain_scalar(raw)
                terminator, at = match.group(2), match.end()
            if is_map:
                result[key] = value
                where.append(key_at * PAIR + value_at)
            else:
                result.append(value)
                where.append(value_at)
            if terminator == ",":
                continue
            if terminator != ("}" if is_map else "]"):
                raise _NotPlain
            return result, at
