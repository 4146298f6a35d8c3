"""Checking documents against the desired-state JSON Schema, with readable messages.

jsonschema spends ~100 us per user on a 50,000-user file, and most files are valid. So
a document first goes through a checker compiled from the same schema (see fastpath);
when that accepts it, it is valid. Otherwise everything but the users goes to
jsonschema, and each user goes through the compiled user check, and to jsonschema only
if that does not accept it: jsonschema produces every message.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from reconciler.errors import Diagnostic
from reconciler.load import Document, PathSegment, format_path
from reconciler.load.document import shown
from reconciler.validate.fastpath import compile_check

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import ValidationError

SCHEMA_FILE = "desired-state.schema.json"

# jsonschema's own email check only looks for an "@"; this is what a mail system would
# accept in practice (no spaces, one "@", a dotted domain), without the RFC's corners.
# Internationalised domains are written in their xn-- (punycode) form.
_EMAIL = re.compile(
    r"^[^@\s]{1,64}@(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def is_email(value: object) -> bool:
    return not isinstance(value, str) or _EMAIL.match(value) is not None


def schema_text() -> str:
    return resources.files("reconciler.schemas").joinpath(SCHEMA_FILE).read_text("utf-8")


@cache
def schema() -> dict[str, Any]:
    return json.loads(schema_text())


# jsonschema is imported only when a document fails the fast check: a valid file never
# needs it, and importing it is a tenth of a second.


@cache
def _format_checker() -> FormatChecker:
    from jsonschema import FormatChecker

    checker = FormatChecker()
    checker.checks("email")(is_email)
    return checker


@cache
def _document_validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema(), format_checker=_format_checker())


@cache
def _user_validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    root = schema()
    return Draft202012Validator(
        {"$ref": "#/$defs/user", "$defs": root["$defs"]}, format_checker=_format_checker()
    )


@cache
def _document_fast_check() -> Any:
    root = schema()
    return compile_check(root, root, {"email": _EMAIL.match})


@cache
def _user_fast_check() -> Any:
    root = schema()
    return compile_check(root["$defs"]["user"], root, {"email": _EMAIL.match})


def schema_problems(document: Document) -> list[Diagnostic]:
    """Every schema violation in one document."""
    value = document.value
    whole = _document_fast_check()
    if whole is not None and whole(value):
        return []
    users = value.get("users") if isinstance(value, dict) else None
    problems: list[Diagnostic] = []
    if isinstance(users, list):
        # Check the rest with the users taken out, then the users one by one.
        rest = dict(value)
        rest["users"] = []
        errors: list[tuple[ValidationError, tuple[PathSegment, ...]]] = [
            (e, ()) for e in _document_validator().iter_errors(rest)
        ]
        fast = _user_fast_check()
        slow = _user_validator()
        for index, user in enumerate(users):
            if fast is None or not fast(user):
                errors.extend((e, ("users", index)) for e in slow.iter_errors(user))
    else:
        errors = [(e, ()) for e in _document_validator().iter_errors(value)]
    # One complaint about the shape of a string is enough: an empty name also fails
    # its pattern, an over-long email also its format. The schema lists the most
    # telling keyword first, and jsonschema reports in that order.
    shaped: set[tuple[PathSegment, ...]] = set()
    for error, prefix in errors:
        if error.validator in _SHAPE:
            path = (*prefix, *error.absolute_path)
            if "propertyNames" in error.absolute_schema_path:
                path = (*path, error.instance)  # a key's own path is its parent's
            if path in shaped:
                continue
            shaped.add(path)
        problems.extend(_diagnostics(document, error, prefix))
    # jsonschema reports each missing required field as its own error while a message
    # names them all; keep one of each.
    return list(dict.fromkeys(problems))


# ------------------------------------------------------------------------- messages

_SHAPE = {"minLength", "maxLength", "pattern", "format"}


def _diagnostics(
    document: Document, error: ValidationError, prefix: tuple[PathSegment, ...]
) -> Iterator[Diagnostic]:
    path = (*prefix, *error.absolute_path)
    keyword = error.validator
    instance = error.instance
    sub = error.schema if isinstance(error.schema, dict) else {}

    def at(node_path: Sequence[PathSegment], message: str, *, key: bool = False) -> Diagnostic:
        return Diagnostic(message, document.pos(node_path, key=key), format_path(node_path))

    if "propertyNames" in error.absolute_schema_path:
        what = "product alias" if path[-1:] == ("products",) else "group name"
        yield at(
            (*path, instance),
            f"{shown(instance)} is not a valid {what}: use letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (at most 64 characters)",
            key=True,
        )
    elif keyword == "additionalProperties" and isinstance(instance, dict):
        known = list(sub.get("properties", {}))
        for extra in instance:
            if extra not in known:
                yield at((*path, extra), _unknown_field(extra, known, path), key=True)
    elif keyword == "required" and isinstance(instance, dict):
        for name in error.validator_value:
            if name not in instance:
                yield at(path, f"missing required field {name!r}{_in(path)}")
    elif keyword == "type":
        if not path:
            yield at(
                path,
                "the file must be a mapping (version, settings, products, "
                f"groups, users), not {_describe(instance)}",
            )
        else:
            expected = error.validator_value
            hint = ""
            if isinstance(instance, (bool, int, float)) and "string" in expected:
                hint = (
                    "; YAML reads unquoted yes/no/on/off/true/false and numbers that way, "
                    "so quote it"
                )
            yield at(path, f"expected {_expected(expected)}, got {_describe(instance)}{hint}")
    elif keyword == "const" and path == ("version",):
        yield at(
            path,
            f"unsupported format version {shown(instance)}: this tool reads "
            "version 1 (write `version: 1`)",
        )
    elif keyword == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        yield at(path, f"{_describe(instance)} is not one of: {choices}")
    elif keyword == "format":
        yield at(path, f"{shown(instance)} is not a valid email address")
    elif keyword == "uniqueItems" and isinstance(instance, list):
        seen: set[Any] = set()
        for index, item in enumerate(instance):
            marker = json.dumps(item, sort_keys=True, default=str)
            if marker in seen:
                yield at((*path, index), f"{shown(item)} is listed more than once")
            seen.add(marker)
    elif keyword in ("minProperties", "maxProperties") and path[:1] == ("products",):
        yield at(path, "give exactly one of `name` or `id` for a product")
    elif path[-1:] == ("maxRemovals",):
        yield at(
            path,
            f"{_describe(instance)} is not a valid maxRemovals: give a number of "
            'users such as 25, or a percentage from 0% to 100% such as "10%"',
        )
    elif keyword == "maxLength":
        title = sub.get("title", "value").lower()
        yield at(
            path,
            f"{_describe(instance)} is too long for a {title} "
            f"(at most {error.validator_value} characters)",
        )
    elif keyword == "minLength" and error.validator_value == 1:
        yield at(path, f"the {sub.get('title', 'value').lower()} may not be empty")
    elif keyword in ("pattern", "minLength", "anyOf", "minimum", "minItems"):
        title = sub.get("title", "value")
        described = _describe(instance)
        yield at(
            path,
            f"{described} is not a valid {title.lower()}: {sub.get('description', '')}".rstrip(
                ": "
            ),
        )
    else:
        yield at(path, error.message)


def _in(path: Sequence[PathSegment]) -> str:
    if path[:1] == ("users",) and len(path) == 2:
        return " for this user"
    return ""


def _unknown_field(extra: str, known: list[str], path: Sequence[PathSegment]) -> str:
    message = f"unknown field {shown(extra)}"
    by_fold = {k.casefold(): k for k in known}
    text = str(extra)
    close = by_fold.get(text.casefold())
    if close is None and len(text) <= 100:  # difflib is quadratic in the lengths
        close = next(iter(difflib.get_close_matches(text, known, n=1, cutoff=0.6)), None)
    if close:
        return message + f"; did you mean {close!r}?"
    if known:
        return message + f" (allowed here: {', '.join(known)})"
    return message


_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "nothing",
}


def _expected(types: str | list[str]) -> str:
    names = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_NAMES.get(t, t) for t in names)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
