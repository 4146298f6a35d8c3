"""Rules the schema cannot express, checked across all files at once."""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable
from typing import Any

from reconciler.errors import Diagnostic
from reconciler.globs import glob_problem, protecting_pattern
from reconciler.load import Document, PathSegment, format_path
from reconciler.load.document import shown
from reconciler.model import email_key
from reconciler.validate.merge import Merged


def check_rules(merged: Merged, problems: list[Diagnostic], *, complete: bool) -> None:
    """Append every rule violation. With complete=False (a file could not be read),
    references are not checked: what they name may be in the unreadable file."""
    products = merged.sections["products"]
    groups = merged.sections["groups"]
    settings = merged.sections["settings"]
    _check_globs(settings, problems)
    _check_grace_period(settings, problems)
    if complete:
        # A required administrator may be listed in a file that could not be read.
        _check_required_administrators(merged, settings, problems)
    domains = _scope_domains(settings)
    if domains is not None:
        allowed = ", ".join(sorted(domains)[:10]) + (", ..." if len(domains) > 10 else "")

    if complete:
        for group, (value, origin) in groups.items():
            refs = value.get("products") if isinstance(value, dict) else None
            for index, alias in _strings(refs):
                if alias not in products:
                    problems.append(
                        Diagnostic(
                            f"group {shown(group)} names unknown product {shown(alias)}"
                            + _suggest(alias, products, "products"),
                            origin.pos("products", index),
                            origin.where("products", index),
                        )
                    )

    # Positions are looked up only for users that break a rule: on a large valid file
    # that is most of the cost of this function saved.
    # email key -> the ordinal (in merged.users) of the first user with that email
    first_seen: dict[str, int] = {}
    remember = first_seen.setdefault
    for ordinal, (user, document, index) in enumerate(merged.users):
        if type(user) is not dict:
            continue
        get = user.get
        email = get("email")
        if type(email) is str:
            earlier = remember(email_key(email), ordinal)
            if earlier != ordinal:
                first_user, first_document, first_index = merged.users[earlier]
                first_email = first_user["email"]
                where = first_document.pos(("users", first_index, "email"))
                same = (
                    ""
                    if first_email == email
                    else f" (as {shown(first_email)}; emails ignore case)"
                )
                problems.append(
                    _at(
                        document,
                        ("users", index, "email"),
                        f"user {shown(email)} is already listed at {where}{same}",
                    )
                )
            if not email.isascii():
                look_alike = _folds_into_ascii(email)
                if look_alike:
                    problems.append(
                        _at(
                            document,
                            ("users", index, "email"),
                            _look_alike_message(email, look_alike),
                        )
                    )
            if domains is not None:
                domain = email[email.rfind("@") + 1 :].lower()
                if domain not in domains and "@" in email:
                    problems.append(
                        _at(
                            document,
                            ("users", index, "email"),
                            f"user {shown(email)} is outside the scope: {shown(domain)} "
                            f"is not one of settings.scope.emailDomains ({allowed})",
                        )
                    )
        if not complete:
            continue
        # Almost every reference is known: the loops only look, and the messages are
        # made where one is not.
        refs = get("groups")
        if type(refs) is list:
            for alias in refs:
                if type(alias) is str and alias not in groups:
                    _check_references(refs, groups, "groups", "group", document, index, problems)
                    break
        refs = get("products")
        if type(refs) is list:
            for alias in refs:
                if type(alias) is str and alias not in products:
                    _check_references(
                        refs, products, "products", "product", document, index, problems
                    )
                    break


def _check_references(
    refs: list[Any],
    known: dict[str, Any],
    field: str,
    what: str,
    document: Document,
    index: int,
    problems: list[Diagnostic],
) -> None:
    for item, alias in enumerate(refs):
        if type(alias) is str and alias not in known:
            problems.append(
                _at(
                    document,
                    ("users", index, field, item),
                    f"unknown {what} {shown(alias)}" + _suggest(alias, known, field),
                )
            )


def _folds_into_ascii(email: str) -> str | None:
    """The first non-ASCII character that case-folds to ASCII, if any.

    Identity is the case-folded email, and folding maps a few letters onto ASCII ones
    (the Kelvin sign onto "k", "ß" onto "ss"): such an address would be the same user
    as its plain spelling, so a look-alike could take over another person's account.
    Other non-ASCII letters (Cyrillic ones, "é") stay distinct and are allowed.
    """
    for character in email:
        if not character.isascii() and any(c.isascii() for c in character.casefold()):
            return character
    return None


