"""Drift reports as text (terminal), Markdown (a CI issue) and JSON."""

from __future__ import annotations

import json
from typing import Any

from reconciler.drift.report import FIELD_LABELS, Attribution, DriftedUser, DriftItem, DriftReport
from reconciler.render.mdescape import md_text
from reconciler.render.printable import printable
from reconciler.render.style import style

# A workflow finds the issue it opened before by this line and updates it.
MARKER = "<!-- planview-admin-reconciler:drift -->"
# GitHub refuses issue bodies and comments over 65,536 characters.
MARKDOWN_LIMIT = 65_536

_STATE_TEXT = {
    "changed": "changed",
    "deleted_out_of_band": "deleted out of band",
    "created_out_of_band": "created out of band",
}
_SIGN = {"changed": "~", "deleted_out_of_band": "-", "created_out_of_band": "+"}
_SIGN_COLOUR = {"changed": "yellow", "deleted_out_of_band": "red", "created_out_of_band": "green"}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(none)"
    return str(value)


def describe_item(item: DriftItem) -> str:
    """One difference in words, live first: drift is about what the tenant has now."""
    if item.kind == "missing":
        want = item.desired or {}
        products = ", ".join(want.get("products") or []) or "no products"
        return f"not in the tenant (desired: role {want.get('role', 'User')}, {products})"
    if item.kind == "unlisted":
        status = (item.live or {}).get("status", "active")
        return f"{status} in the tenant, not in the desired state"
    if item.kind == "product":
        if item.desired:
            return f"product {item.label}: not provisioned (desired: provisioned)"
        return f"product {item.label}: provisioned (desired: not provisioned)"
    return f"{item.label}: {_value(item.live)} (desired: {_value(item.desired)})"


# Said of every difference when the backend has no audit log to read.
NOT_ATTRIBUTED = "not attributed: the backend has no audit log"


def describe_attribution(item: DriftItem, since: str, *, attributed: bool = True) -> str:
    found = item.attribution
    if found is None:
        return f"no audit event found since {since}" if attributed else NOT_ATTRIBUTED
    return f"{_verb(found)} by {found.actor_label} at {found.timestamp}{_from_to(item, found)}"


def _verb(found: Attribution) -> str:
    noun, _, verb = found.action.partition(".")
    return verb or noun or "changed"


def _from_to(item: DriftItem, found: Attribution) -> str:
    if item.kind != "field":
        return ""
    if found.action == "user.created":
        return f" with {FIELD_LABELS.get(item.field or '', item.field)} {_value(found.to_value)}"
    return f": {_value(found.from_value)} -> {_value(found.to_value)}"


# The service's own sync (e.g. of users from connected products) is not somebody
# working around the desired state: the fix is usually scope, not a revert.
_SYNCED_NOTE = (
    "{n} user(s) not in the desired state were created by the service itself (system), "
    "e.g. its sync of users from connected products: to live alongside it, narrow "
    "settings.scope, protect them with settings.protectedUsers, or set "
    "unmanagedUsers: ignore (see docs/concepts.md)."
)


def _summary(report: DriftReport) -> str:
    if not report.has_drift:
        managed = report.managed_users
        return f"No drift: the tenant matches the desired state ({managed} managed users)."
    counts = report.counts()
    parts = [f"{n} {_STATE_TEXT[state]}" for state, n in counts.items() if n]
    total = len(report.users)
    who = "1 user differs" if total == 1 else f"{total} users differ"
    return f"Drift: {who} from the desired state ({', '.join(parts)})."


def _audit_line(report: DriftReport) -> str:
    audit = report.audit
    if audit.source == "none":
        return ""
    if audit.source == "unavailable":
        return f"No attribution: {audit.reason}."
    how = (
        "the customer audit log"
        if audit.source == "customer_log"
        else "each drifted user's history"
    )
    return (
        f"Audit history since {audit.since} read from {how}: "
        f"{audit.events} events, {audit.requests} request{'s' if audit.requests != 1 else ''}."
    )


def _next_steps() -> list[str]:
    return [
        "To undo the drift: `reconciler plan PATH` to review, then `reconciler apply PATH`.",
        "To keep a change instead: put it into the desired state and commit it.",
    ]


