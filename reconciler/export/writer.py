"""Render a `LiveState` as a version-1 desired-state file.

The file is written by hand rather than with `yaml.safe_dump` so that it reads like
one a person wrote: a header explaining what it cannot express, each product alias
with its name as a comment, users in block style sorted by email, defaults left out.
Every scalar goes through `_scalar`, which quotes anything YAML could read back as
something else (`no`, `1e3`, `null`, `: `, ...).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from reconciler.backends.capabilities import Capabilities
from reconciler.errors import ConfigError
from reconciler.export.aliases import product_aliases
from reconciler.model import MANAGED_FIELDS, LiveState, LiveUser, email_key

DEFAULT_SCHEMA_REF = "../schemas/desired-state.schema.json"

# Characters that never need quoting in a plain scalar in these positions. A leading
# digit is always quoted: YAML 1.2 readers (editors) take `1e3` or `0o7` as numbers.
_PLAIN = re.compile(r"[^\W\d][\w .@'+/-]*")


@dataclass(frozen=True, slots=True)
class ExportResult:
    text: str
    users: int
    products: int
    left_out: int  # live users outside the requested domains
    # Live values the desired-state format refuses (e.g. an empty last name): written
    # as they are, so `reconciler validate` points at each, and listed in the header.
    problems: tuple[str, ...] = ()


# Plain words YAML 1.1 (PyYAML) reads as booleans or null.
_KEYWORDS = frozenset({"null", "true", "false", "yes", "no", "on", "off", "y", "n"})


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _string(str(value))


@lru_cache(maxsize=65536)
def _string(text: str) -> str:
    # Cached: names and aliases repeat across a large tenant.
    if _PLAIN.fullmatch(text) and not text.endswith(" ") and text.casefold() not in _KEYWORDS:
        return text
    return _double_quoted(text)


def _literal_ok(code: int) -> bool:
    """May this character stand as itself inside a YAML double-quoted scalar? The
    Unicode line breaks (NEL, LINE and PARAGRAPH SEPARATOR) would be folded and a BOM
    dropped, and YAML refuses non-printable characters anywhere, so those are escaped."""
    return (
        0x20 <= code <= 0x7E
        or (0xA0 <= code <= 0xD7FF and code not in (0x2028, 0x2029))
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
        or 0x10000 <= code <= 0x10FFFF
    )


def _double_quoted(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif _literal_ok(code):
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02X}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04X}")
        else:
            out.append(f"\\U{code:08X}")
    out.append('"')
    return "".join(out)


def _in_domains(user: LiveUser, domains: Sequence[str] | None) -> bool:
    if not domains:
        return True
    return user.email.rpartition("@")[2].casefold() in {d.casefold() for d in domains}


def export_desired(
    live: LiveState,
    *,
    target: str,
    exported_at: str,
    domains: Sequence[str] | None = None,
    schema_ref: str = DEFAULT_SCHEMA_REF,
    capabilities: Capabilities | None = None,
) -> ExportResult:
    """The desired state that plans to no changes against `live`.

    `live.provisioning` must hold every product (read with `read_live(None)`): a
    product missing from it would be exported with nobody provisioned. With the
    backend's `capabilities`, only the fields it manages are written (no `role` for a
    backend without roles, which would refuse a file that sets one) and roles are
    checked against its vocabulary; without them every field is written as read."""
    fields = capabilities.compared_fields() if capabilities is not None else MANAGED_FIELDS
    roles = capabilities.roles if capabilities is not None else ()
    aliases = product_aliases(live.products.values())
    users = sorted(
        (u for u in live.users.values() if _in_domains(u, domains)),
        key=lambda u: (email_key(u.email), u.email),
    )
    left_out = len(live.users) - len(users)
    granted: dict[str, list[str]] = {}
    for product_id, user_ids in live.provisioning.items():
        alias = aliases.get(product_id)
        if alias is None:
            continue  # provisioning of a product the listing did not return
        for user_id in user_ids:
            granted.setdefault(user_id, []).append(alias)

    pending = sum(1 for u in users if u.status == "pending")
    problems = tuple(p for u in users for p in _problems(u, roles if "role" in fields else ()))
    lines = [f"# yaml-language-server: $schema={schema_ref}"]
    lines += _header(target, exported_at, domains, pending, left_out)
    if problems:
        lines.append(
            f"# WARNING: {len(problems)} live value(s) break the format's rules; "
            "`reconciler validate` points at each. Fix them here or in the tenant:"
        )
        lines += [f"# - {_comment(p)}" for p in problems]
    lines.append("version: 1")
    if domains:
        lines.append("settings:")
        lines.append("  scope:")
        lines.append(
            "    emailDomains: [" + ", ".join(_scalar(d.casefold()) for d in domains) + "]"
        )
    if aliases:
        lines.append("products:")
        for product_id, alias in sorted(aliases.items(), key=lambda item: item[1]):
            product = live.products[product_id]
            lines.append(f"  {alias}: {{id: {_scalar(product_id)}}}  # {_comment(product.name)}")
    if not users:
        lines.append("users: []")
    else:
        lines.append("users:")
        for user in users:
            lines += _user_lines(user, sorted(granted.get(user.id, ())), fields)
    return ExportResult(
        text="\n".join(lines) + "\n",
        users=len(users),
        products=len(aliases),
        left_out=left_out,
        problems=problems,
    )


def _problems(user: LiveUser, roles: Sequence[str]) -> list[str]:
    """What the desired-state schema would refuse in this live user (its name rules)."""
    found = []
    for label, value in (("firstName", user.first_name), ("lastName", user.last_name)):
        if not value.strip():
            found.append(f"{user.email}: {label} is empty")
        elif value != value.strip():
            found.append(f"{user.email}: {label} {value!r} has leading or trailing spaces")
        elif len(value) > 100:
            found.append(f"{user.email}: {label} is longer than 100 characters")
    if roles and user.role not in roles:
        found.append(f"{user.email}: role {user.role!r} is not one of {', '.join(roles)}")
    return found


def _comment(text: str) -> str:
    # A comment ends at the line break, and YAML refuses non-printable characters
    # even there; anything else may stand as it is.
    return " ".join("".join(c if _literal_ok(ord(c)) else " " for c in text).split())


def _header(
    target: str,
    exported_at: str,
    domains: Sequence[str] | None,
    pending: int,
    left_out: int,
) -> list[str]:
    lines = [
        f"# Exported from {_comment(target)} at {exported_at} by `reconciler export`.",
        "# What this file cannot express:",
        '# - "Pending" (invited, not signed in yet) is written as active: the reconciler',
        "#   treats both the same and never changes one into the other"
        + (f" ({pending} pending now)." if pending else "."),
        "# - last sign-in, creation and update times, and the audit history are not kept.",
        "# - products are matched by id; the comment after an alias is the product's name",
        "#   at export time. Groups are not reconstructed: each user lists products directly.",
        "# Editors complete and check this file with the schema named on line 1; save it",
        "# with `reconciler schema > schemas/desired-state.schema.json` (or fix the path).",
    ]
    if domains:
        lines.append(
            f"# - only users in {', '.join(domains)} are listed and managed"
            + (f"; {left_out} other users were left out." if left_out else ".")
        )
    return lines


def _user_lines(user: LiveUser, products: list[str], fields: Sequence[str]) -> list[str]:
    lines = [
        f"  - email: {_scalar(user.email)}",
        f"    firstName: {_scalar(user.first_name)}",
        f"    lastName: {_scalar(user.last_name)}",
    ]
    if "role" in fields:
        lines.append(f"    role: {_scalar(user.role)}")
    # Defaults are left out so that a reviewer's eye lands on the exceptions.
    if "password_required" in fields and user.password_required:
        lines.append("    passwordRequired: true")
    if not user.active:
        lines.append("    active: false")
    if products:
        lines.append("    products: [" + ", ".join(products) + "]")
    return lines


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write the whole file or nothing: a crash never leaves half a desired state."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise ConfigError(f"cannot write {target}: directory {directory} does not exist.")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror}.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write {target}: {exc.strerror}.") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
