"""`reconciler apply`: plan, confirm, and make the changes (or apply a saved plan)."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.apply import (
    ApplyResult,
    check_fresh,
    check_safety,
    default_journal_path,
    execute,
    load_plan,
)
from reconciler.apply.freshness import check_target
from reconciler.apply.gate import (
    UNVERIFIED,
    SavedPlanLimit,
    check_saved_administrators,
    count_managed_users,
    count_removals,
    limit_from_files,
    pinned_limit,
    saved_min_administrators,
)
from reconciler.backends.base import Backend
from reconciler.changes import ChangeKind
from reconciler.cli.connection import (
    ConnectionCommand,
    connection_options,
    open_backend,
    print_stats,
)
from reconciler.cli.logs import emit, json_mode
from reconciler.cli.metrics import metrics_option, observe_plan, record_apply
from reconciler.cli.pipeline import (
    load,
    load_while_reading,
    parse_target_option,
    plan_against,
    safety_options,
    target_option,
    warn_targeted,
)
from reconciler.cli.plan_cmd import render
from reconciler.cli.progress import progress_bar
from reconciler.errors import EXIT_ERROR, EXIT_OK, ConfigError, StalePlanError
from reconciler.model import DesiredState, LiveUser
from reconciler.plan.model import Plan

if TYPE_CHECKING:
    from reconciler.collect import PendingLive


def stdin_is_tty() -> bool:
    return sys.stdin.isatty()


@click.command(cls=ConnectionCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help=(
        "Apply a plan saved by `reconciler plan --out FILE` instead of planning again. "
        "The live records it depends on are read first; if any changed since it was "
        "made, nothing is applied. A saved plan was reviewed already, so it is applied "
        "without asking. Give the PATH it was made from too, so that the safety limit is "
        "taken from the files, not from the plan file."
    ),
)
@click.option(
    "--expect-digest",
    "expect_digest",
    default=None,
    metavar="SHA256",
    help=(
        "With --plan: apply the saved plan only if its digest is this one (as `plan` "
        "prints it and the pull-request comment shows it), so that exactly the plan a "
        "reviewer saw is applied."
    ),
)
@click.option(
    "--auto-approve",
    is_flag=True,
    help="Apply without asking. Required when stdin is not a terminal (CI).",
)
@safety_options
@target_option
@click.option(
    "--journal",
    "journal",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help=(
        "Append one JSON line per change (time, change, outcome, server detail) to FILE, "
        "readable by you only. Default: ./.reconciler/journal-<UTC time>.jsonl."
    ),
)
@connection_options
@metrics_option("apply")
@click.pass_context
def apply(
    ctx: click.Context,
    paths: tuple[str, ...],
    plan_file: str | None,
    expect_digest: str | None,
    auto_approve: bool,
    allow_delete: bool,
    allow_removals: int | None,
    journal: str | None,
    targets: tuple[str, ...],
    **connection: Any,
) -> None:
    """Make the tenant match the desired state in PATH...

    Plans first and prints the plan. On a terminal it then asks for confirmation
    (only 'yes' is accepted); without a terminal it needs --auto-approve. Changes that
    take access away run before grants and creates, so freed seats can be reused in
    the same run. A failed change does not stop the others, only the changes that
    depend on it (a new user's grants after a failed create); the run ends with a
    summary, and running apply again picks up what is left.

    \b
    Exit codes:
      0  applied, or nothing to do
      1  error, declined, or at least one change failed (see the summary/journal)
      3  the plan removes more access than the safety limit allows; nothing is
         applied unless --allow-removals N is given. Also a plan that would leave
         fewer active administrators than settings.policy.minAdministrators
         (no override lifts that)
    """
    if targets and plan_file is not None:
        raise ConfigError(
            "--target limits a new plan: a saved plan already records its own targets "
            "(shown at its top). Nothing was changed."
        )
    targeted = parse_target_option(targets)
    if expect_digest is not None and plan_file is None:
        raise ConfigError(
            "--expect-digest pins a saved plan: use it with --plan FILE. Nothing was changed."
        )
    desired: DesiredState | None = None
    saved: Plan | None = None
    pending: PendingLive | None = None
    if plan_file is None:
        # as plan does: the tenant's reads start while the files load; invalid files
        # abandon them and exit 1 before anything is shown or written
        desired, backend, pending = load_while_reading(paths, lambda: open_backend(**connection))
    else:
        # a saved plan is checked against its files before the tenant is contacted
        desired = load(paths) if paths else None
        saved = load_plan(plan_file, expect_digest=expect_digest)
        backend = _open_for_saved(saved, desired, plan_file, allow_delete, connection)
    concurrency = int(connection.get("concurrency") or 4)
    try:
        if saved is not None:
            users = _TenantUsers(saved, backend)
            limit = _saved_plan_limit(saved, desired, expect_digest is not None, backend, users)
            check_safety(
                saved,
                privileged_role=backend.capabilities.privileged_role,
                allow_removals=allow_removals,
                saved_limit=limit,
            )
            minimum, _ = saved_min_administrators(saved, desired, expect_digest is not None)
            check_saved_administrators(
                saved,
                role=_privileged(backend),
                minimum=minimum,
                read_users=users.read,
            )
            check_fresh(saved, backend, concurrency=concurrency)
            plan = saved
        else:
            assert desired is not None  # loaded above whenever there is no saved plan
            _, plan = plan_against(
                desired,
                backend,
                allow_delete=allow_delete,
                allow_removals=allow_removals,
                pending=pending,
                targets=targeted,
            )
        observe_plan(plan)
        warn_targeted(plan)
        click.echo(render(plan, "text"), nl=False)
        if saved is None:
            check_safety(
                plan,
                privileged_role=backend.capabilities.privileged_role,
                allow_removals=allow_removals,
            )

        if not plan.has_changes:
            click.echo("Nothing to apply.")
            ctx.exit(EXIT_OK)
        if saved is None and not auto_approve:
            _confirm(plan, backend)

        result = _run(plan, backend, journal, concurrency)
    finally:
        print_stats(backend)
        backend.close()

    record_apply(len(result.failed))
    _report(result)
    ctx.exit(EXIT_OK if result.ok else EXIT_ERROR)


def _open_for_saved(
    saved: Plan,
    desired: DesiredState | None,
    plan_file: str,
    allow_delete: bool,
    connection: dict[str, Any],
) -> Backend:
    """The checks a saved plan must pass before the tenant is contacted, then the backend."""
    if not allow_delete:
        # Deleting is permanent, so it is consented to at apply time too: a saved plan
        # is an unsigned file, and a deactivation edited into a delete must not pass.
        deletes = sum(1 for change in saved.changes if change.kind is ChangeKind.DELETE)
        if deletes:
            raise ConfigError(
                f"the saved plan deletes {deletes} user{'s' if deletes != 1 else ''}, "
                "permanently: apply it with --allow-delete to confirm. Nothing was changed."
            )
    if desired is not None and desired.digest != saved.desired_digest:
        raise StalePlanError(
            f"plan is stale: the desired-state files differ from the ones {plan_file} was "
            "made from. Nothing was changed. Re-run plan and review the new plan."
        )
    return open_backend(**connection)


class _TenantUsers:
    """The tenant's users, read at most once per run: both saved-plan checks that need
    them (a percentage limit's managed users, the administrator count) share the read."""

    def __init__(self, saved: Plan, backend: Backend) -> None:
        self._saved, self._backend = saved, backend
        self._users: list[LiveUser] | None = None

    def read(self) -> list[LiveUser]:
        if self._users is None:
            check_target(self._saved, self._backend)  # read the plan's tenant, or refuse
            self._users = list(self._backend.read_live([]).users.values())
        return self._users


def _saved_plan_limit(
    saved: Plan,
    desired: DesiredState | None,
    pinned: bool,
    backend: Backend,
    users: _TenantUsers,
) -> SavedPlanLimit:
    """The removal limit for a saved plan, from what the file cannot change."""
    if pinned:
        return pinned_limit(saved)
    if desired is None:
        return UNVERIFIED

    def count_managed() -> int:
        return count_managed_users(users.read(), desired)

    removals = count_removals(
        saved.changes, privileged_role=backend.capabilities.privileged_role
    )
    return limit_from_files(desired, removals, count_managed)


def _privileged(backend: Backend) -> str | None:
    from reconciler.plan.invariants import privileged_role

    return privileged_role(backend.capabilities)


def _confirm(plan: Plan, backend: Backend) -> None:
    count = len(plan.changes)
    noun = "change" if count == 1 else "changes"
    if not stdin_is_tty():
        raise ConfigError(
            f"not applying {count} {noun} without confirmation: stdin is not a terminal. "
            "Review the plan above, then run again with --auto-approve (as CI jobs do), "
            "or apply a reviewed plan with `reconciler apply --plan FILE`. Nothing was changed."
        )
    question = f"Apply these {count} {noun} to {backend.target}? Only 'yes' will be accepted"
    suffix = ": "
    if json_mode():
        # The question as an event, so that the prompt itself writes nothing to stderr.
        emit("apply.confirm", "info", question, changes=count)
        question, suffix = "", ""
    answer = click.prompt(
        question, default="", show_default=False, err=True, prompt_suffix=suffix
    )
    if answer.strip() != "yes":
        raise ConfigError("apply cancelled: the answer was not 'yes'. Nothing was changed.")


def _run(plan: Plan, backend: Backend, journal: str | None, concurrency: int) -> ApplyResult:
    journal_path = Path(journal) if journal else default_journal_path()
    try:
        with _terminate_as_interrupt(), progress_bar(len(plan.changes)) as progress:
            return execute(
                plan,
                backend,
                journal_path=journal_path,
                concurrency=concurrency,
                progress=progress,
            )
    except KeyboardInterrupt:
        # The changes in flight finished and every change has its journal line.
        emit(
            "apply.interrupted",
            "warning",
            f"Apply interrupted; what was done is in {journal_path}. Run apply again to finish.",
            journal=str(journal_path),
        )
        raise


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """CI cancels a job with SIGTERM: stop like Ctrl-C, letting the changes in flight
    finish and be journalled, rather than dying between a write and its journal line."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _report(result: ApplyResult) -> None:
    if result.ok:
        click.echo(f"Apply complete: {result.summary()}.")
    else:
        click.echo(f"Apply finished with errors: {result.summary()}.")
        for failed in result.failed:
            click.echo(f"  failed   {failed.describe()}")
        for skipped in result.skipped:
            click.echo(f"  skipped  {skipped.describe()}")
        click.echo("Run apply again to retry what is left; it picks up from the current state.")
    click.echo(f"Journal: {result.journal_path}")
