"""The documentation must match the tool: a user who follows it must not hit a wall.

- docs/cli.md documents every command and every option of the real click tree, in
  that command's section (the shared connection options in their own section);
- docs/desired-state.md documents every property of the desired-state JSON Schema,
  with the schema's defaults and allowed values;
- the exit codes the docs promise are the ones the tool uses;
- every `reconciler ...` line in the docs' shell examples is a valid command line;
- every relative link in README.md and docs/ points at a file (and heading) that exists;
- the README's quick start is exactly the two commands, the second the one CI runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from doccheck import (
    DOCS,
    ROOT,
    check_invocation,
    commands,
    invocations,
    markdown_code_blocks,
    option_names,
)

from reconciler.cli.connection import URL_ENV, connection_options
from reconciler.errors import EXIT_BLOCKED, EXIT_CHANGES, EXIT_ERROR, EXIT_OK

CLI_DOC = DOCS / "cli.md"
SCHEMA = ROOT / "reconciler" / "schemas" / "desired-state.schema.json"
DESIRED_DOC = DOCS / "desired-state.md"


def sections(text: str, level: str = "## ") -> dict[str, str]:
    """Heading text -> the body up to the next heading of the same level."""
    found: dict[str, str] = {}
    parts = re.split(rf"^{re.escape(level)}(.+)$", text, flags=re.M)
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        found[title.strip()] = body
    return found


def connection_option_names() -> set[str]:
    probe = connection_options(click.Command("probe"))
    return {name for p in probe.params for name in (*p.opts, *p.secondary_opts)}


# --------------------------------------------------------------------------- CLI reference


def test_every_command_and_option_is_in_the_cli_reference() -> None:
    doc = sections(CLI_DOC.read_text(encoding="utf-8"))
    shared = connection_option_names()
    connection_section = doc.get("Connection options", "")
    missing: list[str] = []
    for name, command in commands().items():
        title = f"`reconciler {name}`"
        if title not in doc:
            missing.append(f"no section '## {title}'")
            continue
        body = doc[title]
        options = set(option_names(command)) - {"-h", "--help"}
        # `emulator` has a --client-id of its own: shared means all of them.
        uses_connection = shared <= options
        for option in options:
            if uses_connection and option in shared:
                if f"`{option}" not in connection_section:
                    missing.append(f"{option} (connection option) not in 'Connection options'")
            elif not re.search(rf"`{re.escape(option)}\b", body):
                missing.append(f"reconciler {name} {option}")
        if uses_connection and "(#connection-options)" not in body:
            missing.append(f"{title} does not link to the connection options")
    for option in (*cli_group_options(), "-h"):
        if f"`{option}`" not in doc.get("Global options", ""):
            missing.append(f"global option {option}")
    assert not missing, "undocumented in docs/cli.md:\n" + "\n".join(missing)


def cli_group_options() -> list[str]:
    from reconciler.cli.main import cli

    return [n for p in cli.params for n in (*p.opts, *p.secondary_opts)]


def test_cli_reference_has_no_commands_or_options_that_do_not_exist() -> None:
    tree = commands()
    text = CLI_DOC.read_text(encoding="utf-8")
    for title in sections(text):
        match = re.fullmatch(r"`reconciler (\w+)`", title)
        if match:
            assert match.group(1) in tree, f"docs/cli.md documents a missing command: {title}"
    doc = sections(text)
    shared = connection_option_names()
    for name, command in tree.items():
        known = set(option_names(command)) | shared
        body = doc.get(f"`reconciler {name}`", "")
        for row in re.findall(r"^\| `(--[\w-]+)", body, re.M):
            assert row in known, f"docs/cli.md lists {row} for `reconciler {name}`"


def test_documented_exit_codes_are_the_tools() -> None:
    doc = sections(CLI_DOC.read_text(encoding="utf-8"))["Exit codes"]
    rows = dict(re.findall(r"^\| (\d) \| (.+) \|$", doc, re.M))
    assert set(rows) == {str(c) for c in (EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BLOCKED)}
    assert "no changes" in rows[str(EXIT_OK)]
    assert "error" in rows[str(EXIT_ERROR)]
    assert "changes" in rows[str(EXIT_CHANGES)] and "drift" in rows[str(EXIT_CHANGES)]
    assert "safety limit" in rows[str(EXIT_BLOCKED)]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code in ("0", "1", "2", "3"):
        assert re.search(rf"^\| {code} \|", readme, re.M), f"README lacks exit code {code}"


def test_usage_errors_exit_as_documented(tmp_path: Path) -> None:
    """CI reads exit 2 as 'changes': the docs must say what a mistyped option gives."""
    doc = sections(CLI_DOC.read_text(encoding="utf-8"))["Exit codes"]
    match = re.search(r"Usage errors .*? exit with code (\d)", doc, re.S)
    assert match, "docs/cli.md must say which code a usage error exits with"
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "--format", "html", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == int(match.group(1)), result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- desired state


def schema_properties() -> list[tuple[str, dict[str, Any]]]:
    """(dotted path, property schema) for every property, following $refs once."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    defs = schema.get("$defs", {})
    found: list[tuple[str, dict[str, Any]]] = []

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref", "")
        return defs[ref.rsplit("/", 1)[1]] if ref.startswith("#/$defs/") else node

    def walk(node: dict[str, Any], prefix: str, seen: frozenset[str]) -> None:
        node = resolve(node)
        for name, sub in node.get("properties", {}).items():
            path = f"{prefix}{name}"
            found.append((path, resolve(sub)))
            walk(sub, path + ".", seen)
        for key in ("items", "additionalProperties"):
            sub = node.get(key)
            if isinstance(sub, dict):
                ref = sub.get("$ref", "")
                if ref in seen:
                    continue
                walk(sub, prefix.rstrip(".") + "[]." if prefix else "", seen | {ref})

    walk(schema, "", frozenset())
    return found


