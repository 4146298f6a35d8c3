"""An insertion-ordered keyed collection that pages in O(page) rather than O(n).

Offset paging reads a slice of the records in insertion order. A dict keeps that
order and gives O(1) lookups; a list snapshot of its values, rebuilt only after a
removal, turns a page read into a list slice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

V = TypeVar("V")


class OrderedRecords(Generic[V]):
    __slots__ = ("_items", "_order")

    def __init__(self) -> None:
        self._items: dict[str, V] = {}
        self._order: list[V] | None = []

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def get(self, key: str) -> V | None:
        return self._items.get(key)

    def add(self, key: str, value: V) -> None:
        if key in self._items:
            raise KeyError(f"duplicate key {key!r}")
        self._items[key] = value
        if self._order is not None:
            self._order.append(value)

    def remove(self, key: str) -> V:
        value = self._items.pop(key)
        # Rebuilt lazily: a burst of removals costs one rebuild at the next read.
        self._order = None
        return value

    def values(self) -> list[V]:
        if self._order is None:
            self._order = list(self._items.values())
        return self._order

    def slice(self, start: int, count: int) -> list[V]:
        """Records [start, start+count) in insertion order; start is 0-based."""
        return self.values()[start : start + count]
