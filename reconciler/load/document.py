"""A loaded YAML document: plain values plus a compact table of where each was written.

Plain dicts/lists/scalars are what the schema validator and the rules want to read, and
they are far cheaper than PyYAML's node objects. Positions live beside them, keyed by
the identity of the container that holds the value, and are decoded only when a
message needs one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.model import SourcePos

PathSegment = str | int
# A position is packed into one int (line * COL + col, 0-based) so that a 50,000-user
# file does not need a million tuples; mapping entries pack the key's and the value's.
COL = 1 << 32
PAIR = 1 << 64
# Deeper nesting is refused: no desired state needs it, and a file of 100,000 `[`
# must not exhaust the stack.
MAX_DEPTH = 64


def pack(line: int, col: int) -> int:
    """1-based line and column -> packed. Packed values are 0-based, as YAML marks
    are, which saves the reader two additions per node."""
    return (line - 1) * COL + col - 1


def pack_pair(key: int, value: int) -> int:
    return key * PAIR + value


def key_line(pair: int) -> int:
    """The line of the key in a packed mapping entry."""
    return pair // PAIR // COL + 1


def unpack(file: str, packed: int) -> SourcePos:
    line, col = divmod(packed, COL)
    return SourcePos(file, line + 1, col + 1)


def shown(value: object) -> str:
    """A value as messages quote it: a 1 MB string must not become a 1 MB message."""
    if isinstance(value, str) and len(value) > 60:
        return repr(value[:57] + "...")
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_path(path: Sequence[PathSegment]) -> str:
    """users[3].email: the notation messages use to name a node."""
    out: list[str] = []
    for segment in path:
        if isinstance(segment, int):
            out.append(f"[{segment}]")
        elif segment.isidentifier() and len(segment) <= 60:
            out.append(f".{segment}" if out else segment)
        else:
            out.append(f"[{shown(segment)}]")
    return "".join(out)


@dataclass(slots=True)
class Document:
    """One file's content. `value` is None only when the file could not be read."""

    file: str
    value: Any = None
    root: int = field(default=pack(1, 1))
    # id(container) -> packed positions of its entries in order: pack_pair(key, value)
    # for a mapping, the value's position for a sequence. The containers live in `value`, so their
    # ids stay valid as long as the document does.
    positions: dict[int, Any] = field(default_factory=dict)

    def pos(self, path: Sequence[PathSegment], *, key: bool = False) -> SourcePos:
        """Where the node at `path` was written; with key=True, where its key was.

        Falls back to the nearest enclosing node that has a position, so a message about
        a missing field points at the mapping that lacks it.
        """
        packed, node = self.root, self.value
        for depth, segment in enumerate(path):
            table = self.positions.get(id(node))
            try:
                if table is None:
                    break
                if isinstance(node, dict):
                    pair = table[list(node).index(segment)]
                    last = depth == len(path) - 1
                    packed = pair // PAIR if key and last else pair % PAIR
                elif isinstance(node, list) and isinstance(segment, int):
                    packed = table[segment]
                else:
                    break
                node = node[segment]
            except (KeyError, IndexError, TypeError, ValueError):
                break
        return unpack(self.file, packed)