def test_every_schema_property_is_in_the_desired_state_reference() -> None:
    doc = DESIRED_DOC.read_text(encoding="utf-8")
    properties = schema_properties()
    names = {path.rsplit(".", 1)[-1] for path, _ in properties}
    # The walk must see the whole schema, or this test checks nothing.
    assert {"version", "unmanagedUsers", "maxRemovals", "emailDomains", "firstName"} <= names
    missing = []
    for path, _ in properties:
        leaf = path.rsplit(".", 1)[-1]
        if not re.search(rf"`(?:[\w.]+\.)?{re.escape(leaf)}`", doc):
            missing.append(path)
    assert not missing, "docs/desired-state.md does not document: " + ", ".join(missing)


def yaml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_defaults_and_allowed_values_match_the_schema() -> None:
    doc = DESIRED_DOC.read_text(encoding="utf-8")
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    checked = 0
    for path, prop in schema_properties():
        leaf = path.rsplit(".", 1)[-1]
        row = next((r for r in rows if re.match(rf"\| `(?:[\w.]+\.)?{leaf}` \|", r)), None)
        assert row is not None, f"no table row for {path} in docs/desired-state.md"
        if "default" in prop:
            checked += 1
            assert f"`{yaml_text(prop['default'])}`" in row or (f'`"{prop["default"]}"`' in row), (
                f"{path}: default {prop['default']!r} not in its row: {row}"
            )
        for value in prop.get("enum", []):
            assert f"`{value}`" in row, f"{path}: allowed value {value!r} not in its row"
    assert checked >= 5


def test_alias_rule_in_the_reference_matches_the_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    pattern = schema["$defs"]["alias"]["pattern"]
    assert pattern in DESIRED_DOC.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- examples in docs


def doc_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "examples" / "ci" / "README.md", *sorted(DOCS.glob("*.md"))]


