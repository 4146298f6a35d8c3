"""Renderers: a plan for a terminal, a pull-request comment, or a machine."""

from reconciler.render.jsonfmt import render_json
from reconciler.render.markdown import COMMENT_LIMIT, MARKER, render_markdown
from reconciler.render.summary import NO_CHANGES, summary_line
from reconciler.render.text import render_text

__all__ = [
    "COMMENT_LIMIT",
    "MARKER",
    "NO_CHANGES",
    "render_json",
    "render_markdown",
    "render_text",
    "summary_line",
]
