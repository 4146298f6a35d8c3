"""Reading one YAML file into plain values and positions, refusing what is unsafe.

PyYAML's own path (compose a node graph, then construct) spends most of its time in
Python creating node and mark objects: about 4 s and 230 MB for a 50,000-user file.
Driving the C parser's event stream directly and building plain values here takes a
fraction of that, and is also where the safety rules live: no duplicate keys, one
document, a small set of tags, bounded alias expansion and nesting.
"""

from __future__ import annotations

import codecs
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode
from yaml.reader import ReaderError

from reconciler.errors import Diagnostic
from reconciler.load.document import COL, MAX_DEPTH, PAIR, Document, key_line, pack, shown
from reconciler.load.gcpause import cycle_collection_paused
from reconciler.load.plainfast import read_plain
from reconciler.load.scalars import (
    BOOL,
    CONVERT,
    MAP,
    MERGE,
    NULL,
    RESOLVABLE,
    SEQ,
    STR,
    TIMESTAMP,
    YAML,
    implicit_tag,
)
from reconciler.model import SourcePos

try:  # libyaml's parser when PyYAML was built with it; the pure one otherwise
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was installed
    from yaml import SafeLoader as _Loader

_UNSEEN = object()
_MERGE_KEY = object()  # stands for a "<<" key while a mapping is read

# Aliases may expand to at most this many nodes beyond ALIAS_FACTOR times the nodes
# actually written: plenty for `<<: *defaults` on every user, and a "billion laughs"
# file stops after a few thousand events instead of eating memory.
ALIAS_ALLOWANCE = 10_000
ALIAS_FACTOR = 10


class _Fatal(Exception):
    """Stops reading a file: what follows cannot be trusted or would cost too much."""

    def __init__(self, message: str, line: int, col: int):
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


def read_document(
    file: str, data: bytes, *, plain_first: bool = True
) -> tuple[Document, list[Diagnostic]]:
    """Parse `data` (the bytes of `file`). Returns the document (value None when the
    file could not be read) and every problem found.

    Files in plain block style are read by `plainfast.read_plain`, everything else
    (and everything when `plain_first` is false) by walking libyaml's events; both
    give the same document."""
    problems: list[Diagnostic] = []
    text, text_problem = _decode(file, data)
    if text_problem:
        return Document(file), [text_problem]
    if plain_first:
        with cycle_collection_paused():
            simple = read_plain(file, text)
        if simple is not None:
            return simple, problems
    builder = _Builder(file, data, problems)
    try:
        with cycle_collection_paused():
            value = builder.build()
    except _Fatal as fatal:
        problems.append(Diagnostic(fatal.message, SourcePos(file, fatal.line, fatal.col)))
        return Document(file), problems
    except ReaderError as exc:
        problems.append(_reader_problem(file, data, exc))
        return Document(file), problems
    except yaml.YAMLError as exc:
        problems.append(_syntax_problem(file, exc))
        return Document(file), problems
    finally:
        builder.dispose()
    return Document(file, value, root=builder.root, positions=builder.positions), problems


def _decode(file: str, data: bytes) -> tuple[str, Diagnostic | None]:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "", Diagnostic("the file is UTF-16; save it as UTF-8", SourcePos(file, 1, 1))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        return "", Diagnostic(
            f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8",
            SourcePos(file, line, col),
        )
    if not text.strip().lstrip("\ufeff"):
        return text, Diagnostic("the file is empty", SourcePos(file, 1, 1))
    return text, None


def _reader_problem(file: str, data: bytes, exc: ReaderError) -> Diagnostic:
    """A character YAML does not allow (control characters, mostly)."""
    # libyaml counts bytes when given bytes; columns are characters.
    before = data[: exc.position].decode("utf-8", errors="replace")
    line = before.count("\n") + 1
    col = len(before) - (before.rfind("\n") + 1) + 1
    character = exc.character
    shown = f"U+{character:04X}" if isinstance(character, int) else repr(character)
    return Diagnostic(
        f"the file contains a character YAML does not allow ({shown}): {exc.reason}",
        SourcePos(file, line, col),
    )


def _syntax_problem(file: str, exc: yaml.YAMLError) -> Diagnostic:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}"
    if "maximum nesting depth" in problem:
        # libyaml >= 0.2.6 scans a run of '[' ahead of the events our own depth check
        # sees, so its limit can fire first: say it the same way whichever one does.
        message, context = f"the document is nested more than {MAX_DEPTH} levels deep", None
    context_mark = getattr(exc, "context_mark", None)
    if context:
        message += f" ({context}"
        if context_mark is not None and mark is not None and context_mark.line != mark.line:
            message += f" that starts on line {context_mark.line + 1}"
        message += ")"
    if mark is None:
        return Diagnostic(message, SourcePos(file, 1, 1))
    return Diagnostic(message, SourcePos(file, mark.line + 1, mark.column + 1))


