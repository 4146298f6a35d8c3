"""Protected-user globs: what makes one valid, and how one is matched.

Validation and the planner must agree on the meaning of a glob, so both use this.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable

from reconciler.model import email_key


def glob_problem(pattern: str) -> str | None:
    """Why `pattern` is not a usable protected-user glob, or None if it is.

    The schema already requires one '@' and no spaces; this checks what a pattern
    cannot: character sets that fnmatch would quietly read as literal brackets.
    """
    depth_open = None
    for index, ch in enumerate(pattern):
        if ch == "[" and depth_open is None:
            depth_open = index
        elif ch == "]" and depth_open is not None:
            # "[]" and "[!]" are not sets: fnmatch reads the ']' as a member.
            body = pattern[depth_open + 1 : index]
            if body not in ("", "!"):
                depth_open = None
        elif ch == "]" and depth_open is None:
            return "']' without a matching '['"
    if depth_open is not None:
        return "'[' starts a character set that is never closed with ']'"
    return None


def protecting_pattern(patterns: Iterable[str]) -> Callable[[str], str | None]:
    """email -> the first pattern that protects it, or None. Case-insensitive, with
    '*', '?' and '[...]' as in fnmatch."""
    compiled = [(p, re.compile(fnmatch.translate(email_key(p)))) for p in patterns]
    if not compiled:  # the usual case: asked twice per user, so skip the casefold
        return _no_pattern

    def first_match(email: str) -> str | None:
        key = email_key(email)
        return next((pattern for pattern, regex in compiled if regex.match(key)), None)

    return first_match


def _no_pattern(email: str) -> str | None:
    return None


def protected_matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """email -> is it protected?"""
    first_match = protecting_pattern(patterns)
    return lambda email: first_match(email) is not None
