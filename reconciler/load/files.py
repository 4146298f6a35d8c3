"""Turning PATH arguments into the list of files to read, and reading them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from reconciler.errors import Diagnostic
from reconciler.load.document import Document
from reconciler.load.reader import read_document

SUFFIXES = (".yaml", ".yml")


def expand_paths(paths: Sequence[str | Path]) -> tuple[list[str], list[Diagnostic]]:
    """Files as given, and every *.yaml/*.yml below a directory in sorted order.

    Sorted by path so that the result (and the order of messages) is the same on every
    machine. Hidden files and directories (.git, editor swap files) are skipped. A file
    named twice, directly or through a directory, is read once.
    """
    files: list[str] = []
    problems: list[Diagnostic] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            files.append(path)

    if not paths:
        problems.append(Diagnostic("no desired-state files given"))
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                str(p)
                for p in path.rglob("*")
                if p.suffix in SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                problems.append(Diagnostic(f"{raw}: no *.yaml or *.yml files in this directory"))
            for file in found:
                add(file)
        elif path.is_file():
            add(str(path))
        elif path.exists():
            problems.append(Diagnostic(f"{raw}: not a regular file or directory"))
        else:
            problems.append(Diagnostic(f"{raw}: no such file or directory"))
    return files, problems


def load_files(paths: Sequence[str | Path]) -> tuple[list[Document], list[Diagnostic]]:
    """Read every file named by `paths`. Returns the documents that could be read and
    every problem found; one unreadable file does not stop the others being checked."""
    files, problems = expand_paths(paths)
    documents: list[Document] = []
    for file in files:
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            problems.append(Diagnostic(f"{file}: cannot read the file: {exc.strerror or exc}"))
            documents.append(Document(file))
            continue
        document, found = read_document(file, data)
        documents.append(document)
        problems.extend(found)
    return documents, problems
