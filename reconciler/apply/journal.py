"""The apply journal: one JSON line per change, written the moment its outcome is known.

Each line is flushed and fsync'd before the next change is recorded, so a run killed
at any point (SIGKILL, power loss) leaves a file of complete lines describing every
change that finished. The file holds no secrets: only the plan's identity, the change,
its outcome and what the server said about a failure (passed through `redact`).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.errors import ConfigError
from reconciler.redact import redact

JOURNAL_DIR = ".reconciler"


def default_journal_path(now: datetime | None = None) -> Path:
    """./.reconciler/journal-<UTC timestamp>.jsonl, relative to the working directory."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return Path(JOURNAL_DIR) / f"journal-{stamp}.jsonl"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Journal:
    """Appends records to a JSON-lines file readable by its owner only (0600).

    Thread-safe: the executor's workers record their outcomes concurrently.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            if self.path.parent != Path(""):
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            # An existing file keeps its mode on open; a journal is never group/world readable.
            os.fchmod(fd, 0o600)
        except OSError as exc:
            raise ConfigError(
                f"cannot open the journal file {self.path}: {exc.strerror or exc}"
            ) from None
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        line = redact(json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str))
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_journal(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every record of a journal, in the order written."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
