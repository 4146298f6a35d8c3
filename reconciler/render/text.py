"""The Terraform-like terminal rendering of a plan."""

from __future__ import annotations

import json
from typing import Any

from reconciler.changes import ChangeKind
from reconciler.model import FIELD_LABELS, MANAGED_FIELDS
from reconciler.plan.model import Change, Plan
from reconciler.render.printable import printable as _clean
from reconciler.render.style import style
from reconciler.render.summary import (
    by_user,
    safety_line,
    summary_line,
    targeted_line,
    user_action,
)

_SYMBOL = {
    ChangeKind.CREATE: "+",
    ChangeKind.DELETE: "-",
    ChangeKind.DEACTIVATE: "-",
    ChangeKind.REACTIVATE: "^",
    ChangeKind.UPDATE: "~",
    None: "~",
}
_LINE_ORDER = {
    kind: n
    for n, kind in enumerate(
        (
            ChangeKind.CREATE,
            ChangeKind.DELETE,
            ChangeKind.UPDATE,
            ChangeKind.DEACTIVATE,
            ChangeKind.REACTIVATE,
            ChangeKind.REVOKE,
            ChangeKind.GRANT,
        )
    )
}
_COLOUR = {"+": "green", "-": "red", "^": "cyan", "~": "yellow"}
_FIELD_WIDTH = max(len(label) for label in FIELD_LABELS.values()) + 1


def render_text(plan: Plan, *, colour: bool = False) -> str:
    """The plan for a terminal; `colour` is the caller's decision (TTY, NO_COLOR)."""
    out: list[str] = [
        f"Plan for {_value(plan.target, bare=True)}",
        f"  desired state {plan.desired_digest or 'unknown'}, made {plan.created_at}",
        "",
    ]
    if plan.targets:
        out.append(style(_clean(targeted_line(plan)), colour, fg="yellow", bold=True))
        out.append("")
    if plan.changes:
        out.append("Changes per user (+ create or grant, ~ update, - deactivate, delete or")
        out.append("revoke, ^ reactivate):")
        out.append("")
        for email, changes in by_user(plan):
            out.extend(_user_block(email, changes, colour))
        out.append("")
    if plan.warnings:
        out.append(style("Warnings:", colour, fg="yellow", bold=True))
        out.extend(f"  ! {_clean(w)}" for w in plan.warnings)
        out.append("")
    if plan.skipped:
        out.append("Skipped (not changed although they differ):")
        for skipped in plan.skipped:
            out.append(f"  {_email(skipped.email)}: {_clean(skipped.reason)}")
            out.extend(f"      {line}" for line in _difference_lines(skipped.differences))
        out.append("")
    if plan.changes:
        line = safety_line(plan)
        if plan.safety.blocked:
            line = style(line, colour, fg="red", bold=True)
        out.append(line)
    out.append(style(summary_line(plan), colour, bold=True))
    return "\n".join(line.rstrip() for line in out) + "\n"


def _user_block(email: str, changes: list[Change], colour: bool) -> list[str]:
    action = user_action(changes)
    symbol = _SYMBOL[action]
    kinds = [c.kind.value for c in changes if c.kind not in (ChangeKind.GRANT, ChangeKind.REVOKE)]
    label = ", ".join(kinds) if kinds else "products"
    source = next((c.source for c in changes if c.source), None)
    where = f"  # {_clean(source)}" if source else ""
    creator = next((created_by(c.before) for c in changes if created_by(c.before)), None)
    if creator:
        where += f" ({_clean(creator)})"
    lines = [style(f"  {symbol} {_email(email)} ({label}){where}", colour, fg=_COLOUR[symbol])]
    # The user's own fields and status first, then its products: revokes, then grants.
    for change in sorted(changes, key=lambda c: _LINE_ORDER[c.kind]):
        if change.kind is ChangeKind.CREATE:
            after = change.after or {}
            for name in MANAGED_FIELDS:
                if name in after:
                    label = FIELD_LABELS[name] + ":"
                    lines.append(f"      {label:<{_FIELD_WIDTH}} {_value(after[name])}")
        elif change.kind is ChangeKind.UPDATE:
            before, after = change.before or {}, change.after or {}
            for name in after:
                label = FIELD_LABELS.get(name, name)
                lines.append(f"      {label}: {_value(before.get(name))} -> {_value(after[name])}")
        elif change.kind is ChangeKind.DELETE:
            since = deactivated_since(change.before)
            if since:
                lines.append(f"      {_clean(since)}")
            products = (change.before or {}).get("products") or []
            if products:
                lines.append(f"      products dropped: {', '.join(map(_clean, products))}")
        elif change.kind in (ChangeKind.DEACTIVATE, ChangeKind.REACTIVATE):
            before, after = change.before or {}, change.after or {}
            lines.append(
                f"      status: {_value(before.get('status'))} -> {_value(after.get('status'))}"
            )
        elif change.kind is ChangeKind.GRANT:
            lines.append(
                style(
                    f"      + {_clean(change.product or change.product_id or '')}",
                    colour,
                    fg="green",
                )
            )
        elif change.kind is ChangeKind.REVOKE:
            lines.append(
                style(
                    f"      - {_clean(change.product or change.product_id or '')}", colour, fg="red"
                )
            )
    return lines


def _difference_lines(differences: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, change in differences.items():
        if name == "products":
            parts = [
                f"{verb} {', '.join(map(_clean, aliases))}" for verb, aliases in change.items()
            ]
            lines.append(f"products: {'; '.join(parts)}")
        elif isinstance(change, dict) and "before" in change:
            label = FIELD_LABELS.get(name, name)
            lines.append(f"{label}: {_value(change['before'])} -> {_value(change['after'])}")
        else:
            lines.append(f"{name}: {_value(change)}")
    return lines


# How a grace-period deletion knows when the user was deactivated.
_DEACTIVATED_FROM = {"audit_log": "audit log", "updated_at": "last update of the record"}


def deactivated_since(before: dict[str, Any] | None) -> str | None:
    """`deactivated since 2026-01-02 (audit log)` for a grace-period deletion
    (settings.deleteDeactivatedAfter), None for any other change."""
    at = (before or {}).get("deactivated_at")
    if not at:
        return None
    source = (before or {}).get("deactivated_from")
    how = _DEACTIVATED_FROM.get(str(source), str(source)) if source else ""
    return f"deactivated since {str(at)[:10]}" + (f" ({how})" if how else "")


# The actor kinds of the audit log (`reconciler.model.ActorKind`) in words.
_ACTOR_KINDS = {"system": "system", "person": "person", "unknown": "unknown actor"}


def created_by(before: dict[str, Any] | None) -> str | None:
    """`created by Product sync, system` for a removed user whose creator the audit log
    names (see `plan.build.with_creators`), None for any other change."""
    actor = (before or {}).get("created_by")
    if not actor:
        return None
    kind = str((before or {}).get("created_by_kind") or "unknown")
    if kind == "api_client":
        return f"created by {actor}"  # already "API client <name>"
    return f"created by {actor}, {_ACTOR_KINDS.get(kind, kind)}"


def _value(value: Any, *, bare: bool = False) -> str:
    """Strings quoted (so whitespace shows) with every non-printable character escaped,
    so user data cannot smuggle terminal escape sequences; other values as JSON."""
    if not isinstance(value, str):
        return json.dumps(value)
    if bare:
        return _clean(value)
    return '"' + _clean(value.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def _email(email: str) -> str:
    return _clean(email)
