"""Compiling a (sub)schema into a plain Python predicate: "is this instance valid?".

Only a subset of JSON Schema is understood: the keywords the desired-state schema uses
for users. `compile_check` returns None for anything else, and then every item goes to
jsonschema, so a future schema change can make validation slower but never weaker.
The predicate must agree with jsonschema exactly; tests/validate/test_validate_fastpath.py
checks that on generated items.

The predicate is generated as Python source and compiled once (as dataclasses and
fastjsonschema do): nested closures cost a call per field and per list element, which
on 50,000 users was three times the time of one flat function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]
# A `format` check is only called with strings, and a truthy result means valid, so a
# compiled regex's `match` can be given as it is (no Python call per value).
FormatCheck = Callable[[str], object]

# Keywords that only annotate and never make an instance invalid.
_ANNOTATIONS = {
    "title",
    "description",
    "default",
    "examples",
    "$comment",
    "deprecated",
    "$schema",
    "$id",
    "$defs",
}


class _Unsupported(Exception):
    pass


def _patterned(schema: Mapping[str, Any]) -> bool:
    """A string checked by a pattern is remembered once valid: names recur across
    thousands of users. Emails (checked by format) are unique, and remembering them
    would only cost memory."""
    return schema.get("type") == "string" and "pattern" in schema and "format" not in schema


def compile_check(
    subschema: Mapping[str, Any], root: Mapping[str, Any], formats: Mapping[str, FormatCheck]
) -> Check | None:
    """A predicate equivalent to validating against `subschema` (with `$ref`s resolved
    in `root` and `format` checked by `formats`), or None if the schema uses a keyword
    this compiler does not know."""
    generator = _Generator(root, formats)
    try:
        body = generator.node(subschema, "value", 1)
    except _Unsupported:
        return None
    source = "def check(value):\n" + "".join(body) + "    return True\n"
    source = "".join(generator.functions) + source
    namespace: dict[str, Any] = dict(generator.constants)
    exec(compile(source, "<desired-state fast check>", "exec"), namespace)
    return namespace["check"]


class _Generator:
    def __init__(self, root: Mapping[str, Any], formats: Mapping[str, FormatCheck]):
        self.root = root
        self.formats = formats
        self.constants: dict[str, Any] = {}
        self.functions: list[str] = []
        self.names = 0

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def variable(self) -> str:
        self.names += 1
        return f"_v{self.names}"

    def node(self, schema: Mapping[str, Any], var: str, depth: int) -> list[str]:
        """Lines that `return False` unless `var` is valid against `schema`."""
        pad = "    " * depth
        keywords = set(schema) - _ANNOTATIONS
        if "$ref" in keywords:
            if keywords != {"$ref"}:
                raise _Unsupported("$ref beside other keywords")
            target = self.resolve(schema["$ref"])
            lines = self.node(target, var, depth)
            if target.get("type") == "string" and len(lines) > 1 and not _patterned(target):
                return self.remembered(lines, var, pad)
            return lines
        if "anyOf" in keywords:
            if keywords != {"anyOf"}:
                raise _Unsupported("anyOf beside other keywords")
            branches = [self.function(branch) for branch in schema["anyOf"]]
            either = " or ".join(f"{b}({var})" for b in branches)
            return [f"{pad}if not ({either}): return False\n"]
        kind = schema.get("type")
        keywords.discard("type")
        if "const" in keywords:
            value = schema["const"]
            if kind is not None or keywords != {"const"} or type(value) not in (int, str):
                raise _Unsupported("const")
            # Exact type: jsonschema would also accept 1.0 for 1; saying "not sure" there
            # only means jsonschema gets to decide.
            expected = self.constant(value)
            return [
                f"{pad}if type({var}) is not {type(value).__name__} or {var} != {expected}: "
                "return False\n"
            ]
        if kind == "integer":
            if keywords - {"minimum"}:
                raise _Unsupported(str(keywords))
            lines = [f"{pad}if type({var}) is not int: return False\n"]
            if "minimum" in schema:
                lines.append(f"{pad}if {var} < {self.constant(schema['minimum'])}: return False\n")
            return lines
        if "enum" in keywords:
            values = schema["enum"]
            if kind is not None or keywords != {"enum"} or not all(type(v) is str for v in values):
                raise _Unsupported("enum")
            allowed = self.constant(frozenset(values))
            return [f"{pad}if type({var}) is not str or {var} not in {allowed}: return False\n"]
        if kind == "string":
            lines = self.string(schema, keywords, var, pad)
            if _patterned(schema):
                return self.remembered(lines, var, pad)
            return lines
        if kind == "boolean" and not keywords:
            return [f"{pad}if type({var}) is not bool: return False\n"]
        if kind == "array":
            return self.array(schema, keywords, var, depth)
        if kind == "object":
            return self.object(schema, keywords, var, depth)
        raise _Unsupported(f"type {kind!r}")

    def remembered(self, lines: list[str], var: str, pad: str) -> list[str]:
        """A shared definition (an alias, say) is checked once per distinct string: the
        same few group and product names recur on every user."""
        seen = self.constant(set())
        return [
            lines[0],  # the type check: only strings reach the set
            f"{pad}if {var} not in {seen}:\n",
            *("    " + line for line in lines[1:]),
            f"{pad}    {seen}.add({var})\n",
        ]

    def function(self, schema: Mapping[str, Any]) -> str:
        """A separate predicate for `schema` (for anyOf, whose branches must not
        return from the enclosing function); returns its name."""
        name = self.constant(None)
        body = self.node(schema, "value", 1)
        source = f"def {name}(value):\n" + "".join(body) + "    return True\n"
        self.functions.append(source)
        return name

    def resolve(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#/"):
            raise _Unsupported(ref)
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def string(
        self, schema: Mapping[str, Any], keywords: set[str], var: str, pad: str
    ) -> list[str]:
        if keywords - {"minLength", "maxLength", "pattern", "format"}:
            raise _Unsupported(str(keywords))
        lines = [f"{pad}if type({var}) is not str: return False\n"]
        if "minLength" in schema:
            lines.append(f"{pad}if len({var}) < {int(schema['minLength'])}: return False\n")
        if "maxLength" in schema:
            lines.append(f"{pad}if len({var}) > {int(schema['maxLength'])}: return False\n")
        if "pattern" in schema:
            # jsonschema uses re.search: an unanchored pattern matches anywhere.
            search = self.constant(re.compile(schema["pattern"]).search)
            lines.append(f"{pad}if {search}({var}) is None: return False\n")
        if "format" in schema:
            check = self.formats.get(schema["format"])
            if check is None:
                raise _Unsupported(schema["format"])
            lines.append(f"{pad}if not {self.constant(check)}({var}): return False\n")
        return lines

    def array(
        self, schema: Mapping[str, Any], keywords: set[str], var: str, depth: int
    ) -> list[str]:
        if keywords - {"items", "uniqueItems", "minItems"}:
            raise _Unsupported(str(keywords))
        pad = "    " * depth
        lines = [f"{pad}if type({var}) is not list: return False\n"]
        if "minItems" in schema:
            lines.append(f"{pad}if len({var}) < {int(schema['minItems'])}: return False\n")
        item_lines: list[str] = []
        if "items" in schema:
            element = self.variable()
            item_lines = self.node(schema["items"], element, depth + 1)
            lines.append(f"{pad}for {element} in {var}:\n")
            lines.extend(item_lines)
        if schema.get("uniqueItems"):
            # A set is only a faithful uniqueness test for strings (1 == True in Python,
            # and lists are unhashable), so the items must have been checked as strings.
            if not item_lines or "is not str" not in item_lines[0]:
                raise _Unsupported("uniqueItems over non-strings")
            lines.append(f"{pad}if len(set({var})) != len({var}): return False\n")
        return lines

    def object(
        self, schema: Mapping[str, Any], keywords: set[str], var: str, depth: int
    ) -> list[str]:
        known = {"properties", "required", "additionalProperties", "propertyNames"}
        if keywords - known - {"minProperties", "maxProperties"}:
            raise _Unsupported(str(keywords))
        extra = schema.get("additionalProperties", True)
        if extra is True:
            raise _Unsupported("additionalProperties allowed")
        pad = "    " * depth
        lines = [f"{pad}if type({var}) is not dict: return False\n"]
        if "minProperties" in schema:
            lines.append(f"{pad}if len({var}) < {int(schema['minProperties'])}: return False\n")
        if "maxProperties" in schema:
            lines.append(f"{pad}if len({var}) > {int(schema['maxProperties'])}: return False\n")
        for name in schema.get("required", ()):
            lines.append(f"{pad}if {name!r} not in {var}: return False\n")
        key, element = self.variable(), self.variable()
        lines.append(f"{pad}for {key}, {element} in {var}.items():\n")
        if "propertyNames" in schema:
            lines.extend(self.node(schema["propertyNames"], key, depth + 1))
        branch = "if"
        for name, sub in schema.get("properties", {}).items():
            lines.append(f"{pad}    {branch} {key} == {name!r}:\n")
            lines.extend(self.node(sub, element, depth + 2) or [f"{pad}        pass\n"])
            branch = "elif"
        otherwise = (
            [f"{pad}        return False\n"]
            if extra is False
            else self.node(extra, element, depth + 2) or [f"{pad}        pass\n"]
        )
        if branch == "if":
            lines.extend(line[4:] for line in otherwise)
        else:
            lines.append(f"{pad}    else:\n")
            lines.extend(otherwise)
        return lines
