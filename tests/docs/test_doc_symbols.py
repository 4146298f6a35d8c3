"""Every code symbol the docs name in backticks exists, so a rename fails CI, not a reader.

Scanned: README.md, CONTRIBUTING.md and docs/*.md, inline code spans only (fenced
blocks are examples, checked elsewhere). A span counts as a code symbol when the whole
span has one of these forms; anything else (CLI flags, YAML keys, file names other
than `.py`, environment variables, shell lines, JSON fields, messages) is not one:

- a `.py` path inside this repository, alone or followed by a name:
  `reconciler/load/reader.py`, `load/reader.py:mapping`, `model.py email_key`,
  `auth.py TokenManager.token`, `tests/x/test_y.py::test_z[param]`. The path is
  taken from the repository root, from `reconciler/`, or, for a bare file name, as
  any file of that name here (`...` in a path stands for any folders). The file must
  exist and define the name (a def, class or assignment; `A.b` for a member of a
  class). A path whose first folder is not one of this repository's (`ci/x.py` in a
  user's repository, `yaml/events.py` in a library) is not ours to check;
- a dotted name `a.b.c`, optionally called (`a.b()`, `a.b(x) -> T`), that starts
  with `reconciler`, with the name of a module of the package (`backend.X` is any
  `reconciler/**/backend.py`), or with a class defined in the package
  (`ClientSettings.retries`, `Plan.to_dict()`). Dotted names that end in a file
  extension (`plan.json`) or that are a path of desired-state YAML keys
  (`scope.emailDomains`) are not code;
- a call of a bare name, the whole span: `email_key()`, `build_plan(...)`,
  `load_desired(paths) -> DesiredState`. The name must be defined in `reconciler/`,
  `bench/` or `tests/` (fixtures and helpers are documented for contributors); a
  return type after `->` must be a class of the package.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "reconciler"
# Where a bare call's name or a bare `.py` file name may be defined.
SOURCE_TREES = ("reconciler", "bench", "tests", "examples")
SCHEMA = PACKAGE / "schemas" / "desired-state.schema.json"
FILE_EXTENSIONS = {"json", "yaml", "yml", "md", "txt", "toml", "jsonl", "js", "cfg", "ini", "sh"}

_IDENT = r"[A-Za-z_]\w*"
_PATH_SPAN = re.compile(
    r"(?P<path>[\w./-]*\w\.py|[\w./-]*\w/\.\.\.)"
    rf"(?:(?:::?|\s+)(?P<name>{_IDENT}(?:\.{_IDENT})*|\.\.\.))?"
    r"(?:\[[^\]]*\])?"
)
_DOTTED_SPAN = re.compile(
    rf"(?P<dotted>{_IDENT}(?:\.{_IDENT})+)(?P<call>\(.*\))?(?:\s*->\s*(?P<ret>{_IDENT}))?"
)
_CALL_SPAN = re.compile(rf"(?P<name>{_IDENT})\(.*\)(?:\s*->\s*(?P<ret>{_IDENT}))?")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class Span:
    text: str
    doc: str  # path relative to the repository
    line: int

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: `{self.text}`"


# --------------------------------------------------------------------------- reading docs


def doc_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]


def code_spans(text: str, doc: str) -> Iterator[Span]:
    """Inline code spans with the line they start on; fenced blocks are skipped."""
    lines = text.split("\n")
    fence: str | None = None
    for index, line in enumerate(lines):
        opened = _FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)[0] * 3
            lines[index] = ""
        elif fence is not None:
            if line.strip().startswith(fence):
                fence = None
            lines[index] = ""  # keep the line count so positions stay right
    prose = "\n".join(lines)
    for match in _CODE_SPAN.finditer(prose):
        content = " ".join(match.group(2).split())
        yield Span(content, doc, prose.count("\n", 0, match.start()) + 1)


# --------------------------------------------------------------------------- the package


def _source_files(trees: tuple[str, ...] = SOURCE_TREES) -> list[Path]:
    return [
        path
        for tree in trees
        for path in sorted((ROOT / tree).rglob("*.py"))
        if "__pycache__" not in path.parts
    ]


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@cache
def package_modules() -> dict[str, list[str]]:
    """Last name of every module of the package -> its dotted names (`wire` -> [...])."""
    found: dict[str, list[str]] = {}
    for path in _source_files(("reconciler",)):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.setdefault(parts[-1], []).append(".".join(parts))
    return found


@cache
def package_classes() -> dict[str, list[str]]:
    """Name of every module-level class of the package -> the modules that define it."""
    found: dict[str, list[str]] = {}
    for path in _source_files(("reconciler",)):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in _tree(path).body:
            if isinstance(node, ast.ClassDef):
                found.setdefault(node.name, []).append(module)
    return found


@cache
def yaml_key_paths() -> frozenset[tuple[str, ...]]:
    """Every run of nested property names of the desired-state schema (`scope.emailDomains`)."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    paths: set[tuple[str, ...]] = set()

    def walk(node: Any, prefix: tuple[str, ...], depth: int) -> None:
        if depth > 12 or not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = schema
            for part in ref[2:].split("/"):
                target = target[part]
            walk(target, prefix, depth + 1)
        for name, child in (node.get("properties") or {}).items():
            path = (*prefix, name)
            for start in range(len(path)):
                paths.add(path[start:])
            walk(child, path, depth + 1)
        for key in ("items", "additionalProperties"):
            walk(node.get(key), prefix, depth + 1)
        for key in ("allOf", "anyOf", "oneOf"):
            for child in node.get(key) or []:
                walk(child, prefix, depth + 1)

    walk(schema, (), 0)
    return frozenset(paths)


