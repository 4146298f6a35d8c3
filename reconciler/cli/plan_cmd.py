"""`reconciler plan`: show what apply would change, optionally saving it for later."""

from __future__ import annotations

import shlex
from typing import Any

import click

from reconciler.cli.connection import (
    ConnectionCommand,
    connection_options,
    open_backend,
    print_stats,
)
from reconciler.cli.logs import emit
from reconciler.cli.metrics import metrics_option, observe_plan
from reconciler.cli.output import colour_enabled
from reconciler.cli.pipeline import (
    load_while_reading,
    parse_target_option,
    plan_against,
    safety_options,
    target_option,
    warn_targeted,
)
from reconciler.errors import EXIT_BLOCKED, EXIT_CHANGES, EXIT_OK
from reconciler.plan.model import Plan

FORMATS = ("text", "markdown", "json")


def render(plan: Plan, fmt: str) -> str:
    from reconciler.render import render_json, render_markdown, render_text

    if fmt == "markdown":
        text = render_markdown(plan)
    elif fmt == "json":
        text = render_json(plan)
    else:
        text = render_text(plan, colour=colour_enabled())
    return text if text.endswith("\n") else text + "\n"


def _saved_hint(plan: Plan, out: str, paths: tuple[str, ...]) -> tuple[str, str]:
    """How to apply exactly this plan: with its files (so the safety limit comes from
    them, not from the plan file) and its digest (so no other plan is applied)."""
    words = ["reconciler", "apply", "--plan", out, *paths, "--expect-digest", plan.digest]
    if plan.counts()["delete"]:
        words.append("--allow-delete")
    safety = plan.safety
    if safety.administrators_blocked:
        return (
            f"Saved the blocked plan to {out} (digest {plan.digest}). It would leave "
            f"{safety.administrators} active administrators, fewer than "
            f"settings.policy.minAdministrators ({safety.min_administrators}): apply refuses "
            "it whatever --allow-removals says. Change the desired state and plan again."
        ), shlex.join(words)
    if safety.blocked or safety.allowed_by_override:
        words += ["--allow-removals", str(safety.removals)]
        lead = "Saved the blocked plan" if safety.blocked else "Saved the plan"
        return (
            f"{lead} to {out} (digest {plan.digest}). Its {safety.removals} removals are "
            f"more than the limit of {safety.limit}: after review it applies only with "
            f"--allow-removals given to apply too:\n  {shlex.join(words)}"
        ), shlex.join(words)
    return (
        f"Saved the plan to {out} (digest {plan.digest}). Apply exactly these changes "
        f"with:\n  {shlex.join(words)}"
    ), shlex.join(words)


@click.command(cls=ConnectionCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    metavar="FILE",
    help=(
        "Also save the plan as JSON (readable by you only) so that "
        "`reconciler apply --plan FILE` applies exactly what was reviewed."
    ),
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="How to print the plan: text for terminals, markdown for pull-request comments, "
    "json for scripts.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when the plan has changes and 0 when it has none (exit 1 is still an error "
    "and 3 a plan blocked by the safety limit).",
)
@safety_options
@target_option
@connection_options
@metrics_option("plan")
@click.pass_context
def plan(
    ctx: click.Context,
    paths: tuple[str, ...],
    out: str | None,
    fmt: str,
    detailed_exitcode: bool,
    allow_delete: bool,
    allow_removals: int | None,
    targets: tuple[str, ...],
    **connection: Any,
) -> None:
    """Show the changes that would make the tenant match the desired state in PATH...

    PATH is a YAML file or a directory of them. Nothing in the tenant is changed. The
    plan is printed to stdout; with --out it is also saved for `reconciler apply
    --plan`, which refuses it if the tenant changed in the meantime.

    \b
    Exit codes:
      0  success (with --detailed-exitcode: no changes)
      1  error: invalid files, connection or API failure (nothing is saved)
      2  the plan has changes (only with --detailed-exitcode)
      3  the plan removes more access than the safety limit allows; it is
         printed with the reason, and --allow-removals N lifts the limit. Also
         a plan that would leave fewer active administrators than
         settings.policy.minAdministrators (no override lifts that)
    """
    targeted = parse_target_option(targets)
    # the tenant's reads start while the files load; invalid files still exit 1 first
    desired, backend, pending = load_while_reading(paths, lambda: open_backend(**connection))
    try:
        _, result = plan_against(
            desired,
            backend,
            allow_delete=allow_delete,
            allow_removals=allow_removals,
            pending=pending,
            targets=targeted,
        )
        observe_plan(result)
        warn_targeted(result)
        click.echo(render(result, fmt), nl=False)
        if out is not None:
            from reconciler.apply.planfile import save_plan

            save_plan(result, out)
            hint, command = _saved_hint(result, out, paths)
            emit(
                "plan.saved", "info", hint, path=out, digest=result.digest, apply_command=command
            )
    finally:
        print_stats(backend)
        backend.close()

    if result.safety.blocked:
        what = (
            "the administrator invariant"
            if result.safety.administrators_blocked and not result.safety.over_limit
            else "the safety limit"
        )
        emit(
            "plan.blocked",
            "warning",
            f"Plan blocked by {what}: {result.safety.reason}",
            removals=result.safety.removals,
            limit=result.safety.limit,
        )
        ctx.exit(EXIT_BLOCKED)
    if detailed_exitcode and result.has_changes:
        ctx.exit(EXIT_CHANGES)
    ctx.exit(EXIT_OK)
