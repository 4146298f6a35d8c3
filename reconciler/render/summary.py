"""Wording shared by every renderer: the summary line and per-user grouping."""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.changes import ChangeKind
from reconciler.model import email_key
from reconciler.plan.model import Change, Plan

NO_CHANGES = "No changes. The tenant matches the desired state."

# User-level kinds in the order a reader meets them; grants and revokes are listed
# under the user they belong to.
USER_KINDS = (
    ChangeKind.CREATE,
    ChangeKind.DELETE,
    ChangeKind.DEACTIVATE,
    ChangeKind.REACTIVATE,
    ChangeKind.UPDATE,
)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


def summary_line(plan: Plan) -> str:
    """`Plan: 1 to create, 2 to grant (3 API requests).` or the no-changes sentence."""
    if not plan.changes:
        return NO_CHANGES
    counts = plan.counts()
    parts = [f"{counts[k.value]} to {k.value}" for k in ChangeKind if counts[k.value]]
    requests = plural(plan.estimated_requests, "API request")
    return f"Plan: {', '.join(parts)} ({requests})."


def by_user(plan: Plan) -> Iterator[tuple[str, list[Change]]]:
    """(email, changes) per user, users sorted by email, changes in execution order."""
    groups: dict[str, list[Change]] = {}
    for change in plan.changes:
        groups.setdefault(email_key(change.email), []).append(change)
    for key in sorted(groups):
        changes = groups[key]
        yield changes[0].email, changes


def user_action(changes: list[Change]) -> ChangeKind | None:
    """The user-level change that heads a user's group, if any."""
    kinds = {c.kind for c in changes}
    return next((k for k in USER_KINDS if k in kinds), None)


def safety_line(plan: Plan) -> str:
    verdict = plan.safety
    if verdict.blocked:
        return f"Safety: BLOCKED. {verdict.reason}"
    return f"Safety: {verdict.reason}" if verdict.reason else "Safety: OK."


def targeted_line(plan: Plan) -> str:
    """The first thing a targeted plan says, in every format (`--target`)."""
    return (
        f"Targeted plan (--target {', '.join(plan.targets)}): only these targets' changes; "
        "the rest of the desired state is not applied. For exceptions such as an urgent "
        "offboarding, not for routine use."
    )
