"""The pull-request comment: tables per kind, long parts folded, under GitHub's limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.model import FIELD_LABELS, MANAGED_FIELDS
from reconciler.plan.model import Change, ChangeKind, Plan
from reconciler.render.mdescape import md_text as md
from reconciler.render.summary import plural, summary_line, targeted_line
from reconciler.render.text import created_by, deactivated_since

#: First line of every comment, so a workflow can find and edit its previous one.
MARKER = "<!-- planview-admin-reconciler:plan -->"
#: GitHub refuses comments longer than this many characters.
COMMENT_LIMIT = 65_536
# Tables longer than this are folded into <details> so the comment stays scannable.
FOLD_ROWS = 10
# Warnings and skipped users may use at most this share of the comment; changes matter most.
SIDE_SHARE = 0.25
_NOTE_RESERVE = 400

_TITLES = {
    ChangeKind.REVOKE: "Revoke",
    ChangeKind.DEACTIVATE: "Deactivate",
    ChangeKind.DELETE: "Delete",
    ChangeKind.UPDATE: "Update",
    ChangeKind.REACTIVATE: "Reactivate",
    ChangeKind.CREATE: "Create",
    ChangeKind.GRANT: "Grant",
}
_SECTION_ORDER = (
    ChangeKind.CREATE,
    ChangeKind.UPDATE,
    ChangeKind.REACTIVATE,
    ChangeKind.GRANT,
    ChangeKind.REVOKE,
    ChangeKind.DEACTIVATE,
    ChangeKind.DELETE,
)


# Every value this module did not write itself (from the tenant, the files or the
# plan's own sentences about them) goes through md(): it renders as plain text only.
def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    return md(value)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |\n"


_Columns = tuple[tuple[str, ...], Callable[[Change], list[str]]]


def _update_cell(change: Change) -> str:
    before, after = change.before or {}, change.after or {}
    return "<br>".join(
        f"{md(FIELD_LABELS.get(name, name))}: {_cell(before.get(name))} → {_cell(after[name])}"
        for name in after
    )


def _status(change: Change, side: str) -> str:
    return _cell((getattr(change, side) or {}).get("status"))


_COLUMNS: dict[ChangeKind, _Columns] = {
    ChangeKind.CREATE: (
        ("User", "First name", "Last name", "Role", "Password required", "Products"),
        lambda c: [
            md(c.email),
            *(_cell((c.after or {}).get(f)) for f in MANAGED_FIELDS),
            md(", ".join((c.after or {}).get("products") or [])) or "none",
        ],
    ),
    ChangeKind.UPDATE: (("User", "Changes"), lambda c: [md(c.email), _update_cell(c)]),
    ChangeKind.REACTIVATE: (
        ("User", "Status"),
        lambda c: [md(c.email), f"{_status(c, 'before')} → {_status(c, 'after')}"],
    ),
    ChangeKind.GRANT: (("User", "Product"), lambda c: [md(c.email), md(c.product or c.product_id)]),
    ChangeKind.REVOKE: (
        ("User", "Product"),
        lambda c: [md(c.email), md(c.product or c.product_id)],
    ),
    ChangeKind.DEACTIVATE: (
        ("User", "Status"),
        lambda c: [_removed_user(c), f"{_status(c, 'before')} → {_status(c, 'after')}"],
    ),
    ChangeKind.DELETE: (
        ("User", "Products dropped"),
        lambda c: [
            _deleted_user(c),
            md(", ".join((c.before or {}).get("products") or [])) or "none",
        ],
    ),
}


def _deleted_user(change: Change) -> str:
    """The email, and for a grace-period deletion when the user was deactivated."""
    since = deactivated_since(change.before)
    return _removed_user(change) + (f" ({md(since)})" if since else "")


def _removed_user(change: Change) -> str:
    """The email, and who created the user where the audit log says."""
    creator = created_by(change.before)
    return md(change.email) + (f" ({md(creator)})" if creator else "")


def render_markdown(plan: Plan) -> str:
    """A pull-request comment, never longer than GitHub's 65,536-character limit."""
    head = _head(plan)
    budget = COMMENT_LIMIT - len(head) - _NOTE_RESERVE
    side_budget = int(COMMENT_LIMIT * SIDE_SHARE)
    side = _warnings(plan, side_budget // 2) + _skipped(plan, side_budget // 2)
    budget -= len(side)

    body: list[str] = []
    shown = 0
    for kind in _SECTION_ORDER:
        changes = [c for c in plan.changes if c.kind is kind]
        if not changes:
            continue
        headers, cells = _COLUMNS[kind]
        title = f"#### {_TITLES[kind]} ({len(changes)})\n\n"
        table_head = _row(list(headers)) + _row(["---"] * len(headers))
        fold = len(changes) > FOLD_ROWS
        opening = title + (
            f"<details><summary>{plural(len(changes), 'change')}</summary>\n\n" if fold else ""
        )
        closing = "\n</details>\n\n" if fold else "\n"
        taken: list[str] = []
        remaining = budget - len(opening) - len(table_head) - len(closing)
        for change in changes:
            row = _row(cells(change))
            if len(row) > remaining:
                break
            taken.append(row)
            remaining -= len(row)
        if not taken:
            break
        section = opening + table_head + "".join(taken) + closing
        body.append(section)
        budget -= len(section)
        shown += len(taken)
        if len(taken) < len(changes):
            break

    left_out = len(plan.changes) - shown
    note = ""
    if left_out:
        note = (
            f"> [!NOTE]\n> {plural(left_out, 'change')} of {len(plan.changes)} "
            f"{'is' if left_out == 1 else 'are'} not shown, to keep this comment under "
            f"GitHub's {COMMENT_LIMIT:,}-character limit. Run `reconciler plan` or read "
            "the JSON plan for the full list.\n\n"
        )
    return head + "".join(body) + note + side


def _head(plan: Plan) -> str:
    parts = [MARKER, "", f"### {summary_line(plan)}", ""]
    parts.append(
        f"Target {md(plan.target)} · desired state {md(plan.desired_digest or 'unknown')} "
        f"· made {md(plan.created_at)}"
    )
    parts.append("")
    if plan.targets:
        parts += ["> [!WARNING]", f"> **{md(targeted_line(plan))}**", ""]
    if plan.changes:
        # Made here from hex digits only, so it is safe as a code span; CI pins it with
        # `apply --expect-digest` so that exactly this plan is applied.
        parts += [f"Plan digest `{plan.digest}`", ""]
    verdict = plan.safety
    if verdict.blocked:
        what = (
            "the administrator invariant"
            if verdict.administrators_blocked and not verdict.over_limit
            else "the safety limit"
        )
        parts += ["> [!CAUTION]", f"> **Blocked by {what}.** {md(verdict.reason)}", ""]
    elif plan.changes and verdict.reason:
        parts += [f"**Safety:** {md(verdict.reason)}", ""]
    return "\n".join(parts) + "\n"


def _warnings(plan: Plan, budget: int) -> str:
    if not plan.warnings:
        return ""
    title = f"#### Warnings ({len(plan.warnings)})\n\n"
    lines = _fit([f"- {md(w)}\n" for w in plan.warnings], budget - len(title))
    return title + "".join(lines) + "\n"


def _skipped(plan: Plan, budget: int) -> str:
    if not plan.skipped:
        return ""
    count = len(plan.skipped)
    verb = "differs but is" if count == 1 else "differ but are"
    opening = (
        f"<details><summary>Skipped: {plural(count, 'user')} {verb} not changed "
        "(protected)</summary>\n\n"
    )
    table_head = _row(["User", "Reason", "Differences"]) + _row(["---"] * 3)
    closing = "\n</details>\n"
    rows = [_row([md(s.email), md(s.reason), _differences(s.differences)]) for s in plan.skipped]
    taken = _fit(rows, budget - len(opening) - len(table_head) - len(closing))
    return opening + table_head + "".join(taken) + closing


def _differences(differences: dict[str, Any]) -> str:
    parts = []
    for name, change in differences.items():
        if name == "products":
            parts += [f"products: {md(verb)} {md(', '.join(a))}" for verb, a in change.items()]
        elif isinstance(change, dict) and "before" in change:
            label = FIELD_LABELS.get(name, name)
            parts.append(f"{md(label)}: {_cell(change['before'])} → {_cell(change['after'])}")
        else:
            parts.append(f"{md(name)}: {_cell(change)}")
    return "<br>".join(parts)


def _fit(lines: list[str], budget: int) -> list[str]:
    """As many lines as fit, with a last line saying how many did not."""
    taken: list[str] = []
    budget -= 80  # room for the "and N more" line
    for line in lines:
        if len(line) > budget:
            taken.append(f"- … and {len(lines) - len(taken)} more not shown\n")
            break
        taken.append(line)
        budget -= len(line)
    return taken
