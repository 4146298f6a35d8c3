"""YAML 1.1's rules for scalars, shared by the event reader and the plain fast reader.

Both must give a scalar the same value: `on` is true, `010` is 8, `1:30` is 90, an
unquoted date stays text.
"""

from __future__ import annotations

from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

YAML = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (YAML + t for t in ("str", "int", "float", "bool", "null"))
MAP, SEQ, MERGE, TIMESTAMP = (YAML + t for t in ("map", "seq", "merge", "timestamp"))
# A scalar may carry only the tags a JSON-shaped document needs (the five above);
# the event reader refuses everything else (!!python/..., !!binary, !!set, custom tags)
# rather than guess at it.
IMPLICIT = Resolver.yaml_implicit_resolvers
# For each first character with which a plain scalar may be something other than a
# string, the longest such scalar. After a letter only booleans and null are possible
# (yes/no/on/off/true/false/null in three casings): at most 5 characters. So "Farid"
# needs a look, "farid.obrien@example.com" does not; most values are the second kind.
RESOLVABLE: dict[str, float] = {first: 5 if first.isalpha() else float("inf") for first in IMPLICIT}
# Only used for the rare int/float scalars, to reuse PyYAML's exact YAML 1.1 rules.
CONSTRUCTOR = SafeConstructor()
CONVERT = {
    INT: CONSTRUCTOR.construct_yaml_int,
    FLOAT: CONSTRUCTOR.construct_yaml_float,
}


def implicit_tag(value: str) -> str:
    """The tag YAML 1.1 resolves an untagged, unquoted scalar to (STR when none)."""
    return next((tag for tag, regexp in IMPLICIT.get(value[:1], ()) if regexp.match(value)), STR)


def plain_scalar(value: str) -> Any:
    """An untagged, unquoted scalar's value under YAML 1.1's implicit rules, as
    `_Builder.scalar` reads it. Raises ValueError (or the like) for a number the
    rules recognise but cannot convert; the builder reports those."""
    if len(value) > RESOLVABLE.get(value[:1], -1):
        return value
    tag = implicit_tag(value)
    if tag == NULL:
        return None
    if tag == BOOL:
        return SafeConstructor.bool_values[value.lower()]
    if tag in CONVERT:
        return CONVERT[tag](ScalarNode(tag, value))
    return value  # str, and the tags read as text: timestamp, value, merge