def render_text(report: DriftReport, *, colour: bool = False) -> str:
    lines = [f"Target: {report.target}", _summary(report)]
    if report.has_drift:
        audit = _audit_line(report)
        if audit:
            lines.append(audit)
        lines.append("")
        for user in report.users:
            lines += _text_user(user, report.audit.since, colour, report.attributed)
        if report.synced():
            lines.append(_SYNCED_NOTE.format(n=report.synced()))
        unexplained = report.unexplained()
        if unexplained and report.attributed:
            lines.append(
                f"{unexplained} difference(s) have no audit event since {report.audit.since}: "
                "they are older (try --since), or the desired state changed and was not "
                "applied yet."
            )
        lines += _next_steps()
    for email in report.protected_differences:
        lines.append(
            f"Note: protected user {printable(email)} differs from the desired state "
            "(never changed)."
        )
    for warning in report.warnings:
        lines.append(f"Warning: {printable(warning)}")
    return "\n".join(lines) + "\n"


def _text_user(user: DriftedUser, since: str, colour: bool, attributed: bool) -> list[str]:
    sign = style(_SIGN[user.state], colour, fg=_SIGN_COLOUR[user.state], bold=True)
    # Names, emails and actors come from the tenant: escaped like the plan's text.
    head = f"{sign} {style(printable(user.email), colour, bold=True)}"
    if user.state != "changed":
        head += f": {_STATE_TEXT[user.state]}"
    if user.source:
        head += f"  ({printable(user.source)})"
    lines = [head]
    if not attributed and user.changed_at:
        lines.append(f"    last modified at {printable(user.changed_at)}")
    for item in user.items:
        lines.append(f"    {printable(describe_item(item))}")
        why = printable(describe_attribution(item, since, attributed=attributed))
        lines.append(f"      {style(why, colour, dim=item.attribution is None)}")
    lines.append("")
    return lines


def render_markdown(report: DriftReport, *, limit: int = MARKDOWN_LIMIT) -> str:
    """The body of the nightly drift issue. Every value from the tenant or the files
    (emails, names, products, actors, timestamps, actions, the target) goes through
    `md_text`, so it renders as plain text, never as a link, HTML or a table cell."""
    head = [
        MARKER,
        f"### {_summary(report)}",
        "",
        f"Target: {md_text(report.target)} · checked {md_text(report.checked_at)}",
    ]
    audit = _audit_line(report)
    if audit:
        head[-1] += f" · {md_text(audit)}"
    if not report.has_drift:
        return "\n".join(head) + "\n"

    tail = ["", "<details><summary>What to do</summary>", ""]
    tail += [f"- {step}" for step in _next_steps()]
    if report.attributed:
        tail.append(
            "- A difference with no audit event is older than the history read (`--since`), "
            "or the desired state changed and was not applied yet."
        )
    if report.synced():
        tail.append(f"- {_SYNCED_NOTE.format(n=report.synced())}")
    tail += ["", "</details>"]
    for email in report.protected_differences:
        tail.append(
            f"\n> Protected user {md_text(email)} differs from the desired state (never changed)."
        )

    table = ["", "| User | Difference | Who | When | Event |", "|---|---|---|---|---|"]
    rows: list[str] = []
    for user in report.users:
        for item in user.items:
            found = item.attribution
            missing = "no audit event found" if report.attributed else NOT_ATTRIBUTED
            who = md_text(found.actor_label) if found else missing
            if found:
                when = md_text(found.timestamp)
            else:  # without an audit event, the record's own last change is the best "when"
                when = md_text(user.changed_at) if user.changed_at and not report.attributed else ""
            event = md_text(f"{found.action}{_from_to(item, found)}") if found else ""
            state = "" if user.state == "changed" else f" ({_STATE_TEXT[user.state]})"
            rows.append(
                f"| {md_text(user.email)}{state} | {md_text(describe_item(item))} | {who} "
                f"| {when} | {event} |"
            )
    # Keep under the comment limit: drop rows from the end and say how many.
    fixed = sum(len(line) + 1 for line in head + table + tail) + 200
    kept: list[str] = []
    used = fixed
    for row in rows:
        if used + len(row) + 1 > limit:
            break
        kept.append(row)
        used += len(row) + 1
    table += kept
    if len(kept) < len(rows):
        table.append(
            f"\n_{len(rows) - len(kept)} more difference(s) left out to stay under GitHub's "
            f"{limit:,}-character limit; run `reconciler drift` for the full report._"
        )
    return "\n".join(head + table + tail) + "\n"


def render_json(report: DriftReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
