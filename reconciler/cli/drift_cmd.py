"""`reconciler drift`: how the tenant differs from the desired state, and who did it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import click

from reconciler.cli.connection import (
    ConnectionCommand,
    connection_options,
    open_backend,
    print_stats,
)
from reconciler.cli.metrics import metrics_option, observe_plan, record_drift
from reconciler.cli.output import colour_enabled
from reconciler.cli.pipeline import (
    load_while_reading,
    parse_target_option,
    plan_against,
    target_option,
)
from reconciler.drift.check import DEFAULT_LOOKBACK
from reconciler.errors import EXIT_CHANGES, EXIT_OK, ConfigError

FORMATS = ("text", "markdown", "json")
_RELATIVE = re.compile(r"(\d+)\s*([dhw])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_since(value: str, now: datetime) -> datetime:
    """`2026-11-01`, `2026-11-01T09:00:00Z`, an offset, or a span back from now: `7d`.

    A bad value is a `ConfigError` (exit 1), not a click usage error: click exits 2 for
    those, which CI would read as "drift found"."""
    text = value.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        return now - int(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since '{value}' is not a time: give an ISO-8601 date or time such as 2026-11-01 or "
            "2026-11-01T09:00:00Z, or a span back from now such as 36h, 7d or 2w."
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if moment > now:
        raise ConfigError(f"--since {value} is in the future.")
    return moment.astimezone(timezone.utc)


@click.command(cls=ConnectionCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for terminals; markdown to open or update an issue from CI (it carries a "
    "hidden marker line to find the previous one); json for scripts.",
)
@click.option(
    "--since",
    metavar="WHEN",
    default=None,
    help=f"How far back to look in the audit history for who made each difference: an "
    f"ISO-8601 date or time (2026-11-01, 2026-11-01T09:00:00Z) or a span (36h, 7d, 2w). "
    f"Default: {DEFAULT_LOOKBACK.days} days. Older differences are reported with "
    "'no audit event found'.",
)
@target_option
@connection_options
@metrics_option("drift")
@click.pass_context
def drift(
    ctx: click.Context,
    paths: tuple[str, ...],
    fmt: str,
    since: str | None,
    targets: tuple[str, ...],
    **connection: Any,
) -> None:
    """Report how the tenant differs from the desired state in PATH..., and who changed it.

    For every user that differs it lists each field, status or product difference with
    the latest audit event that explains it: who (a person's email or an API client's
    id), what, when and from -> to. Users missing from the tenant are reported as
    deleted out of band, users in scope but not in the files as created out of band.
    Nothing in the tenant is changed. Run it nightly from CI.

    The audit history is read whichever way costs fewer API requests: the customer
    audit log since --since, or each drifted user's own history (-v says which).

    \b
    Exit codes:
      0  no drift: the tenant matches the desired state
      1  error: invalid files, connection or API failure
      2  drift found
    """
    from reconciler.drift import check_drift, render_json, render_markdown, render_text

    now = datetime.now(timezone.utc)
    since_at = parse_since(since, now) if since is not None else None
    targeted = parse_target_option(targets)
    # as plan does: the tenant's reads start while the files load; invalid files
    # abandon them and exit 1 before anything is shown
    desired, backend, pending = load_while_reading(paths, lambda: open_backend(**connection))
    try:
        live, plan = plan_against(
            desired, backend, pending=pending, targets=targeted, deactivations=False
        )
        observe_plan(plan)
        report = check_drift(desired, live, plan, backend, now=now, since=since_at)
        record_drift(len(report.users))
        if fmt == "markdown":
            output = render_markdown(report)
        elif fmt == "json":
            output = render_json(report)
        else:
            output = render_text(report, colour=colour_enabled())
        click.echo(output, nl=False)
    finally:
        print_stats(backend)
        backend.close()
    ctx.exit(EXIT_CHANGES if report.has_drift else EXIT_OK)
