"""Joining several documents into one desired state, remembering where each part was.

`users` lists are concatenated; each entry of `settings`, `products` and `groups` may
be written in one file only, so teams can own separate files without silently
overriding each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import Diagnostic
from reconciler.load import Document, PathSegment, format_path
from reconciler.load.document import shown
from reconciler.model import SourcePos

SECTIONS = ("settings", "products", "groups")
_WHAT = {"settings": "setting", "products": "product alias", "groups": "group"}


@dataclass(slots=True)
class Origin:
    document: Document
    path: tuple[PathSegment, ...]

    def pos(self, *more: PathSegment, key: bool = False) -> SourcePos:
        return self.document.pos((*self.path, *more), key=key)

    def where(self, *more: PathSegment) -> str:
        return format_path((*self.path, *more))


@dataclass(slots=True)
class Merged:
    # section -> entry name -> (value, where the entry was written)
    sections: dict[str, dict[str, tuple[Any, Origin]]] = field(
        default_factory=lambda: {name: {} for name in SECTIONS}
    )
    # (user mapping, document, index in that document's users list)
    users: list[tuple[Any, Document, int]] = field(default_factory=list)


def merge_documents(documents: list[Document], problems: list[Diagnostic]) -> Merged:
    merged = Merged()
    for document in documents:
        content = document.value
        if not isinstance(content, dict):
            continue
        for section in SECTIONS:
            entries = content.get(section)
            if not isinstance(entries, dict):
                continue
            seen = merged.sections[section]
            for name, value in entries.items():
                origin = Origin(document, (section, name))
                if name in seen:
                    first = seen[name][1].pos(key=True)
                    problems.append(
                        Diagnostic(
                            f"{_WHAT[section]} {shown(name)} is already defined at {first}; "
                            "define it in one file only",
                            origin.pos(key=True),
                            origin.where(),
                        )
                    )
                    continue
                seen[name] = (value, origin)
        users = content.get("users")
        if isinstance(users, list):
            merged.users.extend((user, document, index) for index, user in enumerate(users))
    return merged
