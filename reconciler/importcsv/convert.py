"""Read an HR or IdP CSV export and write the desired state it describes.

Every problem of every row is collected before anything is written, and each is
reported as `FILE:LINE: column: reason`, LINE being the line a spreadsheet shows (the
header is line 1; a quoted cell with line breaks makes its row span several lines,
and the row is reported at the line it starts on).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import InputError, ReconcilerError
from reconciler.export.writer import DEFAULT_SCHEMA_REF, _comment, _scalar
from reconciler.importcsv.mapfile import FIELDS, LIST_FIELDS, ColumnMap
from reconciler.load import load_files, read_document
from reconciler.validate import load_desired, validate_documents
from reconciler.validate.schema_check import is_email, schema

REQUIRED = ("email", "firstName", "lastName")
_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})
MAX_NAME = 100


class CsvImportError(ReconcilerError):
    """The CSV (or the files it is combined with) cannot become a desired state."""

    def __init__(self, file: str, problems: list[str]) -> None:
        self.problems = problems
        count = len(problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in {file}; nothing was written:\n"
            + "\n".join(problems)
        )


@dataclass(frozen=True, slots=True)
class ImportResult:
    text: str
    users: int


def roles() -> tuple[str, ...]:
    return tuple(schema()["$defs"]["user"]["properties"]["role"]["enum"])


def import_csv(
    path: str,
    *,
    column_map: ColumnMap | None = None,
    merge: str | None = None,
    delimiter: str | None = None,
    imported_at: str | None = None,
    map_name: str | None = None,
    schema_ref: str = DEFAULT_SCHEMA_REF,
) -> ImportResult:
    column_map = column_map or ColumnMap()
    text = _read_text(path)
    kept: dict[str, Any] = {}
    if merge is not None:
        load_desired([merge])  # InputError with file:line:col for every problem
        documents, _ = load_files([merge])
        kept = {
            k: v for k, v in (documents[0].value or {}).items() if k not in ("version", "users")
        }
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter or _sniff(text))
    problems: list[tuple[int, str]] = []
    try:
        header = next(rows)
    except StopIteration:
        raise CsvImportError(path, [f"{path}:1: the file has no header line"]) from None
    fields = _columns(path, header, column_map, problems)
    users: dict[str, dict[str, Any]] = {}
    first_line: dict[str, int] = {}
    known = {
        "groups": set(kept.get("groups") or {}) if merge else None,
        "products": set(kept.get("products") or {}) if merge else None,
    }
    domains = _scope_domains(kept)
    previous = rows.line_num
    try:
        for row in rows:
            line, previous = previous + 1, rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                problems.append(
                    (
                        line,
                        f"{path}:{line}: the row has {len(row)} fields, the "
                        f"header {len(header)} (is the delimiter right?)",
                    )
                )
                continue
            user, ok = _row(path, line, row, fields, column_map, known, domains, problems)
            email = user.get("email", "")
            key = email.casefold()
            if email and key in first_line:
                # reported even when either row has other problems: both need fixing
                problems.append(
                    (
                        line,
                        f"{path}:{line}: {fields['email'][0]}: {email!r} is already on line "
                        f"{first_line[key]} (emails ignore case)",
                    )
                )
                continue
            if email:
                first_line[key] = line
            if ok:
                users[key] = user
    except csv.Error as exc:
        problems.append((rows.line_num, f"{path}:{rows.line_num}: unreadable CSV: {exc}"))
    if problems:
        raise CsvImportError(path, [message for _, message in sorted(problems)])

    ordered = [users[k] for k in sorted(users, key=lambda k: (k, users[k]["email"]))]
    out = _render(path, ordered, kept, merge, map_name, imported_at, schema_ref)
    if merge is not None or not any("groups" in u or "products" in u for u in ordered):
        _self_check(path, out)
    return ImportResult(out, len(ordered))


# --------------------------------------------------------------------------- reading


def _read_text(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CsvImportError(
            path, [f"{path}: cannot read the file: {exc.strerror or exc}"]
        ) from None
    try:
        text = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvImportError(
            path,
            [f'{path}:{line}: not UTF-8 (byte {exc.start}); save it as "CSV UTF-8"'],
        ) from None
    if not text.strip():
        raise CsvImportError(path, [f"{path}:1: the file is empty"])
    return text


def _sniff(text: str) -> str:
    """Comma, semicolon (Excel in many European locales) or tab, judged on the header
    line alone: data rows hold commas in names and quoted lists."""
    header = text.splitlines()[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _columns(
    path: str, header: list[str], column_map: ColumnMap, problems: list[tuple[int, str]]
) -> dict[str, tuple[str, int]]:
    """field -> (the header it came from, its index)."""
    fields: dict[str, tuple[str, int]] = {}
    names = [h.strip() for h in header]
    for mapped in column_map.columns:
        if mapped not in names:
            problems.append(
                (
                    1,
                    f"{path}:1: {mapped}: the map names a column the file does not "
                    f"have (it has {', '.join(names)})",
                )
            )
    for index, name in enumerate(names):
        target = column_map.columns.get(name) or (name if name in FIELDS else None)
        if target is None:
            continue  # an HR export has many columns the desired state does not want
        if target in fields:
            problems.append(
                (
                    1,
                    f"{path}:1: {name}: a second column for {target} (the first "
                    f"is {fields[target][0]})",
                )
            )
            continue
        fields[target] = (name, index)
    for required in REQUIRED:
        if required not in fields:
            problems.append(
                (
                    1,
                    f"{path}:1: {required}: no column for {required} (name one "
                    "so in the header, or map a column to it with --map)",
                )
            )
    return fields


def _row(
    path: str,
    line: int,
    row: list[str],
    fields: Mapping[str, tuple[str, int]],
    column_map: ColumnMap,
    known: Mapping[str, set[str] | None],
    domains: set[str] | None,
    problems: list[tuple[int, str]],
) -> tuple[dict[str, Any], bool]:
    """The row as a desired-state user, and whether it had no problem."""
    user: dict[str, Any] = {}
    before = len(problems)

    def bad(field: str, reason: str) -> None:
        problems.append((line, f"{path}:{line}: {fields[field][0]}: {reason}"))

    def cell(field: str) -> str:
        if field not in fields:
            return ""
        index = fields[field][1]
        value = row[index].strip() if index < len(row) else ""
        return _translate(column_map.values.get(field, {}), value)

    email = cell("email") if "email" in fields else ""
    if "email" in fields:
        if not email:
            bad("email", "missing")
        elif len(email) > 254 or not is_email(email):
            bad("email", f"{email!r} is not a valid email address")
        elif domains is not None and email.rpartition("@")[2].casefold() not in domains:
            bad(
                "email",
                f"{email!r} is outside settings.scope.emailDomains ({', '.join(sorted(domains))})",
            )
        user["email"] = email
    for name in ("firstName", "lastName"):
        if name not in fields:
            continue
        value = " ".join(cell(name).split())
        if not value:
            bad(name, "missing")
        elif len(value) > MAX_NAME:
            bad(name, f"longer than {MAX_NAME} characters")
        user[name] = value
    role = cell("role")
    if role:
        allowed = roles()
        match = next((r for r in allowed if r.casefold() == role.casefold()), None)
        if match is None:
            bad("role", f"{role!r} is not {' or '.join(allowed)} (map it under values.role)")
        else:
            user["role"] = match
    for flag in ("passwordRequired", "active"):
        value = cell(flag)
        if not value:
            continue
        if value.casefold() in _TRUE:
            user[flag] = True
        elif value.casefold() in _FALSE:
            user[flag] = False
        else:
            bad(
                flag,
                f"{value!r} is not true or false (yes/no, 1/0 also work; map other "
                f"words under values.{flag})",
            )
    for listed in sorted(LIST_FIELDS):
        names = _names(cell(listed), column_map.values.get(listed, {}))
        for alias in names:
            if not _ALIAS.fullmatch(alias):
                bad(
                    listed,
                    f"{alias!r} is not a valid name (letters, digits, '.', '_' or '-', "
                    "starting with a letter or digit; map it under "
                    f"values.{listed})",
                )
            elif known[listed] is not None and alias not in known[listed]:  # type: ignore[operator]
                defined = ", ".join(sorted(known[listed] or ())) or "none"
                bad(listed, f"{alias!r} is not defined in the --merge file (defined: {defined})")
        if names:
            user[listed] = sorted(names)
    return user, len(problems) == before


def _translate(table: Mapping[str, str], value: str) -> str:
    if value in table:
        return table[value].strip()
    folded = value.casefold()
    for source, replacement in table.items():
        if source.casefold() == folded:
            return replacement.strip()
    return value


def _names(value: str, table: Mapping[str, str]) -> set[str]:
    """A ';'-separated cell; each item may map to several names (again ';'-separated),
    or to nothing (an empty string drops it)."""
    found: set[str] = set()
    for item in value.split(";"):
        item = item.strip()
        if item:
            found.update(n.strip() for n in _translate(table, item).split(";") if n.strip())
    return found


def _scope_domains(kept: Mapping[str, Any]) -> set[str] | None:
    settings = kept.get("settings") or {}
    scope = settings.get("scope") if isinstance(settings, dict) else None
    domains = scope.get("emailDomains") if isinstance(scope, dict) else None
    return {str(d).casefold() for d in domains} if isinstance(domains, list) else None


# --------------------------------------------------------------------------- writing


def _render(
    path: str,
    users: list[dict[str, Any]],
    kept: Mapping[str, Any],
    merge: str | None,
    map_name: str | None,
    imported_at: str | None,
    schema_ref: str,
) -> str:
    source = _comment(Path(path).name)
    when = f" at {imported_at}" if imported_at else ""
    lines = [
        f"# yaml-language-server: $schema={schema_ref}",
        f"# Imported from {source} ({len(users)} users){when} by `reconciler import-csv`.",
    ]
    if map_name:
        lines.append(f"# Columns and values mapped by {_comment(Path(map_name).name)}.")
    if merge:
        lines.append(
            f"# settings, products and groups kept from {_comment(Path(merge).name)}; "
            "its users replaced."
        )
    lines.append("# Generated: change the source file (or the map) and import again.")
    lines.append("version: 1")
    for section in ("settings", "products", "groups"):
        if section in kept and kept[section] is not None:
            lines += _block({section: kept[section]}, 0)
    if not users:
        lines.append("users: []")
    else:
        lines.append("users:")
        for user in users:
            lines += _user_lines(user)
    return "\n".join(lines) + "\n"


def _user_lines(user: Mapping[str, Any]) -> list[str]:
    lines = [f"  - email: {_scalar(user['email'])}"]
    for name in FIELDS[1:]:
        if name not in user:
            continue
        value = user[name]
        # Defaults are left out so that a reviewer's eye lands on the exceptions.
        if (name == "active" and value is True) or (name == "passwordRequired" and not value):
            continue
        lines.append(f"    {name}: {_inline(value)}")
    return lines


def _inline(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return _scalar(value)


def _block(mapping: Mapping[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{_scalar(key)}:")
            lines += _block(value, indent + 2)
        else:
            lines.append(f"{pad}{_scalar(key)}: {_inline(value)}")
    return lines


def _self_check(path: str, text: str) -> None:
    """The output must pass `reconciler validate`; a failure here is a bug of this
    module, reported rather than written."""
    name = f"{Path(path).name} (converted)"
    document, problems = read_document(name, text.encode("utf-8"))
    try:
        validate_documents([document], problems)
    except InputError as exc:
        raise CsvImportError(path, [str(d) for d in exc.diagnostics]) from None
