"""A progress bar on stderr while apply runs, only when a person is watching."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import click

from reconciler.apply.executor import ChangeResult, ProgressCallback
from reconciler.cli.logs import json_mode, progress_events


@contextmanager
def progress_bar(total: int, stream: TextIO | None = None) -> Iterator[ProgressCallback | None]:
    """Yields a callback for `execute(progress=...)`, or None when stderr is not a TTY
    (CI logs get the summary and the journal, not a screenful of redrawn bars)."""
    stream = stream or sys.stderr
    if json_mode():
        # A redrawn bar is not a JSON line: counted `apply.progress` events instead.
        yield progress_events(total) if total else None
        return
    if total == 0 or not getattr(stream, "isatty", lambda: False)():
        yield None
        return
    with click.progressbar(
        length=total, label="Applying", file=stream, show_pos=True, show_eta=True
    ) as bar:

        def advance(result: ChangeResult) -> None:
            bar.update(1)

        yield advance
