"""Golden outputs of the three renderers, and the rules each must keep.

Regenerate the golden files after an intended change with
`UPDATE_GOLDEN=1 python -m pytest tests/render`, then review the diff in git.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from statebuilder import PLANVIEW, du, lu, states

from reconciler.plan import Plan, build_plan
from reconciler.plan.model import Change, ChangeKind, SafetyVerdict
from reconciler.render import (
    COMMENT_LIMIT,
    MARKER,
    NO_CHANGES,
    render_json,
    render_markdown,
    render_text,
)

GOLDEN = Path(__file__).parent / "golden"
SCHEMA = Path(__file__).parents[2] / "reconciler" / "schemas" / "plan.schema.json"
NOW = datetime(2026, 11, 29, 0, 0, tzinfo=timezone.utc)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def every_kind(max_removals: int | str = 100, **options) -> Plan:
    desired, live = states(
        [
            du("new.hire@x.com", ["crm", "erp"], line=3),
            du("Robin@x.com", ["erp"], first_name="Ro|b *x*", role="Administrator", line=9),
            du("back@x.com", ["crm"], line=15),
            du("leaver@x.com", active=False, line=21),
            du("demoted@x.com", role="User", password_required=True, line=27),
            du("ghost@x.com", active=False, line=33),
            du("admin@x.com", role="User", line=39),
        ],
        [
            lu("robin@x.com", ["crm", "bi"]),
            lu("back@x.com", status="deactivated"),
            lu("leaver@x.com", ["crm"], status="pending"),
            lu("demoted@x.com", role="Administrator"),
            lu("admin@x.com", role="Administrator"),
            lu("gone@x.com", ["erp"]),
        ],
        unmanaged="delete",
        protected=["admin@*"],
        max_removals=max_removals,
    )
    return build_plan(
        desired,
        live,
        capabilities=PLANVIEW,
        target="https://tenant.example",
        allow_delete=True,
        now=NOW,
        **options,
    )


def no_changes() -> Plan:
    desired, live = states([du("amy@x.com", ["crm"])], [lu("amy@x.com", ["crm"])])
    return build_plan(
        desired, live, capabilities=PLANVIEW, target="https://tenant.example", now=NOW
    )


def golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to create it"
    assert actual == path.read_text(encoding="utf-8")


# ------------------------------------------------------------------ golden files


def test_plan_covers_every_kind():
    assert all(every_kind().counts().values())


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("every-kind.txt", lambda: render_text(every_kind())),
        ("every-kind.colour.txt", lambda: render_text(every_kind(), colour=True)),
        ("every-kind.md", lambda: render_markdown(every_kind())),
        ("every-kind.json", lambda: render_json(every_kind())),
        ("blocked.txt", lambda: render_text(every_kind(max_removals=2))),
        ("blocked.md", lambda: render_markdown(every_kind(max_removals=2))),
        ("no-changes.txt", lambda: render_text(no_changes())),
        ("no-changes.md", lambda: render_markdown(no_changes())),
    ],
)
def test_golden(name, render):
    golden(name, render())


# ------------------------------------------------------------------ text


def test_text_groups_per_user_with_terraform_symbols():
    text = render_text(every_kind())
    assert "  + new.hire@x.com (create)  # users.yaml:3:5" in text
    assert '      role: "User" -> "Administrator"' in text
    assert "  - gone@x.com (delete)" in text
    assert "  ^ back@x.com (reactivate)" in text
    assert text.rstrip().endswith(
        "Plan: 1 to create, 2 to update, 1 to deactivate, 1 to reactivate, 1 to delete, "
        "4 to grant, 2 to revoke (12 API requests)."
    )


def test_text_has_no_trailing_whitespace_and_colour_only_when_asked():
    plain = render_text(every_kind())
    assert not ANSI.search(plain)
    assert all(line == line.rstrip() for line in plain.splitlines())
    coloured = render_text(every_kind(), colour=True)
    assert ANSI.search(coloured) and ANSI.sub("", coloured) == plain


def test_text_of_a_plan_without_changes():
    assert render_text(no_changes()).endswith(NO_CHANGES + "\n")


def test_text_blocked_plan_says_how_to_proceed():
    text = render_text(every_kind(max_removals=2))
    assert "Safety: BLOCKED. 5 removals exceed the limit of 2" in text
    assert "--allow-removals 5" in text


def test_text_escapes_control_characters_in_user_data():
    plan = _plan([_change(1, ChangeKind.UPDATE, "evil@x.com", first_name="\x1b[2Jgotcha")])
    text = render_text(plan)
    assert "\x1b" not in text and '"\\u001b[2Jgotcha"' in text


# ------------------------------------------------------------------ markdown


def test_markdown_starts_with_the_marker_and_summary():
    lines = render_markdown(every_kind()).splitlines()
    assert lines[0] == MARKER
    assert lines[2].startswith("### Plan: 1 to create")


def test_markdown_blocked_verdict_is_prominent():
    text = render_markdown(every_kind(max_removals=2))
    head = text.split("####")[0]
    assert "> [!CAUTION]" in head and "Blocked by the safety limit" in head


def test_markdown_escapes_user_data_in_cells():
    text = render_markdown(every_kind())
    # The @ is followed by a zero-width space and the dot escaped: GitHub must not
    # autolink the address (see test_markdown_injection.py).
    row = next(line for line in text.splitlines() if line.startswith("| Robin@&#8203;x\\.com |"))
    assert "Ro\\|b \\*x\\*" in row
    # Unescaped pipes delimit exactly the table's two columns.
    assert len(re.findall(r"(?<!\\)\|", row)) == 3


def test_markdown_folds_long_tables():
    plan = _plan([_change(n, ChangeKind.GRANT, f"u{n}@x.com") for n in range(1, 31)])
    text = render_markdown(plan)
    assert "<details><summary>30 changes</summary>" in text and "</details>" in text


def test_markdown_stays_under_githubs_limit_and_says_what_it_left_out():
    kinds = list(ChangeKind)
    changes = [
        _change(n, kinds[n % len(kinds)], f"user{n:05d}@example.com", first_name="N" * 20)
        for n in range(1, 50_001)
    ]
    plan = _plan(changes, warnings=tuple(f"warning {n} " + "w" * 100 for n in range(2000)))
    text = render_markdown(plan)
    assert len(text) <= COMMENT_LIMIT
    rows = [line for line in text.splitlines() if line.startswith("| user")]
    left_out = 50_000 - len(rows)
    assert left_out > 0
    assert f"{left_out:,} changes of 50000 are not shown".replace(",", "") in text.replace(",", "")
    assert text.count("<details>") == text.count("</details>")
    assert "more not shown" in text  # the warnings were cut too


# ------------------------------------------------------------------ JSON


def test_json_is_valid_against_the_documented_schema():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for plan in (every_kind(), every_kind(max_removals=2, allow_removals=1), no_changes()):
        errors = list(validator.iter_errors(json.loads(render_json(plan))))
        assert errors == [], [e.message for e in errors]


def test_schema_rejects_a_malformed_plan():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    data = json.loads(render_json(every_kind()))
    data["changes"][0]["kind"] = "obliterate"
    del data["safety"]["blocked"]
    assert len(list(Draft202012Validator(schema).iter_errors(data))) == 2


def test_json_round_trips():
    for plan in (every_kind(), every_kind(max_removals=2), no_changes()):
        text = render_json(plan)
        assert Plan.from_dict(json.loads(text)) == plan
        assert render_json(Plan.from_dict(json.loads(text))) == text


# ------------------------------------------------------------------ helpers


def _change(n: int, kind: ChangeKind, email: str, **after: object) -> Change:
    product = "crm" if kind in (ChangeKind.GRANT, ChangeKind.REVOKE) else None
    return Change(
        id=f"c{n}",
        kind=kind,
        email=email,
        user_id=None if kind is ChangeKind.CREATE else f"u{n}",
        product_id="p-crm" if product else None,
        product=product,
        before={k: "old" for k in after} or None,
        after=dict(after) or None,
    )


def _plan(changes: list[Change], warnings: tuple[str, ...] = ()) -> Plan:
    return Plan(
        target="https://tenant.example",
        desired_digest="sha256:00",
        created_at="2026-11-29T00:00:00Z",
        changes=tuple(changes),
        safety=SafetyVerdict(0, 5, 10, blocked=False, reason="0 removals within the limit."),
        estimated_requests=len(changes),
        warnings=warnings,
    )


def test_a_targeted_plan_says_so_at_the_top_of_every_format():
    from reconciler.plan.targets import parse_targets

    desired, live = states(
        [du("amy@x.com", ["crm", "erp"])], [lu("amy@x.com", ["crm"]), lu("gone@x.com")]
    )
    plan = build_plan(
        desired,
        live,
        capabilities=PLANVIEW,
        target="https://tenant.example",
        now=NOW,
        targets=parse_targets(["Amy@x.com"]),
    )
    text = render_text(plan).splitlines()
    assert text[3].startswith("Targeted plan (--target amy@x.com): only these targets' changes")
    assert "not for routine use" in text[3]
    markdown = render_markdown(plan)
    head = markdown.split("####")[0]
    assert "> [!WARNING]" in head and "Targeted plan \\(--target amy@" in head
    data = json.loads(render_json(plan))
    assert data["targets"] == ["amy@x.com"]
    assert "gone@x.com" not in json.dumps(data["changes"])
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert list(Draft202012Validator(schema).iter_errors(data)) == []
