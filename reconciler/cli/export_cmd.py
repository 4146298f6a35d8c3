"""`reconciler export`: the live tenant as a desired-state file."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from reconciler.cli.connection import (
    ConnectionCommand,
    connection_options,
    open_backend,
    print_stats,
)
from reconciler.cli.logs import emit
from reconciler.cli.output import colour_enabled, style
from reconciler.errors import ConfigError
from reconciler.export.writer import DEFAULT_SCHEMA_REF


def warning(message: str) -> None:
    prefix = style("Warning: ", colour_enabled(sys.stderr), fg="yellow", bold=True)
    emit("export.warning", "warning", message, text=prefix + message)


@click.command(cls=ConnectionCommand)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Write the file here (all at once: never half a file). Default: stdout.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite FILE if it exists. Without it an existing file is left alone, so "
    "hand-written groups and comments are never lost by accident.",
)
@click.option(
    "--domain",
    "domains",
    multiple=True,
    metavar="DOMAIN",
    help="Only users with an email in DOMAIN (repeat for several); the file then scopes "
    "management to these domains (settings.scope.emailDomains).",
)
@click.option(
    "--schema-ref",
    default=DEFAULT_SCHEMA_REF,
    show_default=True,
    metavar="REF",
    help="Path or URL of the desired-state JSON Schema for the `yaml-language-server` "
    "comment on the first line (editors use it to complete and check the file).",
)
@connection_options
def export(
    out: str | None, force: bool, domains: tuple[str, ...], schema_ref: str, **connection: Any
) -> None:
    """Write the live tenant as a desired-state file: the starting point for managing an
    existing tenant.

    Products get readable aliases made from their names and are matched by id; users
    are sorted by email and list their products by alias. The file validates with
    `reconciler validate` and plans to no changes against the same tenant. A comment
    at its top says what the format cannot express (a pending invitation is written as
    active). Review it, split it into files per team if you like, and commit it.

    \b
    Example:
      reconciler export --out users/tenant.yaml
      reconciler plan users/      # expect: no changes
    """
    from reconciler.export import export_desired, write_atomic

    if out is not None and Path(out).exists() and not force:
        raise ConfigError(f"{out} exists; give --force to overwrite it, or choose another --out.")
    cleaned = tuple(d.strip().lstrip("@").casefold() for d in domains)
    if any(not d or "@" in d or " " in d for d in cleaned):
        raise ConfigError("--domain takes a domain such as example.com.")
    backend = open_backend(**connection)
    try:
        live = backend.read_live(None)
        target = backend.target
        capabilities = backend.capabilities
    finally:
        print_stats(backend)
        backend.close()

    exported_at = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    result = export_desired(
        live,
        target=target,
        exported_at=exported_at,
        domains=cleaned,
        schema_ref=schema_ref,
        # only the fields this backend manages: a SCIM file with `role: ""` would be
        # refused by its own plan
        capabilities=capabilities,
    )
    for problem in result.problems:
        warning(f"{problem}: the file will not validate until it is fixed.")
    if out is None:
        click.echo(result.text, nl=False)
    else:
        write_atomic(out, result.text)
    where = f" to {out}" if out else ""
    left_out = f" ({result.left_out} outside {', '.join(cleaned)} left out)" if cleaned else ""
    emit(
        "export.done",
        "info",
        f"Exported {result.users} users and {result.products} products{where}{left_out}.",
        users=result.users,
        products=result.products,
        path=out,
        left_out=result.left_out if cleaned else 0,
    )
