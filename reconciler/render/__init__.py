"""Renderers: a plan for a terminal, a pull-request comment, or a machine.

The renderers are imported on first use: every command's output module needs
`render.style`, and importing a package runs its `__init__`, which would otherwise
load the plan model and every renderer into `validate` too (about 60 ms of start-up).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.render.jsonfmt import render_json
    from reconciler.render.markdown import COMMENT_LIMIT, MARKER, render_markdown
    from reconciler.render.summary import NO_CHANGES, summary_line
    from reconciler.render.text import render_text

_WHERE = {
    "render_json": "jsonfmt",
    "COMMENT_LIMIT": "markdown",
    "MARKER": "markdown",
    "render_markdown": "markdown",
    "NO_CHANGES": "summary",
    "summary_line": "summary",
    "render_text": "text",
}

__all__ = [
    "COMMENT_LIMIT",
    "MARKER",
    "NO_CHANGES",
    "render_json",
    "render_markdown",
    "render_text",
    "summary_line",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
