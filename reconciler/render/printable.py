"""Text from the tenant or the files, made safe to print on a terminal."""

from __future__ import annotations


def printable(text: str) -> str:
    """Every non-printable character escaped as \\uXXXX: a name set in the web UI must
    not smuggle terminal escape sequences (or line breaks) into a CI log."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