def _has_attribute(owner: object, name: str) -> object | None:
    """owner.name, counting dataclass fields, annotated class attributes and submodules."""
    if hasattr(owner, name):
        return getattr(owner, name)
    if name in getattr(owner, "__dataclass_fields__", {}):
        return True
    for klass in getattr(owner, "__mro__", ()):
        if name in getattr(klass, "__annotations__", {}):
            return True
    if isinstance(owner, ModuleType):
        try:
            return importlib.import_module(f"{owner.__name__}.{name}")
        except ImportError:
            return None
    return None


def _resolve_chain(owner: object, names: list[str]) -> bool:
    for name in names:
        found = _has_attribute(owner, name)
        if found is None:
            return False
        owner = found
    return True


def _resolve_dotted(dotted: str) -> bool:
    head, *rest = dotted.split(".")
    if head == "reconciler":
        parts = dotted.split(".")
        # the longest importable module prefix, then attributes
        for cut in range(len(parts), 0, -1):
            try:
                module = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            return _resolve_chain(module, parts[cut:])
        return False
    owners: list[object] = []
    for module_name in package_modules().get(head, []):
        owners.append(importlib.import_module(module_name))
    for module_name in package_classes().get(head, []):
        owners.append(getattr(importlib.import_module(module_name), head))
    return any(_resolve_chain(owner, rest) for owner in owners)


def _is_symbol_dotted(dotted: str) -> bool:
    parts = dotted.split(".")
    if parts[-1].lower() in FILE_EXTENSIONS:
        return False  # a file name such as plan.json
    if tuple(parts) in yaml_key_paths():
        return False  # settings.safety.maxRemovals is YAML, not Python
    head = parts[0]
    return head == "reconciler" or head in package_modules() or head in package_classes()


def _defines(tree: ast.Module, dotted: str) -> bool:
    """Whether the file defines `name` (any depth) or `Class.member`."""
    *outer, name = dotted.split(".")
    scopes: list[list[ast.stmt]] = [tree.body]
    for klass in outer:
        scopes = [
            node.body
            for scope in scopes
            for top in scope
            for node in ast.walk(top)
            if isinstance(node, ast.ClassDef) and node.name == klass
        ]
    for scope in scopes:
        for top in scope:
            nodes = ast.walk(top) if not outer else iter([top])
            if any(name in _names_bound(node) for node in nodes):
                return True
    return False


