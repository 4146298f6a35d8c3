"""`reconciler demo`: the guided tour (see `reconciler.cli.demo`)."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--users",
    type=click.IntRange(min=10, max=2000),
    default=40,
    show_default=True,
    metavar="N",
    help="Size of the emulated tenant (10 to 2000 users).",
)
@click.option(
    "--keep-dir",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Keep the demo's files (the exported YAML, the edits, the apply journal) in DIR, "
    "which must be new or empty. By default they go to a temporary directory that is "
    "removed at the end.",
)
@click.pass_context
def demo(ctx: click.Context, users: int, keep_dir: str | None) -> None:
    """Try the whole workflow in under a minute, with nothing to set up.

    Starts a Planview Admin API emulator on a free loopback port, then runs the real
    commands against it: export the tenant, edit the YAML, validate, plan, apply, a
    change made behind the tool's back in the web UI, drift naming who made it, apply
    again, and a final plan with no changes. Nothing outside this machine is contacted.

    Exit code 0 when every step ends as expected; 1 (naming the step) otherwise.
    """
    from reconciler.cli.demo import run_demo

    verbose = (ctx.find_root().obj or {}).get("verbose", 0)
    run_demo(users=users, keep_dir=keep_dir, verbose=verbose)
