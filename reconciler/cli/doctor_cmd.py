"""`reconciler doctor`: does this tenant match what the tool assumes? Read-only.

The probing lives with each backend (`backend.doctor()`); this module only renders the
neutral `Check` records it returns and picks the exit code.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from reconciler.backends.checks import Check, usable
from reconciler.cli.connection import (
    ConnectionCommand,
    connection_options,
    open_backend,
    print_stats,
)
from reconciler.cli.output import colour_enabled, style
from reconciler.errors import EXIT_ERROR, EXIT_OK
from reconciler.redact import redact

_LABEL = {"ok": "OK", "note": "NOTE", "differs": "DIFFERS"}
_COLOUR = {"ok": "green", "note": "yellow", "differs": "red"}


@click.command(cls=ConnectionCommand)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people; json for tools.",
)
@connection_options
@click.pass_context
def doctor(ctx: click.Context, output_format: str, **connection: Any) -> None:
    """Check, read-only, that the tenant works the way the tool assumes.

    Each assumption is reported as OK, NOTE (different, but the tool copes) or DIFFERS
    (the tool cannot work this way; the report names the code that would need to
    change). Planview Admin: the token, each listing's paging envelope and page size,
    the rate-limit headers, the error body of a 404, the audit event and product
    fields. SCIM: the ServiceProviderConfig and the paging facts.

    Only reads: no user, product or setting is changed. Exit 0 when the tool can work
    with the tenant (notes allowed), 1 when an assumption it depends on fails.

    \b
    Example:
      reconciler doctor
      reconciler doctor --backend scim --format json
    """
    backend = open_backend(**connection)
    try:
        checks = backend.doctor()  # type: ignore[attr-defined]
        target = backend.target
    finally:
        print_stats(backend)
        backend.close()
    name = connection.get("backend") or "planview"
    ok = usable(checks)
    if output_format == "json":
        report = {
            "backend": name,
            "target": target,
            "usable": ok,
            "checks": [{**c.to_dict(), "saw": redact(c.saw)} for c in checks],
        }
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(render_text(name, target, checks, colour=colour_enabled(sys.stdout)))
    ctx.exit(EXIT_OK if ok else EXIT_ERROR)


def render_text(backend: str, target: str, checks: list[Check], *, colour: bool) -> str:
    lines = [f"reconciler doctor: {backend} at {target}", ""]
    width = max(len(label) for label in _LABEL.values())
    for check in checks:
        label = style(_LABEL[check.status].ljust(width), colour, fg=_COLOUR[check.status])
        lines.append(f"{label}  {check.name}: {redact(check.saw)}")
        if check.fix_at:
            lines.append(f"{' ' * width}  to match it, change {check.fix_at}")
    differs = sum(c.status == "differs" for c in checks)
    notes = sum(c.status == "note" for c in checks)
    lines.append("")
    if differs:
        lines.append(
            f"The tool cannot work with this tenant as it is modelled: {differs} "
            f"check{'s' if differs != 1 else ''} differ{'' if differs != 1 else 's'}."
        )
    else:
        noted = f" ({notes} note{'s' if notes != 1 else ''})" if notes else ""
        lines.append(f"The tool can work with this tenant{noted}.")
    return "\n".join(lines)