def _names_bound(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _path_candidates(path: str) -> list[Path] | None:
    """Files this `.py` path may mean; None when it is not a path of this repository."""
    if "/" not in path:
        return [p for p in _source_files() if p.name == path]
    first = path.split("/", 1)[0]
    ours = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    subpackages = {p.name for p in PACKAGE.iterdir() if p.is_dir()}
    if first not in ours | subpackages | {"..."}:
        return None
    pattern = path.replace("/.../", "/**/")
    if pattern.endswith("/..."):  # `tests/hostile/...::test_x`: any file under the folder
        pattern = pattern[: -len("...")] + "**/*.py"
    found: list[Path] = []
    for base in (ROOT, PACKAGE):
        found += [p for p in base.glob(pattern) if p.is_file()]
    return found


def _defined_anywhere(name: str) -> bool:
    return any(_defines(_tree(path), name) for path in _source_files())


# --------------------------------------------------------------------------- the resolver


def classify(text: str) -> str | None:
    """Which code-symbol form the span has, or None when it is not a code symbol."""
    path = _PATH_SPAN.fullmatch(text)
    if path:
        if path.group("path").endswith("/...") and not path.group("name"):
            return None  # `tests/fixtures/...`: a folder, not a file
        return "path" if _path_candidates(path.group("path")) is not None else None
    dotted = _DOTTED_SPAN.fullmatch(text)
    if dotted:
        return "dotted" if _is_symbol_dotted(dotted.group("dotted")) else None
    if _CALL_SPAN.fullmatch(text):
        return "call"
    return None


def unresolved(text: str) -> str | None:
    """Why a code-symbol span does not resolve; None when it does or is not a symbol."""
    kind = classify(text)
    if kind == "path":
        match = _PATH_SPAN.fullmatch(text)
        assert match is not None
        files = _path_candidates(match.group("path")) or []
        if not files:
            return "no such file in this repository"
        name = match.group("name")
        if name and name != "..." and not any(_defines(_tree(f), name) for f in files):
            return f"{name} is not defined in {', '.join(str(f.relative_to(ROOT)) for f in files)}"
        return None
    if kind == "dotted":
        match = _DOTTED_SPAN.fullmatch(text)
        assert match is not None
        if not _resolve_dotted(match.group("dotted")):
            return f"{match.group('dotted')} does not exist in the package"
        ret = match.group("ret")
        if ret and ret not in package_classes():
            return f"{ret} is not a class of the package"
        return None
    if kind == "call":
        match = _CALL_SPAN.fullmatch(text)
        assert match is not None
        if not _defined_anywhere(match.group("name")):
            return f"{match.group('name')} is not defined in {', '.join(SOURCE_TREES)}"
        ret = match.group("ret")
        if ret and ret not in package_classes():
            return f"{ret} is not a class of the package"
    return None


def problems_in(text: str, doc: str) -> list[str]:
    return [
        f"{span}: {why}" for span in code_spans(text, doc) if (why := unresolved(span.text))
    ]


# --------------------------------------------------------------------------- tests


def test_every_code_symbol_named_in_the_docs_exists() -> None:
    found: list[str] = []
    for path in doc_files():
        found += problems_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert not found, "docs name code that does not exist:\n" + "\n".join(found)


def test_the_docs_name_code_symbols_of_every_form() -> None:
    # If the classifier stopped recognising a form, the test above would pass vacuously.
    kinds: dict[str, int] = {}
    for path in doc_files():
        for span in code_spans(path.read_text(encoding="utf-8"), path.name):
            kind = classify(span.text)
            if kind:
                kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds.get("path", 0) >= 20 and kinds.get("dotted", 0) >= 10, kinds
    assert kinds.get("call", 0) >= 5, kinds


@pytest.mark.parametrize(
    "text",
    [
        "reconciler.model.no_such_function",
        "reconciler.no_such_module.thing",
        "backend.WRITE_ATTEMPTS",  # the module exists, the name does not
        "wire.NO_SUCH_LIMIT",
        "ClientSettings.no_such_field",
        "Plan.no_such_method()",
        "reconciler/model.py:no_such_function",
        "reconciler/no_such_file.py",
        "load/reader.py NO_SUCH_CONSTANT",
        "auth.py TokenManager.no_such_method",
        "no_such_helper.py",
        "no_such_function()",
        "load_desired(paths) -> NoSuchState",
        "tests/.../test_client_paging.py::test_no_such_test",
        "tests/hostile/...::test_no_such_test",
    ],
)
def test_a_made_up_symbol_is_reported(text: str) -> None:
    assert unresolved(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "reconciler.model.email_key",
        "reconciler.cli.output.colour_enabled()",
        "wire.MAX_ANSWER_BYTES",
        "ClientSettings.retries",
        "Plan.to_dict()",
        "reconciler/load/reader.py:mapping",
        "load/document.py MAX_DEPTH",
        "auth.py TokenManager.token",
        "paging.py",
        "email_key()",
        "load_desired(paths) -> DesiredState",
    ],
)
def test_a_real_symbol_resolves(text: str) -> None:
    assert classify(text) is not None
    assert unresolved(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "--plan",
        "--out plan.json",
        "plan.json",
        "plan.schema.json",
        "settings.safety.maxRemovals",
        "scope.emailDomains",
        "PLANVIEW_ADMIN_URL",
        "reconciler plan --out plan.json",
        '{"users": N, "products": M, "seed": S}',
        "user.created",
        "yaml.safe_load",
        "ci/gitlab_report.py",
        "floor(n / max) + 1",
        "alice.smith@example.com",
        "tests/fixtures/...",
    ],
)
def test_flags_keys_files_and_fields_are_not_code_symbols(text: str) -> None:
    assert classify(text) is None


def test_a_report_names_the_doc_and_the_line() -> None:
    doc = "# Title\n\nText with `reconciler.model.email_key`.\n\n```\n`backend.NOPE`\n```\n" + (
        "A row | `backend.WRITE_ATTEMPTS` |\n"
    )
    assert problems_in(doc, "docs/x.md") == [
        "docs/x.md:8: `backend.WRITE_ATTEMPTS`: backend.WRITE_ATTEMPTS does not exist in the "
        "package"
    ]