def _at(event: Any) -> int:
    mark = event.start_mark
    return mark.line * COL + mark.column


class _Builder:
    def __init__(self, file: str, data: bytes, problems: list[Diagnostic]):
        self.file = file
        self.loader = _Loader(data)
        self.next_event = self.loader.get_event
        self.problems = problems
        self.positions: dict[int, Any] = {}
        # anchor -> (value, expanded size); a value of None while the anchor is open
        self.anchors: dict[str, tuple[Any, int] | None] = {}
        self.written = 0  # events for nodes actually in the file
        self.expanded = 0  # nodes added by aliases
        self.keys: dict[str, str] = {}  # one string object per distinct key
        self.root = pack(1, 1)

    def dispose(self) -> None:
        self.loader.dispose()

    def problem(self, message: str, event: Any) -> None:
        mark = event.start_mark
        self.problems.append(
            Diagnostic(message, SourcePos(self.file, mark.line + 1, mark.column + 1))
        )

    def build(self) -> Any:
        self.next_event()  # StreamStartEvent
        event = self.next_event()
        if type(event) is StreamEndEvent:
            raise _Fatal("the file has no content (only comments or blank lines)", 1, 1)
        if type(event) is not DocumentStartEvent:  # pragma: no cover - parser guarantees it
            raise _Fatal("invalid YAML: expected a document", 1, 1)
        event = self.next_event()
        self.root = _at(event)
        value = self.node(event, 0)
        self.next_event()  # DocumentEndEvent
        event = self.next_event()
        if type(event) is not StreamEndEvent:
            mark = event.start_mark
            raise _Fatal(
                "the file holds more than one YAML document (a second one starts here); "
                "put each in its own file",
                mark.line + 1,
                mark.column + 1,
            )
        if value is None:
            raise _Fatal("the file has no content (only comments or an empty document)", 1, 1)
        return value

    def node(self, event: Any, depth: int) -> Any:
        kind = type(event)
        self.written += 1
        if kind is ScalarEvent:
            value = self.scalar(event)
            if event.anchor is not None:
                self.anchors[event.anchor] = (value, 1)
            return value
        if kind is AliasEvent:
            return self.alias(event)
        if depth >= MAX_DEPTH:
            mark = event.start_mark
            raise _Fatal(
                f"the document is nested more than {MAX_DEPTH} levels deep",
                mark.line + 1,
                mark.column + 1,
            )
        anchor = event.anchor
        if anchor is not None:
            self.anchors[anchor] = None
            before = self.written + self.expanded
        if kind is MappingStartEvent:
            value = self.mapping(event, depth)
        elif kind is SequenceStartEvent:
            value = self.sequence(event, depth)
        else:  # pragma: no cover - the parser only yields the kinds above here
            raise _Fatal(f"invalid YAML: unexpected {kind.__name__}", 1, 1)
        if anchor is not None:
            self.anchors[anchor] = (value, self.written + self.expanded - before)
        return value

    def alias(self, event: Any) -> Any:
        mark = event.start_mark
        if event.anchor not in self.anchors:
            raise _Fatal(
                f"alias *{shown(event.anchor)[1:-1]} refers to no anchor defined before it",
                mark.line + 1,
                mark.column + 1,
            )
        entry = self.anchors[event.anchor]
        if entry is None:
            raise _Fatal(
                f"alias *{shown(event.anchor)[1:-1]} refers to the node that contains it (a cycle)",
                mark.line + 1,
                mark.column + 1,
            )
        value, size = entry
        self.expanded += size
        if self.expanded > ALIAS_FACTOR * self.written + ALIAS_ALLOWANCE:
            raise _Fatal(
                "aliases expand to far more data than the file holds "
                f"(over {self.expanded:,} nodes from {self.written:,} written); refusing it",
                mark.line + 1,
                mark.column + 1,
            )
        return value

    def scalar(self, event: Any) -> Any:
        tag, value = event.tag, event.value
        if tag is None or tag == "!":
            if tag is not None or not event.implicit[0]:
                return value  # quoted, or the non-specific tag: a string
            tag = implicit_tag(value)
        if tag == STR:
            return value
        if tag == NULL:
            return None
        if tag == BOOL:
            converted = SafeConstructor.bool_values.get(value.lower())
            if converted is None:
                self.problem(f"{shown(value)} is not a boolean (tagged !!bool)", event)
            return converted
        if tag in CONVERT:
            try:
                return CONVERT[tag](ScalarNode(tag, value))
            except (ValueError, TypeError, OverflowError, IndexError, KeyError):
                self.problem(f"{shown(value)} is not a number (tagged {_short(tag)})", event)
                return None
        if tag in (TIMESTAMP, YAML + "value") and event.implicit[0]:
            # JSON has no dates: an unquoted date stays the text that was written.
            return value
        if tag == MERGE:
            return value  # a "<<" outside a key: just text
        self.problem(
            f"the tag {_short(tag)} is not allowed; use plain YAML values "
            "(strings, numbers, booleans, lists, mappings)",
            event,
        )
        return None

    # sequence() and mapping() read plain scalars inline: on a large file they are
    # nearly all the events, and a call per event roughly doubles the load time.

    def sequence(self, event: Any, depth: int) -> list[Any]:
        if event.tag not in (None, "!", SEQ):
            self.problem(f"the tag {_short(event.tag)} is not allowed on a list", event)
        items: list[Any] = []
        where: list[int] = []
        self.positions[id(items)] = where
        next_event, node, scalar = self.next_event, self.node, self.scalar
        add, at = items.append, where.append
        resolvable, scalar_event, col = RESOLVABLE.get, ScalarEvent, COL
        while True:
            item = next_event()
            kind = type(item)
            if kind is SequenceEndEvent:
                return items
            mark = item.start_mark
            at(mark.line * col + mark.column)
            if kind is scalar_event and item.tag is None and item.anchor is None:
                self.written += 1
                raw = item.value
                if item.implicit[0] and len(raw) <= resolvable(raw[:1], -1):
                    add(scalar(item))
                else:
                    add(raw)
            else:
                add(node(item, depth + 1))

    def mapping(self, event: Any, depth: int) -> dict[str, Any]:
        if event.tag not in (None, "!", MAP):
            self.problem(f"the tag {_short(event.tag)} is not allowed on a mapping", event)
        result: dict[str, Any] = {}
        # Positions in key order, in step with `result`: a list is a third the size of
        # a dict, and is only searched when a message needs a position.
        where: list[int] = []
        self.positions[id(result)] = where
        merges: list[tuple[Any, Any]] = []
        next_event, node, scalar, keys = self.next_event, self.node, self.scalar, self.keys
        resolvable, scalar_event, col, pair = RESOLVABLE.get, ScalarEvent, COL, PAIR
        while True:
            key_event = next_event()
            kind = type(key_event)
            if kind is MappingEndEvent:
                break
            mark = key_event.start_mark
            key_at = mark.line * col + mark.column
            if kind is scalar_event and key_event.tag is None and key_event.anchor is None:
                self.written += 1
                raw = key_event.value
                if key_event.implicit[0]:
                    key = keys.get(raw, _UNSEEN)
                    if key is _UNSEEN:
                        key = _MERGE_KEY if raw == "<<" else scalar(key_event)
                        if type(key) is str:
                            keys[raw] = key
                else:
                    key = raw
            else:
                key = node(key_event, depth + 1)
            value_event = next_event()
            mark = value_event.start_mark
            value_at = mark.line * col + mark.column
            if (
                type(value_event) is scalar_event
                and value_event.tag is None
                and value_event.anchor is None
            ):
                self.written += 1
                raw = value_event.value
                if value_event.implicit[0] and len(raw) <= resolvable(raw[:1], -1):
                    value = scalar(value_event)
                else:
                    value = raw
            else:
                value = node(value_event, depth + 1)
            if key is _MERGE_KEY:
                merges.append((value, value_event))
                continue
            if type(key) is not str:
                self.problem(
                    f"a key must be a string, not {_describe(key)}; put it in quotes", key_event
                )
                continue
            if key in result:
                first = key_line(where[list(result).index(key)])
                self.problem(
                    f"duplicate key {shown(key)} (first defined on line {first}); "
                    "YAML would silently keep only the last one",
                    key_event,
                )
                continue
            result[key] = value
            where.append(key_at * pair + value_at)
        for merged, merge_event in merges:
            self.merge(result, where, merged, merge_event)
        return result

    def merge(self, result: dict[str, Any], where: list[int], merged: Any, event: Any) -> None:
        """`<<: *defaults` (or a list of them): keys written here win, then earlier merges."""
        sources = merged if isinstance(merged, list) else [merged]
        for source in sources:
            if not isinstance(source, dict):
                self.problem("'<<' (merge) needs a mapping or a list of mappings", event)
                return
            source_where = self.positions[id(source)]
            for (key, value), pair in zip(source.items(), source_where, strict=True):
                if key not in result:
                    result[key] = value
                    where.append(pair)


def _describe(key: Any) -> str:
    if isinstance(key, list):
        return "a list"
    if isinstance(key, dict):
        return "a mapping"
    return f"{shown(key)} (read as {type(key).__name__})"


def _short(tag: str) -> str:
    return "!!" + tag[len(YAML) :] if tag.startswith(YAML) else tag
