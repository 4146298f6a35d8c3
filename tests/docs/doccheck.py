"""Helpers for the documentation and CI-example tests.

- the click command tree of `reconciler` (commands and their options);
- finding `reconciler ...` invocations in shell scripts (workflow `run:` steps, GitLab
  `script:` lines) and in documentation code blocks;
- checking an invocation against the command tree: the command exists, every option
  exists, options that take a value get one, literal choice values are allowed, and a
  command without arguments gets none.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click

from reconciler.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples" / "ci"


def commands() -> dict[str, click.Command]:
    """Every subcommand of `reconciler`, imported the way `reconciler --help` would."""
    ctx = click.Context(cli, info_name="reconciler")
    found = {}
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None, f"`reconciler {name}` is listed but cannot be loaded"
        found[name] = command
    return found


def option_names(command: click.Command) -> dict[str, click.Option]:
    """'--format' -> its Option, for every spelling (long, short, secondary)."""
    names: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                names[name] = param
    ctx = click.Context(command, info_name=command.name)
    help_option = command.get_help_option(ctx)
    if help_option is not None:
        for name in help_option.opts:
            names[name] = help_option
    return names


def takes_arguments(command: click.Command) -> bool:
    return any(isinstance(p, click.Argument) for p in command.params)


# --------------------------------------------------------------------------- shell

_REDIRECT = re.compile(r"\s\d?(?:>>?|<)(?:&\d)?\s*(?:\"[^\"]*\"|'[^']*'|[^\s;&|]+)?")
_OPERATORS = {";", "&&", "||", "|", "&"}
_LEADING_KEYWORDS = {"then", "else", "do", "if", "!", "time", "exec", "elif"}


@dataclass(frozen=True)
class Invocation:
    args: tuple[str, ...]  # what follows `reconciler`
    where: str  # for messages

    def __str__(self) -> str:
        return f"{self.where}: reconciler {' '.join(self.args)}"


def simple_commands(script: str) -> list[list[str]]:
    """A shell script as its simple commands (tokens), redirections dropped.

    Enough shell for CI snippets: line continuations, comments, `;`, `&&`, `||`, `|`,
    `if/then/fi` keywords, quotes. Not a full parser, and it does not need to be.
    """
    script = re.sub(r"\\\n\s*", " ", script)
    result: list[list[str]] = []
    for line in script.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = _REDIRECT.sub(" ", " " + line)
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError:  # unbalanced quotes in a heredoc body and the like
            continue
        current: list[str] = []
        for token in [*tokens, ";"]:
            if token in _OPERATORS or token == ";;":
                while current and current[0] in _LEADING_KEYWORDS:
                    current.pop(0)
                if current:
                    result.append(current)
                current = []
            else:
                current.append(token)
    return result


def invocations(script: str, where: str) -> list[Invocation]:
    """`reconciler ...` calls in a script; `"$@"` is expanded from earlier `set --`."""
    found: list[Invocation] = []
    positional: list[str] = []
    for tokens in simple_commands(script):
        completion = False
        while tokens and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", tokens[0]):
            completion = completion or tokens[0].startswith("_RECONCILER_COMPLETE=")
            tokens = tokens[1:]  # VAR=value prefixes
        if not tokens or completion:  # shell completion mode parses no arguments
            continue
        if tokens[:2] == ["set", "--"]:
            rest = tokens[2:]
            positional = positional + rest[1:] if rest[:1] == ["$@"] else rest
            continue
        if tokens[0] == "reconciler":
            args: list[str] = []
            for token in tokens[1:]:
                args.extend(positional if token == "$@" else [token])
            found.append(Invocation(tuple(args), where))
    return found


def check_invocation(invocation: Invocation, tree: dict[str, click.Command]) -> list[str]:
    """Problems with one `reconciler ...` call; empty when it would parse."""
    args = list(invocation.args)
    # group options before the command
    while args and args[0] in ("-v", "-vv", "-vvv", "--verbose", "--log-format"):
        if args.pop(0) == "--log-format" and (not args or args.pop(0) not in ("text", "json")):
            return [f"{invocation}: --log-format takes text or json"]
    if not args:
        return [f"{invocation}: no command"]
    if args[0] in ("--help", "-h", "--version"):
        return []
    name, rest = args[0], args[1:]
    command = tree.get(name)
    if command is None:
        return [f"{invocation}: there is no command `{name}` (commands: {', '.join(tree)})"]
    options = option_names(command)
    problems: list[str] = []
    positional: list[str] = []
    i = 0
    while i < len(rest):
        token = rest[i]
        i += 1
        if token == "--":
            positional.extend(rest[i:])
            break
        if not token.startswith("-") or token == "-":
            positional.append(token)
            continue
        flag, eq, inline = token.partition("=")
        if not flag.startswith("--") and len(flag) > 2 and flag[:2] in options:
            flag = flag[:2]  # -vv style counts
        option = options.get(flag)
        if option is None:
            problems.append(f"{invocation}: `reconciler {name}` has no option {flag}")
            continue
        if option.is_flag or option.count:
            continue
        if eq:
            value = inline
        elif i < len(rest):
            value = rest[i]
            i += 1
        else:
            problems.append(f"{invocation}: {flag} needs a value")
            continue
        choices = option.type.choices if isinstance(option.type, click.Choice) else None
        if choices is not None and "$" not in value and value not in choices:
            problems.append(f"{invocation}: {flag} {value!r} is not one of {list(choices)}")
    if positional and not takes_arguments(command):
        problems.append(f"{invocation}: `reconciler {name}` takes no arguments: {positional}")
    return problems


def markdown_code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return [
        (m.group(1), m.group(2)) for m in re.finditer(r"^```([\w-]*)\n(.*?)^```", text, re.S | re.M)
    ]