def test_every_reconciler_command_line_in_the_docs_is_valid() -> None:
    tree = commands()
    problems: list[str] = []
    checked = 0
    for path in doc_files():
        for language, body in markdown_code_blocks(path.read_text(encoding="utf-8")):
            if language not in ("sh", "bash", "console", "shell"):
                continue
            body = re.sub(r"^\$ ", "", body, flags=re.M)
            for call in invocations(body, path.name):
                checked += 1
                problems += check_invocation(call, tree)
    assert checked >= 10
    assert not problems, "\n".join(problems)


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def test_relative_links_point_at_existing_files_and_headings() -> None:
    broken = []
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        for target in _LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # an external URL
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                broken.append(f"{path.name}: {target} (no such file)")
                continue
            if anchor and dest.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", dest.read_text(encoding="utf-8"), re.M)
                if anchor not in {slug(h) for h in headings}:
                    broken.append(f"{path.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_readme_links_every_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for doc in sorted(DOCS.glob("*.md")):
        assert f"(docs/{doc.name})" in readme, f"README does not link docs/{doc.name}"
    assert "(CONTRIBUTING.md)" in readme


# --------------------------------------------------------------------------- README quick start


def test_quick_start_is_exactly_the_two_commands() -> None:
    readme = sections((ROOT / "README.md").read_text(encoding="utf-8"))
    quick = readme["Quick start"]
    lines = [
        line.strip()
        for language, body in markdown_code_blocks(quick)
        if language in ("sh", "bash")
        for line in body.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert lines == [
        "python3 -m pip install . && reconciler demo",
        "python3 -m pip install -e '.[test]' && python3 -m pytest",
    ]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # .ci/run runs the same test command inside its fresh virtualenv.
    assert "pip install" in ci and "-e '.[test]'" in ci
    assert re.search(r"^python3? -m pytest\s*$", ci, re.M)


# --------------------------------------------------------------------------- editor and hooks


def test_pre_commit_hook_runs_a_real_validate_command() -> None:
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "reconciler-validate")
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False  # rules span files: always validate them all
    entry = hook["entry"].split()
    assert entry[:2] == ["reconciler", "validate"]
    call = invocations(" ".join([*entry, *hook["args"]]), ".pre-commit-hooks.yaml")
    assert call and not check_invocation(call[0], commands())
    files = re.compile(hook["files"])
    assert files.search("users/engineering.yaml") and files.search("users/sub/team.yml")
    assert not files.search("docs/users.md") and not files.search("README.yaml")
    gitops = (DOCS / "gitops.md").read_text(encoding="utf-8")
    assert "id: reconciler-validate" in gitops


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*/*.yaml")), ids=str)
def test_example_files_carry_a_schema_line_that_resolves(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match, f"{path} does not start with the yaml-language-server schema line"
    assert (path.parent / match.group(1)).resolve() == SCHEMA.resolve() or (
        (path.parent / match.group(1)).resolve().name == SCHEMA.name
        and (path.parent / match.group(1)).exists()
    )


def test_schema_command_prints_the_shipped_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "schema"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(SCHEMA.read_text(encoding="utf-8"))


def test_shell_completion_works_as_documented() -> None:
    """docs/gitops.md tells users to eval this; it must print a bash completion script."""
    env = {"_RECONCILER_COMPLETE": "bash_source", "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run(
        [sys.executable, "-m", "reconciler"], capture_output=True, text=True, env=env, timeout=60
    )
    gitops = (DOCS / "gitops.md").read_text(encoding="utf-8")
    assert "_RECONCILER_COMPLETE=bash_source reconciler" in gitops
    assert result.returncode == 0, result.stderr
    assert "complete " in result.stdout and "_RECONCILER_COMPLETE" in result.stdout


@pytest.mark.parametrize("path", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_python_examples_in_the_docs_run(path: Path) -> None:
    """A reader copies these; each runs as written (they start emulators on loopback)."""
    blocks = [
        body for lang, body in markdown_code_blocks(path.read_text("utf-8")) if lang == "python"
    ]
    for body in blocks:
        result = subprocess.run(
            [sys.executable, "-c", body], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"{path.name}:\n{body}\n{result.stderr}"


# --------------------------------------------------------------------------- troubleshooting


def source_corpus() -> str:
    """The tool's own message text: string literals of the package (adjacent literals
    joined, f-string fields replaced by a NUL that no documented text contains) plus
    the desired-state schema, whose descriptions validation quotes."""
    parts = []
    for path in sorted((ROOT / "reconciler").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"[\"']\s*\n\s*[rbfRBF]{0,2}[\"']", "", text)
        parts.append(re.sub(r"\{[^{}\n]*\}", "\0", text))
    parts.append(SCHEMA.read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", "\n".join(parts))


def quoted_messages() -> list[str]:
    """The code spans of the first column of the troubleshooting tables."""
    doc = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    messages = []
    for line in doc.splitlines():
        if not line.startswith("| `"):
            continue
        first = line[2:].split(" | ")[0]
        messages += [m.strip() for m in re.findall(r"``(.+?)``|`([^`]+)`", first) for m in m if m]
    return messages


def in_corpus(text: str, corpus: str) -> bool:
    """Whether `text` is in the code, allowing the one word next to a placeholder to be
    part of it in the code (`{count} {noun}` documented as `<n> changes`)."""
    words = re.sub(r"\s+", " ", text).split(" ")
    candidates = [words, words[1:], words[:-1], words[1:-1]]
    return any(len(" ".join(c)) >= 3 and " ".join(c) in corpus for c in candidates if c)


def test_troubleshooting_quotes_the_tools_messages_exactly() -> None:
    corpus = source_corpus()
    messages = quoted_messages()
    assert len(messages) >= 40
    wrong = []
    for message in messages:
        # Fixed text between <placeholders>; clauses joined with "; " or ": " may come
        # from separate literals.
        fixed = [p.strip(" :;,.()") for p in re.split(r"<[^>]*>|; |: ", message)]
        missing = [p for p in fixed if len(p) >= 3 and not in_corpus(p, corpus)]
        if missing:
            wrong.append(f"{message}\n    not in the code: {missing}")
    assert not wrong, "docs/troubleshooting.md quotes messages the code does not have:\n" + (
        "\n".join(wrong)
    )


def test_desired_state_examples_in_the_docs_validate(tmp_path: Path) -> None:
    """The YAML a reader copies from README and docs must be a valid desired state."""
    examples = [
        (path.name, body)
        for path in doc_files()
        for language, body in markdown_code_blocks(path.read_text(encoding="utf-8"))
        if language == "yaml" and re.search(r"^version: 1$", body, re.M)
    ]
    assert len(examples) >= 2
    for number, (name, body) in enumerate(examples):
        target = tmp_path / f"example-{number}.yaml"
        target.write_text(body, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-m", "reconciler", "validate", str(target)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"the example in {name} is invalid:\n{result.stderr}"


def test_connection_options_table_names_the_right_environment_variables() -> None:
    section = sections(CLI_DOC.read_text(encoding="utf-8"))["Connection options"]
    probe = connection_options(click.Command("probe"))
    for param in probe.params:
        assert isinstance(param, click.Option)
        row = next(r for r in section.splitlines() if r.startswith(f"| `{param.opts[0]} "))
        cells = [c.strip() for c in row.strip("|").split("|")]
        envvars = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or [])
        if param.name == "url":  # the variable depends on --backend
            assert cells[1] == " / ".join(f"`{v}`" for v in URL_ENV.values()), row
            continue
        assert cells[1].strip("`") == (envvars[0] if envvars else ""), row
        default = param.default
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            assert f"{default:g}" == cells[2], row
