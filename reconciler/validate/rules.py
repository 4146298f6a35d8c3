"""Rules the schema cannot express, checked across all files at once."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from reconciler.errors import Diagnostic
from reconciler.load import Document, PathSegment, format_path
from reconciler.model import email_key
from reconciler.validate.globs import glob_problem
from reconciler.validate.merge import Merged


def check_rules(merged: Merged, problems: list[Diagnostic], *, complete: bool) -> None:
    """Append every rule violation. With complete=False (a file could not be read),
    references are not checked: what they name may be in the unreadable file."""
    products = merged.sections["products"]
    groups = merged.sections["groups"]
    settings = merged.sections["settings"]
    _check_globs(settings, problems)
    domains = _scope_domains(settings)

    if complete:
        for group, (value, origin) in groups.items():
            refs = value.get("products") if isinstance(value, dict) else None
            for index, alias in _strings(refs):
                if alias not in products:
                    problems.append(
                        Diagnostic(
                            f"group {group!r} names unknown product {alias!r}"
                            + _suggest(alias, products, "products"),
                            origin.pos("products", index),
                            origin.where("products", index),
                        )
                    )

    # Positions are looked up only for users that break a rule: on a large valid file
    # that is most of the cost of this function saved.
    first_seen: dict[str, tuple[str, Document, int]] = {}
    references = (("groups", groups, "group"), ("products", products, "product"))
    for user, document, index in merged.users:
        if type(user) is not dict:
            continue
        email = user.get("email")
        if type(email) is str:
            earlier = first_seen.setdefault(email_key(email), (email, document, index))
            if earlier[2] != index or earlier[1] is not document:
                where = earlier[1].pos(("users", earlier[2], "email"))
                same = "" if earlier[0] == email else f" (as {earlier[0]!r}; emails ignore case)"
                problems.append(
                    _at(
                        document,
                        ("users", index, "email"),
                        f"user {email!r} is already listed at {where}{same}",
                    )
                )
            if domains is not None:
                domain = email[email.rfind("@") + 1 :].lower()
                if domain not in domains and "@" in email:
                    problems.append(
                        _at(
                            document,
                            ("users", index, "email"),
                            f"user {email!r} is outside the scope: {domain!r} is not one of "
                            f"settings.scope.emailDomains ({', '.join(sorted(domains))})",
                        )
                    )
        if not complete:
            continue
        for field, known, what in references:
            refs = user.get(field)
            if type(refs) is not list:
                continue
            for item, alias in enumerate(refs):
                if type(alias) is str and alias not in known:
                    problems.append(
                        _at(
                            document,
                            ("users", index, field, item),
                            f"unknown {what} {alias!r}" + _suggest(alias, known, field),
                        )
                    )


def _at(document: Document, path: tuple[PathSegment, ...], message: str) -> Diagnostic:
    return Diagnostic(message, document.pos(path), format_path(path))


def _strings(values: Any) -> Iterable[tuple[int, str]]:
    if isinstance(values, list):
        for index, value in enumerate(values):
            if isinstance(value, str):
                yield index, value


def _suggest(name: str, known: dict[str, Any], section: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    if not known:
        return f" (no {section} are defined under `{section}:` in any file)"
    names = sorted(known)
    listed = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f" (defined: {listed})"


def _check_globs(settings: dict[str, Any], problems: list[Diagnostic]) -> None:
    entry = settings.get("protectedUsers")
    if entry is None:
        return
    value, origin = entry
    for index, pattern in _strings(value):
        why = glob_problem(pattern)
        if why:
            problems.append(
                Diagnostic(
                    f"protected-user glob {pattern!r} is invalid: {why}",
                    origin.pos(index),
                    origin.where(index),
                )
            )


def _scope_domains(settings: dict[str, Any]) -> set[str] | None:
    entry = settings.get("scope")
    if entry is None or not isinstance(entry[0], dict):
        return None
    domains = entry[0].get("emailDomains")
    if not isinstance(domains, list):
        return None
    return {d.lower() for d in domains if isinstance(d, str)}
