"""Validating desired-state files: the JSON Schema, then rules across all files.

`load_desired(paths)` is the one entry point later stages use: it returns a
`DesiredState` or raises `InputError` carrying every problem found, each pointed at a
file, line and column.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler.errors import Diagnostic, InputError
from reconciler.globs import glob_problem, protected_matcher
from reconciler.load import Document, load_files
from reconciler.load.gcpause import cycle_collection_paused
from reconciler.model import DesiredState
from reconciler.validate.build import build_state, digest
from reconciler.validate.merge import merge_documents
from reconciler.validate.rules import check_rules
from reconciler.validate.schema_check import schema_problems, schema_text

__all__ = [
    "digest",
    "glob_problem",
    "load_desired",
    "protected_matcher",
    "schema_text",
    "validate_documents",
]


def load_desired(paths: Sequence[str | Path]) -> DesiredState:
    """Read and validate the desired state in `paths` (files and directories)."""
    with cycle_collection_paused():
        documents, problems = load_files(paths)
        return validate_documents(documents, problems)


def validate_documents(documents: list[Document], problems: list[Diagnostic]) -> DesiredState:
    """Validate loaded documents; `problems` are those found while loading them."""
    with cycle_collection_paused():
        return _validate(documents, list(problems))


def _validate(documents: list[Document], problems: list[Diagnostic]) -> DesiredState:
    readable = [d for d in documents if d.value is not None]
    complete = not problems and len(readable) == len(documents)
    # Each stage reports only places the earlier ones found nothing wrong with: a value
    # the loader refused reads as null, and a malformed alias is also an unknown one,
    # but saying so again only buries the message that matters.
    _add_new_places(problems, [p for d in readable for p in schema_problems(d)])
    later: list[Diagnostic] = []
    merged = merge_documents(readable, later)
    check_rules(merged, later, complete=complete)
    _add_new_places(problems, later)
    if problems:
        raise InputError(_in_reading_order(problems, [d.file for d in documents]))
    return build_state(merged, [d.file for d in documents])


def _add_new_places(problems: list[Diagnostic], found: list[Diagnostic]) -> None:
    already = {p.pos for p in problems if p.pos}
    problems.extend(p for p in dict.fromkeys(found) if p.pos is None or p.pos not in already)


def _in_reading_order(problems: list[Diagnostic], files: list[str]) -> list[Diagnostic]:
    rank = {file: index for index, file in enumerate(files)}

    def order(problem: Diagnostic) -> tuple[int, int, int]:
        pos = problem.pos
        if pos is None:
            return (-1, 0, 0)
        return (rank.get(pos.file, len(rank)), pos.line, pos.col)

    return sorted(problems, key=order)
