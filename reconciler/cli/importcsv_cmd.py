"""`reconciler import-csv`: an HR or IdP CSV export as a desired-state file."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from reconciler.errors import ConfigError


@click.command("import-csv")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=str),
    metavar="FILE",
    help="Write the desired state here, all at once (never half a file); nothing is "
    "written when any row has a problem.",
)
@click.option(
    "--map",
    "map_file",
    type=click.Path(dir_okay=False, path_type=str),
    metavar="MAP.yaml",
    help="Rename columns and translate values (see docs/import-csv.md).",
)
@click.option(
    "--merge",
    type=click.Path(dir_okay=False, path_type=str),
    metavar="EXISTING.yaml",
    help="Keep this desired-state file's settings, products and groups and replace its "
    "users; group and product names in the CSV must be defined in it.",
)
@click.option(
    "--delimiter",
    type=click.Choice([",", ";", "tab"]),
    default=None,
    help="The field separator. Default: detected from the header line.",
)
@click.option(
    "--no-timestamp",
    is_flag=True,
    help="Leave the import time out of the header comment, so an unchanged CSV gives a "
    "byte-identical file (for a nightly job that opens a pull request only on change).",
)
def import_csv(
    file: str,
    out: str,
    map_file: str | None,
    merge: str | None,
    delimiter: str | None,
    no_timestamp: bool,
) -> None:
    """Convert an HR or IdP CSV export into a desired-state file.

    Default columns: email, firstName, lastName, role, passwordRequired, active, groups
    and products (groups and products: names separated by ';'). Other columns are
    ignored. UTF-8 with or without a BOM, Excel quoting, ',' ';' or tab separated.
    Users come out sorted by email; the file passes `reconciler validate`.

    Every problem is reported at once as FILE:LINE: column: reason, and nothing is
    written then.

    \b
    Example:
      reconciler import-csv hr.csv --map hr-map.yaml --merge users/shared.yaml \\
        --out users/shared.yaml
    """
    from reconciler.export import write_atomic
    from reconciler.importcsv import import_csv as convert
    from reconciler.importcsv import load_map

    if not Path(file).is_file():
        raise ConfigError(f"{file}: no such file.")
    column_map = load_map(map_file) if map_file else None
    imported_at = None
    if not no_timestamp:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        imported_at = now.replace("+00:00", "Z")
    result = convert(
        file,
        column_map=column_map,
        merge=merge,
        delimiter="\t" if delimiter == "tab" else delimiter,
        imported_at=imported_at,
        map_name=map_file,
    )
    write_atomic(out, result.text)
    click.echo(f"Imported {result.users} users from {file} to {out}.", err=True)
