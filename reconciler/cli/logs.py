"""Everything the CLI writes to stderr goes through `emit`: text for people, or with
`--log-format json` one JSON object per line for log pipelines.

stdout (plans, reports) never goes through here: it is the same in both formats.
The event names are a contract, documented in docs/cli.md.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import click

from reconciler.redact import redact

FORMATS = ("text", "json")
FORMAT_ENV = "RECONCILER_LOG_FORMAT"
LEVELS = ("debug", "info", "warning", "error")

_format = "text"
# Apply's workers report progress from their own threads: one line must never be
# interleaved with another.
_write_lock = threading.Lock()


def set_format(name: str) -> None:
    global _format
    _format = name if name in FORMATS else "text"


def json_mode() -> bool:
    return _format == "json"


def early_format(argv: Sequence[str] | None) -> str:
    """The format before click has parsed anything, for errors click raises while
    parsing: `--log-format json` among the group's own options, else the environment."""
    args = list(sys.argv[1:] if argv is None else argv)
    chosen = os.environ.get(FORMAT_ENV, "text").strip().lower()
    for index, arg in enumerate(args):
        if arg == "--log-format" and index + 1 < len(args):
            chosen = args[index + 1].strip().lower()
        elif arg.startswith("--log-format="):
            chosen = arg.split("=", 1)[1].strip().lower()
        elif not arg.startswith("-"):
            break  # the command name: later options belong to the command
    return chosen if chosen in FORMATS else "text"


def _clean(value: Any) -> Any:
    """Every string a JSON line carries, at any depth, redacted as text mode would be."""
    if isinstance(value, str):
        return redact(click.unstyle(value))
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_object(event: str, level: str, message: str, **fields: Any) -> dict[str, Any]:
    """The JSON object of one event (fields cannot overwrite ts, level, event, message)."""
    line: dict[str, Any] = {"ts": _now(), "level": level, "event": event}
    line["message"] = _clean(message)
    for key, value in fields.items():
        line.setdefault(key, _clean(value))
    return line


def emit(event: str, level: str, message: str, *, text: str | None = None, **fields: Any) -> None:
    """One stderr line: `text` (or `message`) as it always read, or the JSON event.

    `text` carries the styled wording of text mode; JSON gets the plain `message`.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}")
    if json_mode():
        line = json.dumps(event_object(event, level, message, **fields), ensure_ascii=False)
    else:
        line = redact(message if text is None else text)
    with _write_lock:
        click.echo(line, err=True)


def emit_json_only(event: str, level: str, message: str, **fields: Any) -> None:
    """An event that text mode already shows on stdout (plan warnings, say): JSON only."""
    if json_mode():
        emit(event, level, message, **fields)


class JsonFormatter(logging.Formatter):
    """Python logging records as `log` events."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {"logger": record.name}
        if record.exc_info:
            fields["traceback"] = self.formatException(record.exc_info)
        level = record.levelname.lower()
        level = level if level in LEVELS else ("error" if record.levelno >= 40 else "debug")
        line = event_object("log", level, record.getMessage(), **fields)
        return json.dumps(line, ensure_ascii=False)


def progress_events(total: int) -> Callable[[Any], None]:
    """An `apply.progress` event at every tenth of the changes (and the last), counted,
    not timed: at most eleven lines whatever the size of the run."""
    step = max(1, -(-total // 10))
    state = {"done": 0, "failed": 0}
    lock = threading.Lock()

    def advance(result: Any) -> None:
        with lock:
            state["done"] += 1
            if getattr(result, "outcome", None) == "failed":
                state["failed"] += 1
            done, failed = state["done"], state["failed"]
        if done % step == 0 or done == total:
            emit(
                "apply.progress",
                "info",
                f"applied {done} of {total} changes",
                done=done,
                total=total,
                failed=failed,
            )

    return advance


def diagnostic_fields(problem: Any) -> dict[str, Any]:
    """Where a desired-state problem is, as `validate.problem` and `error` events carry it."""
    pos = problem.pos
    return {
        "file": pos.file if pos else None,
        "line": pos.line if pos else None,
        "column": pos.col if pos else None,
        "path": problem.path or None,
    }
