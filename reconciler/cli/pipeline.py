"""The sequence plan, apply and drift share: load -> validate -> connect -> collect -> plan.

Validation finishes before anything is written or shown: `load_while_reading` lets
the reads start while the files load (a broken file then costs a few reads, never a
write). Reads either complete or raise, so a plan is
only ever built from a whole picture of the tenant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler.backends.base import Backend
from reconciler.changes import ChangeKind
from reconciler.errors import ConfigError
from reconciler.model import DesiredState, LiveState
from reconciler.plan.model import Plan

if TYPE_CHECKING:
    from reconciler.collect import PendingLive
    from reconciler.plan.targets import Targets

F = TypeVar("F", bound=Callable[..., Any])


def safety_options(command: F) -> F:
    """--allow-delete and --allow-removals, shared by plan and apply."""
    command = click.option(
        "--allow-removals",
        type=click.IntRange(min=0),
        default=None,
        metavar="N",
        help=(
            "Lift the safety limit on removals (deactivate, delete, revoke, demote from "
            "Administrator) for this run, if the plan has at most N of them. Review the "
            "plan first; the blocked plan tells you the N it needs."
        ),
    )(command)
    command = click.option(
        "--allow-delete",
        is_flag=True,
        help=(
            "Allow deleting users not in the desired state when the files say "
            "`unmanagedUsers: delete`. Without it they are deactivated instead. "
            "Deleting is permanent."
        ),
    )(command)
    return command


def target_option(command: F) -> F:
    """--target, shared by plan, apply and drift (Terraform's -target)."""
    return click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="EMAIL|product:ALIAS",
        help=(
            "Limit the plan to this user's changes (an email, case-insensitive) or to this "
            "product's grants and revokes (product:ALIAS); repeat for several. For "
            "exceptions such as an urgent offboarding, not routine use. A user not in the "
            "files is deactivated only when targeted by email."
        ),
    )(command)


def parse_target_option(values: Sequence[str]) -> Targets | None:
    """The --target values, checked before anything is read (a bad one exits 1)."""
    from reconciler.plan.targets import parse_targets

    return parse_targets(values) if values else None


def warn_targeted(plan: Plan) -> None:
    """Terraform's warning, on stderr, for a targeted plan (it is in the plan's warnings
    too, for those who only read the plan)."""
    if not plan.targets:
        return
    from reconciler.cli.logs import emit
    from reconciler.plan.targets import TARGETING_WARNING

    emit(
        "plan.targeted",
        "warning",
        f"Warning: {TARGETING_WARNING}",
        targets=list(plan.targets),
    )


def require_paths(paths: Sequence[str]) -> None:
    if not paths:
        raise ConfigError(
            "no desired-state files given: name at least one YAML file or directory, "
            "e.g. `reconciler plan users/`."
        )


def load(paths: Sequence[str]) -> DesiredState:
    """Load and validate the desired state (raises `InputError` listing every problem)."""
    from reconciler.validate import load_desired

    require_paths(paths)
    return load_desired(list(paths))


def load_while_reading(
    paths: Sequence[str], connect: Callable[[], Backend]
) -> tuple[DesiredState, Backend, PendingLive]:
    """Load and validate the desired state while the live reads are under way (the
    tenant's latency hides the files' parsing). Invalid files still exit before
    anything is shown or written: the reads are abandoned and the backend closed.
    Pass the result's `PendingLive` to `plan_against`."""
    from reconciler.collect import start_collect

    require_paths(paths)
    try:
        backend = connect()
    except ConfigError:
        load(paths)  # a broken file is the first thing to hear about
        raise
    try:
        pending = start_collect(backend)
    except BaseException:
        backend.close()
        raise
    try:
        desired = load(paths)
    except BaseException:
        pending.abandon()
        backend.close()
        raise
    return desired, backend, pending


def plan_against(
    desired: DesiredState,
    backend: Backend,
    *,
    allow_delete: bool = False,
    allow_removals: int | None = None,
    pending: PendingLive | None = None,
    targets: Targets | None = None,
    deactivations: bool = True,
) -> tuple[LiveState, Plan]:
    """Read the live state the desired state concerns (or finish the reads `pending`
    started) and plan the difference. `deactivations`: also read when the candidates
    of `settings.deleteDeactivatedAfter` were deactivated (one audit read each), and
    who created the unlisted users the plan removes (the cheaper of one history read
    each or the customer log; none without such removals). Drift, which never deletes
    and reads its own audit history, does without."""
    from reconciler.collect import collect_deactivations, collect_live
    from reconciler.drift.audit import read_creators
    from reconciler.plan import build_plan
    from reconciler.plan.build import unlisted_removals, with_creators

    live = pending.finish(desired) if pending else collect_live(backend, desired)
    if deactivations:
        collect_deactivations(backend, desired, live)

    def cost(kind: ChangeKind) -> int:
        return backend.estimate_requests(kind.value)

    plan = build_plan(
        desired,
        live,
        capabilities=backend.capabilities,
        target=backend.target,
        allow_delete=allow_delete,
        allow_removals=allow_removals,
        cost=cost,
        targets=targets,
    )
    removed = unlisted_removals(plan) if deactivations else []
    if removed and backend.capabilities.has_audit_log:
        plan = with_creators(plan, read_creators(backend, removed, len(live.users)))
    return live, plan

