"""Compiling a (sub)schema into a plain Python predicate: "is this instance valid?".

Only a subset of JSON Schema is understood: the keywords the desired-state schema uses
for users. `compile_check` returns None for anything else, and then every item goes to
jsonschema, so a future schema change can make validation slower but never weaker.
The predicate must agree with jsonschema exactly; tests/validate/test_fastpath.py
checks that on generated items.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

# Keywords that only annotate and never make an instance invalid.
_ANNOTATIONS = {"title", "description", "default", "examples", "$comment", "deprecated"}


class _Unsupported(Exception):
    pass


def compile_check(
    subschema: Mapping[str, Any], root: Mapping[str, Any], formats: Mapping[str, Check]
) -> Check | None:
    """A predicate equivalent to validating against `subschema` (with `$ref`s resolved
    in `root` and `format` checked by `formats`), or None if the schema uses a keyword
    this compiler does not know."""
    try:
        check, _ = _compile(subschema, root, formats)
    except _Unsupported:
        return None
    return check


def _compile(
    schema: Mapping[str, Any], root: Mapping[str, Any], formats: Mapping[str, Check]
) -> tuple[Check, bool]:
    """Returns the check and whether it only accepts strings (which makes uniqueItems
    a plain set comparison)."""
    keywords = set(schema) - _ANNOTATIONS
    if "$ref" in keywords:
        if keywords != {"$ref"}:
            raise _Unsupported("$ref beside other keywords")
        return _compile(_resolve(schema["$ref"], root), root, formats)
    kind = schema.get("type")
    keywords.discard("type")
    if "enum" in keywords:
        values = schema["enum"]
        if kind is not None or keywords != {"enum"} or not all(type(v) is str for v in values):
            raise _Unsupported("enum")
        allowed = frozenset(values)
        return (lambda v: type(v) is str and v in allowed), True
    if kind == "string":
        return _string(schema, keywords, formats), True
    if kind == "boolean" and not keywords:
        return (lambda v: type(v) is bool), False
    if kind == "array":
        return _array(schema, keywords, root, formats), False
    if kind == "object":
        return _object(schema, keywords, root, formats), False
    raise _Unsupported(f"type {kind!r}")


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#/"):
        raise _Unsupported(ref)
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _string(schema: Mapping[str, Any], keywords: set[str], formats: Mapping[str, Check]) -> Check:
    if keywords - {"minLength", "maxLength", "pattern", "format"}:
        raise _Unsupported(str(keywords))
    low = schema.get("minLength", 0)
    high = schema.get("maxLength", float("inf"))
    search = re.compile(schema["pattern"]).search if "pattern" in schema else None
    fmt = formats.get(schema["format"]) if "format" in schema else None
    if "format" in schema and fmt is None:
        raise _Unsupported(schema["format"])

    def check(value: Any) -> bool:
        return (
            type(value) is str
            and low <= len(value) <= high
            and (search is None or search(value) is not None)
            and (fmt is None or fmt(value))
        )

    return check


def _array(
    schema: Mapping[str, Any],
    keywords: set[str],
    root: Mapping[str, Any],
    formats: Mapping[str, Check],
) -> Check:
    if keywords - {"items", "uniqueItems"}:
        raise _Unsupported(str(keywords))
    item, strings_only = (
        _compile(schema["items"], root, formats)
        if "items" in schema
        else (
            (lambda v: True),
            False,
        )
    )
    unique = bool(schema.get("uniqueItems"))
    if unique and not strings_only:
        raise _Unsupported("uniqueItems over non-strings")

    def check(value: Any) -> bool:
        if type(value) is not list:
            return False
        for element in value:
            if not item(element):
                return False
        return not unique or len(set(value)) == len(value)

    return check


def _object(
    schema: Mapping[str, Any],
    keywords: set[str],
    root: Mapping[str, Any],
    formats: Mapping[str, Check],
) -> Check:
    if keywords - {"properties", "required", "additionalProperties"}:
        raise _Unsupported(str(keywords))
    if schema.get("additionalProperties", True) is not False:
        raise _Unsupported("additionalProperties other than false")
    properties = {
        name: _compile(sub, root, formats)[0] for name, sub in schema.get("properties", {}).items()
    }
    required = tuple(schema.get("required", ()))

    def check(value: Any) -> bool:
        if type(value) is not dict:
            return False
        for name in required:
            if name not in value:
                return False
        for name, element in value.items():
            prop = properties.get(name)
            if prop is None or not prop(element):
                return False
        return True

    return check