def _look_alike_message(email: str, character: str) -> str:
    name = unicodedata.name(character, f"U+{ord(character):04X}")
    return (
        f"user {shown(email)} contains {character!r} ({name}), which compares equal to "
        f"{character.casefold()!r}: this email would match the plain spelling's account; "
        "write it with plain letters"
    )


def _at(document: Document, path: tuple[PathSegment, ...], message: str) -> Diagnostic:
    return Diagnostic(message, document.pos(path), format_path(path))


def _strings(values: Any) -> Iterable[tuple[int, str]]:
    if isinstance(values, list):
        for index, value in enumerate(values):
            if isinstance(value, str):
                yield index, value


def _suggest(name: str, known: dict[str, Any], section: str) -> str:
    # difflib is quadratic in the lengths: no suggestions for absurdly long names.
    close = (
        difflib.get_close_matches(name, list(known), n=1, cutoff=0.6) if len(name) <= 100 else []
    )
    if close:
        return f"; did you mean {shown(close[0])}?"
    if not known:
        return f" (no {section} are defined under `{section}:` in any file)"
    names = [shown(n)[1:-1] for n in sorted(known)]
    listed = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f" (defined: {listed})"


# The desired state's own role vocabulary (the schema's `role` enum): the privileged one.
ADMINISTRATOR = "Administrator"


def _check_required_administrators(
    merged: Merged, settings: dict[str, Any], problems: list[Diagnostic]
) -> None:
    """Each entry of `settings.policy.requiredAdministrators` must name at least one
    listed user, and every listed user it names must be active and an Administrator:
    a pull request that demotes or drops the break-glass administrator fails here."""
    entry = settings.get("policy")
    if entry is None or not isinstance(entry[0], dict):
        return
    value, origin = entry
    patterns = []
    for index, pattern in _strings(value.get("requiredAdministrators")):
        why = glob_problem(pattern)
        if why is None:
            patterns.append((index, pattern, protecting_pattern([pattern])))
        else:
            problems.append(
                Diagnostic(
                    f"required-administrator glob {shown(pattern)} is invalid: {why}",
                    origin.pos("requiredAdministrators", index),
                    origin.where("requiredAdministrators", index),
                )
            )
    if not patterns:
        return
    matched: dict[int, list[dict[str, Any]]] = {index: [] for index, _, _ in patterns}
    for user, _document, _index in merged.users:
        if type(user) is not dict or type(user.get("email")) is not str:
            continue
        for index, _, matches in patterns:
            if matches(user["email"]) is not None:
                matched[index].append(user)
    for index, pattern, _ in patterns:
        users = matched[index]
        if not users:
            reason = "no listed user matches it"
        else:
            failing = [
                f"{shown(u['email'])} is {why}"
                for u in users
                if (why := _admin_shortfall(u)) is not None
            ]
            if not failing:
                continue
            reason = "; ".join(failing[:5]) + ("; ..." if len(failing) > 5 else "")
        problems.append(
            Diagnostic(
                f"required administrator {shown(pattern)} is not satisfied: {reason} "
                f"(each must be listed, active and {ADMINISTRATOR})",
                origin.pos("requiredAdministrators", index),
                origin.where("requiredAdministrators", index),
            )
        )


def _admin_shortfall(user: dict[str, Any]) -> str | None:
    inactive = user.get("active", True) is False
    role = user.get("role", "User")
    not_admin = role != ADMINISTRATOR
    if inactive and not_admin:
        return f"listed with active: false and role {shown(str(role))}"
    if inactive:
        return "listed with active: false"
    if not_admin:
        return f"listed with role {shown(str(role))}"
    return None


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
                    f"protected-user glob {shown(pattern)} is invalid: {why}",
                    origin.pos(index),
                    origin.where(index),
                )
            )


def _check_grace_period(settings: dict[str, Any], problems: list[Diagnostic]) -> None:
    """Deleting after a grace period only makes sense where unlisted users are
    deactivated first: with `delete` they go at once, with `ignore` never."""
    entry = settings.get("deleteDeactivatedAfter")
    if entry is None:
        return
    policy = settings.get("unmanagedUsers")
    value = policy[0] if policy is not None else "deactivate"
    if value == "deactivate" or not isinstance(value, str):
        return
    problems.append(
        Diagnostic(
            "settings.deleteDeactivatedAfter needs unmanagedUsers: deactivate, but "
            f"unmanagedUsers is {shown(value)}: remove one of the two",
            entry[1].pos(),
            entry[1].where(),
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
