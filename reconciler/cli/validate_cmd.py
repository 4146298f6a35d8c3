"""`reconciler validate` and `reconciler schema`: offline checks of the desired state."""

from __future__ import annotations

import json
import logging
import sys
import time

import click

from reconciler.cli.logs import diagnostic_fields, emit, json_mode
from reconciler.cli.output import colour_enabled, style
from reconciler.errors import EXIT_ERROR, Diagnostic, InputError

log = logging.getLogger(__name__)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _github_escape(text: str, *, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def _print_problems(problems: list[Diagnostic], output_format: str) -> None:
    summary = f"{_plural(len(problems), 'error')} in the desired state; nothing was changed."
    if json_mode():
        # Events whatever --format says: with JSON logs every stderr line is one object.
        for problem in problems:
            emit("validate.problem", "error", problem.message, **diagnostic_fields(problem))
        emit("validate.failed", "error", summary, errors=len(problems))
        return
    if output_format == "json":
        records = [
            {
                "file": p.pos.file if p.pos else None,
                "line": p.pos.line if p.pos else None,
                "column": p.pos.col if p.pos else None,
                "path": p.path or None,
                "message": p.message,
            }
            for p in problems
        ]
        click.echo(json.dumps({"valid": False, "errors": records}, indent=2), err=True)
        return
    colour = colour_enabled(sys.stderr)
    for problem in problems:
        if output_format == "github":
            place = ""
            if problem.pos:
                place = (
                    f" file={_github_escape(problem.pos.file, property_value=True)},"
                    f"line={problem.pos.line},col={problem.pos.col}"
                )
            at = f" (at {problem.path})" if problem.path else ""
            click.echo(f"::error{place}::{_github_escape(problem.message + at)}", err=True)
            continue
        where = style(f"{problem.pos}: ", colour, bold=True) if problem.pos else ""
        at = style(f" (at {problem.path})", colour, dim=True) if problem.path else ""
        label = style("error: ", colour, fg="red", bold=True)
        click.echo(f"{where}{label}{problem.message}{at}", err=True)
    click.echo(style(summary, colour, fg="red"), err=True)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="How to print errors: text for people; json for tools; github for "
    "GitHub Actions annotations on the pull request's lines.",
)
@click.pass_context
def validate(ctx: click.Context, paths: tuple[str, ...], output_format: str) -> None:
    """Check desired-state files without contacting the tenant.

    PATHS are files or directories; a directory means every *.yaml and *.yml file
    below it, read in sorted order. Checks the YAML, the JSON Schema (see `reconciler
    schema`) and the rules across files: each email once (ignoring case), every group
    and product alias defined, settings/products/groups defined in one file only,
    users inside settings.scope.emailDomains, valid protected-user globs.

    Exit 0 with a one-line summary when everything is valid; exit 1 with every error
    on stderr as FILE:LINE:COL: message (at path.in.document).
    """
    from reconciler.validate import load_desired

    started = time.perf_counter()
    try:
        state = load_desired(paths)
    except InputError as exc:
        _print_problems(exc.diagnostics, output_format)
        ctx.exit(EXIT_ERROR)
        return
    for file in state.files:
        log.info("read %s", file)
    log.info("validated in %.2f s; content digest %s", time.perf_counter() - started, state.digest)
    users, products, groups = len(state.users), len(state.products), len(state.groups)
    files = len(state.files)
    if output_format == "json":
        summary = {
            "valid": True,
            "users": users,
            "products": products,
            "groups": groups,
            "files": list(state.files),
            "digest": state.digest,
        }
        click.echo(json.dumps(summary, indent=2))
        return
    colour = colour_enabled(sys.stdout)
    click.echo(
        style("Valid: ", colour, fg="green", bold=True)
        + f"{_plural(users, 'user')}, {_plural(products, 'product')}, "
        f"{_plural(groups, 'group')} in {_plural(files, 'file')}."
    )


@click.command()
def schema() -> None:
    """Print the desired-state JSON Schema (draft 2020-12) to stdout.

    Point an editor at it for completion and hover help, e.g. with the first line
    `# yaml-language-server: $schema=path/to/desired-state.schema.json`.
    """
    from reconciler.validate import schema_text

    click.echo(schema_text(), nl=False)
