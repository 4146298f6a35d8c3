"""Values from the tenant or the files, made inert in GitHub-flavoured Markdown.

Every Markdown report (the plan comment, the drift issue) passes each value that it did
not write itself through `md_text`: names, emails, product aliases and ids, roles,
timestamps, actors, warnings, reasons, file positions, the target URL. What GitHub then
shows is the value as plain text: no link, image, HTML, heading, list, quote, emphasis,
strikethrough, code span, math, table cell, autolink, @-mention or #123 reference.

The rendered text reads as the value does; only the Markdown source carries the escapes.
"""

from __future__ import annotations

from reconciler.render.printable import printable

# Escaped with a backslash wherever they are: every inline construct starts with one of
# them. `:` and `.` too, because GitHub links `https://x` and `www.x` without brackets
# (cmark-gfm matches them in the raw source, so an escape inside stops it), and `#` for
# headings. `-`, `+` and `=` only start a block, so they are escaped at the start only.
_BACKSLASHED = frozenset("\\`*_~[]()!|#:.")
_AT_START = frozenset("-+=")
# Entities where a backslash is not enough: `<` and `&` start HTML and entities; `$`
# opens GitHub math, whose parser does not see an entity as a delimiter.
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "$": "&#36;"}
# A zero-width space, as an entity so the source shows it is there on purpose. GitHub
# links `a@b.co` and pings `@team` from the rendered text, after escapes are resolved,
# so only a character between `@` and what follows stops it; the same for `#123`.
_SEPARATOR = "&#8203;"


def md_text(value: object) -> str:
    """`value` as Markdown that renders as exactly its text, on one line, safe in a
    table cell, a list item or a sentence. Control characters show as `\\uXXXX`, as in
    the text reports."""
    text = printable(str(value))
    out: list[str] = []
    leading = True  # spaces at the start of a list item would make it a code block
    for index, char in enumerate(text):
        following = text[index + 1 : index + 2]
        if char == " " and leading:
            out.append("&#32;")
            continue
        if char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif char in _BACKSLASHED or (leading and char in _AT_START):
            out.append("\\" + char)
        elif char == "/" and text[index - 1 : index] == "/":
            out.append("\\/")  # a bare `//host` is a link to linkify-it (markdown-it)
        else:
            out.append(char)
        leading = False
        if char == "@" or (following.isdigit() and _starts_reference(text, index)):
            out.append(_SEPARATOR)
    return "".join(out)


def _starts_reference(text: str, index: int) -> bool:
    """`#` or `GH-` before a digit: GitHub links it to an issue and notes the mention there."""
    return text[index] == "#" or text[max(0, index - 2) : index + 1].casefold() == "gh-"
