"""build_plan: order the diff's changes, gate deletes, price them, judge their safety."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timezone

from reconciler.backends.capabilities import Capabilities
from reconciler.changes import PHASE, ChangeKind
from reconciler.diff import diff
from reconciler.diff.result import DiffChange
from reconciler.model import DesiredState, LiveState, email_key
from reconciler.plan.invariants import (
    administrator_warning,
    count_administrators,
    policy_warnings,
    privileged_role,
    with_administrators,
)
from reconciler.plan.model import Change, Plan
from reconciler.plan.safety import verdict
from reconciler.plan.targets import Targets, targeted_changes, targeted_skipped
from reconciler.resolve import resolve_products


def build_plan(
    desired: DesiredState,
    live: LiveState,
    *,
    capabilities: Capabilities,
    target: str,
    allow_delete: bool = False,
    allow_removals: int | None = None,
    cost: Callable[[ChangeKind], int] | None = None,
    now: datetime | None = None,
    targets: Targets | None = None,
) -> Plan:
    """The plan that makes `live` match `desired`. A blocked plan is still complete.

    `capabilities` are the backend's (diff takes its rules from them);
    `cost` estimates the API requests one change of a kind takes (default 1);
    `now` fixes `created_at` (tests, golden files);
    `targets` (`--target`) keep only their changes (see `targets.py`); the safety limit
    and the administrator invariant are then judged on those changes.
    """
    policy = desired.settings.policy
    warnings = policy_warnings(policy, capabilities)
    result = diff(desired, live, capabilities)
    warnings.extend(result.warnings)
    found = list(result.changes)
    skipped = result.skipped
    if targets:
        aliases = resolve_products(desired.products, live.products.values())
        alias_to_pid = {alias: product.id for alias, product in aliases.items()}
        found = targeted_changes(found, targets, alias_to_pid, warnings)
        skipped = targeted_skipped(skipped, targets)
    pending = _gate_deletes(tuple(found), allow_delete, warnings)
    changes = _order(pending)
    price = cost or _one_request
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    safety = verdict(changes, desired.settings.safety, result.managed_users, allow_removals)
    role = privileged_role(capabilities)
    if role is not None:
        count = count_administrators(live.users.values(), changes, role)
        safety = with_administrators(safety, count, policy.min_administrators, role)
        # A tenant already short, untouched by the plan: said only when the file asked
        # for a minimum, so that a default of 1 does not nag tenants without one.
        short = administrator_warning(count, policy.min_administrators, role)
        if short and policy.min_administrators_set:
            warnings.append(short)
    return Plan(
        target=target,
        desired_digest=desired.digest,
        created_at=moment.isoformat(timespec="seconds").replace("+00:00", "Z"),
        changes=changes,
        safety=safety,
        skipped=skipped,
        estimated_requests=sum(price(c.kind) for c in changes),
        warnings=tuple(warnings),
        targets=targets.labels() if targets else (),
    )


def _one_request(kind: ChangeKind) -> int:
    return 1


def _gate_deletes(
    changes: tuple[DiffChange, ...], allow_delete: bool, warnings: list[str]
) -> list[DiffChange]:
    """Without --allow-delete a planned delete becomes a deactivation (or nothing, for
    a user who is already deactivated): deleting is permanent, so it needs both the
    policy in the files and the flag on the command line."""
    if allow_delete:
        return list(changes)
    kept: list[DiffChange] = []
    held_back = 0
    expired = 0
    for change in changes:
        if change.kind is not ChangeKind.DELETE:
            kept.append(change)
            continue
        if "deactivated_at" in (change.before or {}):
            # settings.deleteDeactivatedAfter: the user is deactivated already.
            expired += 1
            continue
        held_back += 1
        status = (change.before or {}).get("status")
        if status != "deactivated":
            kept.append(
                replace(
                    change,
                    kind=ChangeKind.DEACTIVATE,
                    before={"status": status},
                    after={"status": "deactivated"},
                )
            )
    if expired:
        users = "user" if expired == 1 else "users"
        warnings.append(
            f"{expired} {users} not in the desired state, deactivated for longer than "
            "settings.deleteDeactivatedAfter, would be deleted, but deleting needs "
            "--allow-delete; they stay deactivated."
        )
    if held_back:
        users = "user" if held_back == 1 else "users"
        warnings.append(
            f"{held_back} {users} not in the desired state would be deleted "
            "(settings.unmanagedUsers: delete), but deleting needs --allow-delete; "
            "they are deactivated instead."
        )
    return kept


def _order(pending: list[DiffChange]) -> tuple[Change, ...]:
    """Phases first (removals free seats before grants), then user, then product."""
    pending.sort(key=lambda c: (PHASE[c.kind], c.key, c.product_id or ""))
    ids: dict[tuple[str, ChangeKind], str] = {}
    changes: list[Change] = []
    for number, item in enumerate(pending, start=1):
        change_id = f"c{number}"
        ids[(item.key, item.kind)] = change_id
        changes.append(
            Change(
                id=change_id,
                kind=item.kind,
                email=item.email,
                user_id=item.user_id,
                product_id=item.product_id,
                product=item.product,
                before=item.before,
                after=item.after,
                removal=item.removal,
                # Prerequisites sit in an earlier phase, so their ids exist already.
                depends_on=ids.get((item.key, item.after_kind)) if item.after_kind else None,
                fingerprint=item.fingerprint,
                source=item.source,
            )
        )
    return tuple(changes)


# The removals of users not in the desired state: a desired user's changes name its line.
_UNLISTED_REMOVALS = (ChangeKind.DEACTIVATE, ChangeKind.DELETE)

SYNC_WARNING = (
    "{n} to {verb} {were} created by the product sync; see docs/concepts.md on living "
    "alongside the sync (scope, unmanagedUsers: ignore, protectedUsers)"
)


def unlisted_removals(plan: Plan) -> list[tuple[str, str]]:
    """(user id, email) of each user not in the desired state the plan deactivates or
    deletes: the users whose creator the plan can name. Grace-period deletions
    (settings.deleteDeactivatedAfter) are left out: those users were deactivated long
    ago, and reading their creators would add reads to the ones that dated it."""
    return [
        (c.user_id, c.email)
        for c in plan.changes
        if c.kind in _UNLISTED_REMOVALS
        and c.source is None
        and c.user_id
        and "deactivated_at" not in (c.before or {})
    ]


def with_creators(plan: Plan, creators: Mapping[str, tuple[str, str]]) -> Plan:
    """The plan saying who created the users it removes (`creators`: email key ->
    (actor kind, actor), read from the audit log): `before` gains `created_by_kind` and
    `created_by`, and a warning counts the deactivations of users the product sync
    created. What the plan does is unchanged."""
    if not creators:
        return plan
    changes: list[Change] = []
    synced = {ChangeKind.DEACTIVATE: 0, ChangeKind.DELETE: 0}
    for change in plan.changes:
        creator = creators.get(email_key(change.email))
        if (
            creator is None
            or change.kind not in _UNLISTED_REMOVALS
            or change.source is not None
            or "deactivated_at" in (change.before or {})
        ):
            changes.append(change)
            continue
        kind, actor = creator
        if kind == "system":
            synced[change.kind] += 1
        before = {**(change.before or {}), "created_by_kind": kind, "created_by": actor}
        changes.append(replace(change, before=before))
    warnings = list(plan.warnings)
    for removal, verb in ((ChangeKind.DEACTIVATE, "deactivate"), (ChangeKind.DELETE, "delete")):
        count = synced[removal]
        if count:
            warnings.append(
                SYNC_WARNING.format(
                    n="1 user" if count == 1 else f"{count} users",
                    verb=verb,
                    were="was" if count == 1 else "were",
                )
            )
    return replace(plan, changes=tuple(changes), warnings=tuple(warnings))
