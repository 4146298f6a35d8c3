"""Terminal conventions shared by every command: colour, logging, the stats line."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

from reconciler.cli.logs import JsonFormatter, emit, json_mode
from reconciler.redact import RedactingFilter

# Styling lives with the renderers (which must not import the CLI); commands take it
# from here as before.
from reconciler.render.style import style

__all__ = ["colour_enabled", "configure_logging", "error", "style"]


def colour_enabled(stream: TextIO | None = None, *, force: bool | None = None) -> bool:
    """Colour only on a TTY, never when NO_COLOR is set (https://no-color.org)."""
    if force is not None:
        return force
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def configure_logging(verbosity: int) -> None:
    """-v: info, -vv or more: debug (including the HTTP client's request lines)."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    text = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    handler.setFormatter(JsonFormatter() if json_mode() else text)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx/httpcore log every request at INFO/DEBUG; keep them for -vv only.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)


def error(message: str, **fields: Any) -> None:
    """The `error` event: "Error: message" in text, or a JSON line with `fields`."""
    styled = style("Error: ", colour_enabled(sys.stderr), fg="red", bold=True) + message
    emit("error", "error", message, text=styled, **fields)
