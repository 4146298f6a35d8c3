"""The `--map` file: which CSV column is which field, and value translations.

```yaml
columns:              # CSV header -> field of the desired state
  Work Email: email
  Dept: groups
values:               # field -> {value in the CSV: value to write}
  role: {"VP Engineering": Administrator}
  groups: {Engineering: engineering, R&D: "engineering;research"}
  active: {Terminated: "false"}
```

Read with the project's YAML loader, so every problem names its line, and all of
them are reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reconciler.errors import Diagnostic, ReconcilerError
from reconciler.load import read_document

# The fields a column can fill, in the order the output writes them.
FIELDS: tuple[str, ...] = (
    "email",
    "firstName",
    "lastName",
    "role",
    "passwordRequired",
    "active",
    "groups",
    "products",
)
# Fields whose cell holds a list of names separated by ';'.
LIST_FIELDS = frozenset({"groups", "products"})
_SECTIONS = ("columns", "values")


class MapError(ReconcilerError):
    """The --map file is unusable; carries every problem, each with its place."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = len(problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the map; nothing was written:\n"
            + "\n".join(problems)
        )


@dataclass(frozen=True, slots=True)
class ColumnMap:
    columns: dict[str, str] = field(default_factory=dict)  # CSV header -> field
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> from -> to


def load_map(path: str) -> ColumnMap:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MapError([f"{path}: cannot read the map: {exc.strerror or exc}"]) from None
    document, problems = read_document(path, data)
    if problems:
        raise MapError([str(p) for p in problems])
    root = document.value
    found: list[Diagnostic] = []

    def at(where: tuple[str | int, ...], message: str, *, key: bool = False) -> None:
        found.append(Diagnostic(message, document.pos(where, key=key)))

    if not isinstance(root, dict):
        raise MapError([f"{document.pos(())}: the map must be a mapping with columns and values"])
    for name in root:
        if name not in _SECTIONS:
            at((name,), f"unknown section {name!r} (a map has columns and values)", key=True)
    columns: dict[str, str] = {}
    raw_columns = root.get("columns") or {}
    if not isinstance(raw_columns, dict):
        at(("columns",), "columns must map CSV headers to fields")
        raw_columns = {}
    for header, target in raw_columns.items():
        if target not in FIELDS:
            at(("columns", header), f"{target!r} is not a field: use one of {', '.join(FIELDS)}")
        else:
            columns[str(header)] = str(target)
    values: dict[str, dict[str, str]] = {}
    raw_values = root.get("values") or {}
    if not isinstance(raw_values, dict):
        at(("values",), "values must map fields to {CSV value: value} mappings")
        raw_values = {}
    for target, table in raw_values.items():
        if target not in FIELDS or target == "email":
            at(
                ("values", target),
                f"{target!r} is not a field whose values can be mapped",
                key=True,
            )
            continue
        if not isinstance(table, dict):
            at(("values", target), "must map values in the CSV to values to write")
            continue
        converted: dict[str, str] = {}
        for source, replacement in table.items():
            if isinstance(replacement, bool):
                replacement = "true" if replacement else "false"
            if not isinstance(replacement, str):
                at(("values", target, source), "the value to write must be a string")
                continue
            converted[str(source)] = replacement
        values[str(target)] = converted
    if found:
        raise MapError([str(p) for p in found])
    return ColumnMap(columns, values)
