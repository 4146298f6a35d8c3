"""Values from the tenant or the files render as plain text in every Markdown report.

The plan comment and the drift issue are posted to GitHub by CI. A name set in the web
UI, a product alias or a file name is data: it must never become a link, an image, HTML,
a heading, emphasis, a code span, an extra table cell, an autolink or an @-mention.

Every report is parsed with a real CommonMark parser (markdown-it-py, with GFM tables
and strikethrough). The GFM extensions that markdown-it has no rule for without
`linkify-it-py` (bare `www.`/`https://`/e-mail autolinks, single-tilde strikethrough,
`$` math, @-mentions and #123 references) are checked here by GitHub's own rules: the
ones cmark-gfm's autolink extension and GitHub's HTML filters apply.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.rules_block.table import escapedSplit
from markdown_it.token import Token

from reconciler.drift import render_markdown as render_drift_markdown
from reconciler.drift.report import (
    Attribution,
    AuditReading,
    DriftedUser,
    DriftItem,
    DriftReport,
)
from reconciler.plan.model import Change, ChangeKind, Plan, SafetyVerdict, Skipped
from reconciler.render import render_markdown as render_plan_markdown

try:  # With linkify-it-py, markdown-it also runs its own (fuzzier) linkifier.
    import linkify_it  # noqa: F401

    LINKIFY = True
except ImportError:
    LINKIFY = False

# The issue's reproduction, verbatim.
ISSUE_VALUE = "Evil | cell [click](https://evil.example/x) <img src=x onerror=alert(1)> `tick`"

HOSTILE = {
    "issue": ISSUE_VALUE,
    "emphasis": "**bold** __strong__ *em* _em_ ~~strike~~ ~single~",
    "heading": "# Heading",
    "setext": "===",
    "quote": "> quoted",
    "bullet": "- item",
    "plus": "+ item",
    "ordered": "1. item",
    "ordered-paren": "1) item",
    "indented-code": "    indented code",
    "fence": "```python",
    "autolinks": "www.evil.example https://evil.example/x ftp://evil.example <https://e.example>",
    "email-autolink": "victim@evil.example",
    "schemeless-link": "//localhost/x",
    "mention": "@org/team and @someone",
    "issue-reference": "#123 GH-7",
    "image": "![pixel](https://evil.example/p.png)",
    "reference-link": "[ref]: https://evil.example",
    "html": "<script>alert(1)</script><!-- x --><details open>",
    "entities": "&lt;b&gt; &amp; &#60;i&#62; &copy;",
    "pre-escaped": "a\\|b \\`c\\` \\\\ \\*d\\*",
    "newlines": "line one\n# heading\r\n| a | b |\n\n- item",
    "math": "$x^2$ and $$y$$",
    "pipes": "|||",
    "control": "Ann\x1b[2J\x07\u202egnp.exe",
    "table-row": "a | b | c | d | e | f | g",
    "trailing-backslash": "end\\",
}

# A local part that RFC 5322 allows unquoted (atext), so a tenant may really hold it.
EMAIL_LOCAL = "a|b*c_d`e{f}~g!h#1&i'j+k-l/m=n?o^p$q"
HOSTILE_EMAIL = f"{EMAIL_LOCAL}@evil.example"

SAFE = "Plain"
NOW = datetime(2026, 11, 29, tzinfo=timezone.utc)


# ------------------------------------------------------------------ the reports


def plan_with(field: str, value: str) -> Plan:
    """A plan with every kind of row, `value` in `field` and a plain word elsewhere."""

    def v(name: str, default: str) -> str:
        return value if name == field else default

    def mail(n: int) -> str:
        return v("email", f"user{n}@x.com")

    product = v("product", "crm")
    path = v("file_path", "users.yaml")
    changes = (
        Change(
            id="c1",
            kind=ChangeKind.CREATE,
            email=mail(1),
            after={
                "first_name": v("first_name", "Ann"),
                "last_name": v("last_name", "Example"),
                "role": v("role", "User"),
                "password_required": False,
                "products": [product, "erp"],
            },
            source=f"{path}:3:5",
        ),
        Change(
            id="c2",
            kind=ChangeKind.UPDATE,
            email=mail(2),
            user_id="u2",
            before={"last_name": v("before", "Old")},
            after={"last_name": v("last_name", "New")},
            source=f"{path}:9:5",
        ),
        Change(id="c3", kind=ChangeKind.REACTIVATE, email=mail(3), user_id="u3",
               before={"status": "deactivated"}, after={"status": "active"}),
        Change(id="c4", kind=ChangeKind.GRANT, email=mail(4), user_id="u4",
               product_id="p-crm", product=product),
        Change(id="c5", kind=ChangeKind.REVOKE, email=mail(5), user_id="u5",
               product_id=v("product_id", "p-erp"), product=None, removal=True),
        Change(id="c6", kind=ChangeKind.DEACTIVATE, email=mail(6), user_id="u6",
               before={"status": "active"}, after={"status": "deactivated"}, removal=True),
        Change(id="c7", kind=ChangeKind.DELETE, email=mail(7), user_id="u7",
               before={"products": [product]}, removal=True),
    )
    blocked = field == "blocked_reason"
    reason = v("blocked_reason", v("safety_reason", "3 removals within the limit of 5."))
    return Plan(
        target=v("target", "https://tenant.example"),
        desired_digest=v("desired_digest", "sha256:00"),
        created_at=v("created_at", "2026-11-29T00:00:00Z"),
        changes=changes,
        safety=SafetyVerdict(3, 5, 10, blocked=blocked, reason=reason),
        skipped=(
            Skipped(
                email=v("skipped_email", "admin@x.com"),
                reason=v("skipped_reason", "protected by settings.protectedUsers"),
                differences={
                    v("difference_field", "role"): {
                        "before": v("difference_before", "User"),
                        "after": "Administrator",
                    },
                    "products": {"grant": [product]},
                },
            ),
        ),
        estimated_requests=7,
        warnings=(
            v("warning", "ghost@x.com is listed with active: false."),
            f"{path}:12:5: a warning that names the file it is about.",
        ),
    )


def drift_with(field: str, value: str) -> DriftReport:
    """A drift report with every kind of row, `value` in `field`, plain words elsewhere."""

    def v(name: str, default: str) -> str:
        return value if name == field else default

    person = Attribution(
        event_id="a-1",
        action=v("action", "user.updated"),
        timestamp=v("timestamp", "2026-11-27T09:12:00Z"),
        actor_type="user",
        actor_email=v("actor_email", "bob@example.com"),
        from_value=v("from_value", "Smith"),
        to_value=v("to_value", "Smyth"),
    )
    client = Attribution(
        event_id="a-2",
        action="product.provisioned",
        timestamp="2026-11-27T10:00:00Z",
        actor_type="client",
        actor_id=v("actor_id", "other-integration"),
    )
    created = Attribution(
        event_id="a-3",
        action="user.created",
        timestamp="2026-11-27T11:00:00Z",
        actor_type="user",
        actor_email="carol@example.com",
        to_value=v("to_value", "Smyth"),
    )
    product = v("product", "crm")
    users = (
        DriftedUser(
            email=v("email", "ann@example.com"),
            state="changed",
            user_id="u-ann",
            source=f"{v('file_path', 'users.yaml')}:3:5",
            items=(
                DriftItem("field", v("desired", "Smith"), v("live", "Smyth"),
                          field="last_name", attribution=person),
                DriftItem("product", True, False, product=product, product_id="p-crm",
                          attribution=client),
                DriftItem("field", "Ann", v("live", "Anne"), field="first_name",
                          attribution=created),
            ),
        ),
        DriftedUser(
            email=v("email", "gone@example.com"),
            state="deleted_out_of_band",
            items=(
                DriftItem("missing", {"role": v("role", "User"), "products": [product]}, None),
            ),
        ),
        DriftedUser(
            email=v("email", "new@example.com"),
            state="created_out_of_band",
            user_id="u-new",
            items=(DriftItem("unlisted", None, {"status": v("status", "active")}),),
        ),
    )
    return DriftReport(
        target=v("target", "https://tenant.example"),
        checked_at=v("checked_at", "2026-11-28T12:00:00Z"),
        desired_digest="sha256:00",
        managed_users=3,
        users=users,
        audit=AuditReading(source="customer_log", since=v("since", "2026-10-29"), requests=1,
                           events=3),
        protected_differences=(v("protected_email", "admin@example.com"),),
        warnings=(v("warning", "ghost@example.com is listed with active: false."),),
    )


Renderer = Callable[[str, str], str]
RENDERERS: dict[str, Renderer] = {
    "plan": lambda field, value: render_plan_markdown(plan_with(field, value)),
    "drift": lambda field, value: render_drift_markdown(drift_with(field, value)),
}
# Every field that reaches a report, per renderer. The ones marked False are carried by
# the data but not shown in that report: hostile there, they must still change nothing.
FIELDS: dict[str, dict[str, bool]] = {
    "plan": {
        "email": True, "first_name": True, "last_name": True, "role": True, "product": True,
        "product_id": True, "before": True, "skipped_email": True, "skipped_reason": True,
        "difference_field": True, "difference_before": True, "warning": True,
        "file_path": True, "target": True, "created_at": True, "desired_digest": True,
        "safety_reason": True, "blocked_reason": True,
    },
    "drift": {
        "email": True, "desired": True, "live": True, "product": True, "role": True,
        "status": True, "action": True, "timestamp": True, "actor_email": True,
        "actor_id": True, "from_value": True, "to_value": True, "target": True,
        "checked_at": True, "since": True, "protected_email": True, "warning": False,
        "file_path": False,
    },
}
EMAIL_FIELDS = {"email", "skipped_email", "protected_email", "actor_email"}


# ------------------------------------------------------------------ the checks

_PARSER = MarkdownIt("commonmark", {"linkify": LINKIFY}).enable(["table", "strikethrough"])
if LINKIFY:
    _PARSER.enable("linkify")
# Escapes and entities stay separate `text_special` tokens, so a check can tell the
# text GitHub's autolinker scans (raw source) from characters that were escaped.
_PARSER.disable("text_join")

ZERO_WIDTH = "\u200b"
_URL = re.compile(r"(?i)(?:https?|ftp)://")
_WWW = re.compile(r"(?i)www\.")
# GitHub's mention and issue-reference filters run on the rendered HTML text.
_MENTION = re.compile(r"(?:^|[^\w`])@[a-z0-9]", re.IGNORECASE)
_REFERENCE = re.compile(r"(?:^|\W)(?:#|GH-)\d", re.IGNORECASE)


def flat(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from flat(token.children)


# A digest the report computes from the data (hex digits only) differs with the data.
_HEX_DIGEST = re.compile(r"\b[0-9a-f]{64}\b")


def structure(tokens: list[Token]) -> list[tuple[str, str, str]]:
    """Everything but the text: what a value may never add to, or take from."""
    keep_content = {"html_inline", "html_block", "code_inline", "code_block", "fence"}
    return [
        (t.type, t.tag, _HEX_DIGEST.sub("<digest>", t.content) if t.type in keep_content else "")
        for t in flat(tokens)
        if t.type not in ("text", "text_special", "inline")
    ]


def visible_texts(tokens: list[Token]) -> list[str]:
    """The text of each inline (a paragraph, heading or table cell) as a reader sees it."""
    return [
        "".join(c.content for c in t.children or [] if c.type in ("text", "text_special"))
        for t in tokens
        if t.type == "inline"
    ]


def gfm_email_autolinks(text: str) -> list[str]:
    """E-mail addresses cmark-gfm's autolink extension would link in a text node.

    A port of `postprocess_text` in cmark-gfm's extensions/autolink.c: GitHub runs it
    after merging adjacent text nodes, so escapes and entities do not stop it."""
    found = []
    for at in (m.start() for m in re.finditer("@", text)):
        rewind = 0
        while rewind < at:
            c = text[at - rewind - 1]
            if (c.isascii() and c.isalnum()) or c in ".+-_":
                rewind += 1
                continue
            if c == "/":
                rewind = 0
            break
        if rewind == 0:
            continue
        end, ats, dots = 0, 0, 0
        tail = text[at:]
        while end < len(tail):
            c = tail[end]
            if c.isascii() and c.isalnum():
                pass
            elif c == "@":
                ats += 1
            elif c == "." and end < len(tail) - 1 and tail[end + 1].isascii() \
                    and tail[end + 1].isalnum():
                dots += 1
            elif c not in "-_":
                break
            end += 1
        last = tail[end - 1] if end else ""
        if end >= 2 and ats == 1 and dots and (last.isalpha() or last == "."):
            found.append(text[at - rewind : at + end])
    return found


def table_rows_keep_their_cells(markdown: str, tokens: list[Token]) -> list[str]:
    """Rows whose raw source has more or fewer cells than the header, as GitHub splits
    them (markdown-it drops extra cells silently, so its tokens alone cannot show it)."""
    lines = markdown.splitlines()
    problems = []
    header = 0
    cells_per_row: list[int] = []
    for token in tokens:
        if token.type == "table_open":
            cells_per_row = []
        elif token.type == "tr_open" and token.map:
            line = lines[token.map[0]].strip()
            if line.startswith("|"):
                line = line[1:]
            if line.endswith("|") and not line.endswith("\\|"):
                line = line[:-1]
            cells_per_row.append(len(escapedSplit(line)))
        elif token.type == "table_close":
            header = cells_per_row[0]
            problems += [f"{n} cells, header {header}" for n in cells_per_row if n != header]
    # The tokens must agree: one cell per header cell in every row.
    row_cells: list[int] = []
    for token in tokens:
        if token.type == "tr_open":
            row_cells.append(0)
        elif token.type in ("td_open", "th_open"):
            row_cells[-1] += 1
        elif token.type == "table_close":
            problems += [f"{n} cell tokens, header {row_cells[0]}" for n in row_cells
                         if n != row_cells[0]]
            row_cells = []
    return problems


def problems_in(markdown: str, baseline: str) -> list[str]:
    """Every way `markdown` is more than text compared with `baseline`, the same report
    with plain words where the hostile value is."""
    tokens, base = _PARSER.parse(markdown), _PARSER.parse(baseline)
    problems: list[str] = []
    got, want = structure(tokens), structure(base)
    if got != want:
        extra = Counter(t for t, _, _ in got) - Counter(t for t, _, _ in want)
        missing = Counter(t for t, _, _ in want) - Counter(t for t, _, _ in got)
        changed = [g for g, w in zip(got, want, strict=False) if g != w][:3]
        problems.append(f"structure differs: extra {dict(extra)}, missing {dict(missing)}, "
                        f"first changes {changed}")
    for token in flat(tokens):
        if token.type == "text":  # not escaped: what GitHub's extensions see
            if _URL.search(token.content):
                problems.append(f"URL autolink: {token.content!r}")
            if _WWW.search(token.content):
                problems.append(f"www autolink: {token.content!r}")
            if "~" in token.content:
                problems.append(f"GitHub strikethrough (~): {token.content!r}")
            if "$" in token.content:
                problems.append(f"GitHub math ($): {token.content!r}")
    for text in visible_texts(tokens):
        if gfm_email_autolinks(text):
            problems.append(f"e-mail autolink: {gfm_email_autolinks(text)}")
        if _MENTION.search(text):
            problems.append(f"@-mention: {text!r}")
        if _REFERENCE.search(text):
            problems.append(f"issue reference: {text!r}")
    if re.search(r"@\w", markdown):
        problems.append("an @ directly followed by a word character in the raw Markdown")
    problems += [f"table row with {p}" for p in table_rows_keep_their_cells(markdown, tokens)]
    if any(ch in markdown for ch in "\x1b\x07\u202e"):
        problems.append("a control character reached the Markdown")
    return problems


def shows(markdown: str, value: str) -> bool:
    """The reader sees every character of `value`, in order (whitespace at the ends of a
    table cell aside), with no zero-width separator in the way."""
    seen = "".join(visible_texts(_PARSER.parse(markdown))).replace(ZERO_WIDTH, "")
    return value.strip() in seen


def cases() -> Iterator[Any]:
    for renderer, fields in FIELDS.items():
        for field in fields:
            values = dict(HOSTILE)
            if field in EMAIL_FIELDS:
                values["valid-email"] = HOSTILE_EMAIL
            for name, value in values.items():
                yield pytest.param(renderer, field, value, id=f"{renderer}-{field}-{name}")


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize(("renderer", "field", "value"), list(cases()))
def test_hostile_value_renders_as_text_only(renderer: str, field: str, value: str) -> None:
    render = RENDERERS[renderer]
    markdown = render(field, value)
    assert problems_in(markdown, render(field, SAFE)) == []
    if FIELDS[renderer][field] and value.isascii() and value.isprintable():
        assert shows(markdown, value), f"{value!r} is not shown whole"


@pytest.mark.parametrize("renderer", sorted(RENDERERS))
def test_the_issue_reproduction_shows_literally(renderer: str) -> None:
    field = "last_name" if renderer == "plan" else "live"
    markdown = RENDERERS[renderer](field, ISSUE_VALUE)
    tokens = list(flat(_PARSER.parse(markdown)))
    assert not [t for t in tokens if t.type in ("link_open", "image")]
    # Code spans: only the report's own advice (`reconciler plan PATH`), none from data.
    own = flat(_PARSER.parse(RENDERERS[renderer](field, SAFE)))
    code = [_HEX_DIGEST.sub("<digest>", t.content) for t in tokens if t.type == "code_inline"]
    assert code == [
        _HEX_DIGEST.sub("<digest>", t.content) for t in own if t.type == "code_inline"
    ]
    assert not any("tick" in c for c in code)
    assert shows(markdown, ISSUE_VALUE)


def test_control_characters_show_as_escapes() -> None:
    markdown = render_plan_markdown(plan_with("last_name", "Ann\x1b[2J"))
    assert "\x1b" not in markdown and shows(markdown, "Ann\\u001b[2J")


@pytest.mark.parametrize("renderer", sorted(RENDERERS))
def test_emails_mentions_and_references_stay_readable(renderer: str) -> None:
    field = "email" if renderer == "plan" else "actor_email"
    markdown = RENDERERS[renderer](field, "dev.ops+ci@org.example")
    assert shows(markdown, "dev.ops+ci@org.example")
    assert problems_in(markdown, RENDERERS[renderer](field, SAFE)) == []


_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


@pytest.mark.parametrize("renderer", sorted(RENDERERS))
@_SETTINGS
@given(name=st.text(max_size=40))
def test_any_name_is_text_only(renderer: str, name: str) -> None:
    field = "last_name" if renderer == "plan" else "live"
    render = RENDERERS[renderer]
    assert problems_in(render(field, name), render(field, SAFE)) == []


@pytest.mark.parametrize("renderer", sorted(RENDERERS))
@_SETTINGS
@given(name=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40))
def test_any_printable_ascii_name_is_shown_whole(renderer: str, name: str) -> None:
    field = "last_name" if renderer == "plan" else "live"
    render = RENDERERS[renderer]
    markdown = render(field, name)
    assert problems_in(markdown, render(field, SAFE)) == []
    assert shows(markdown, name), f"{name!r} is not shown whole"


# ------------------------------------------------------------------ through the CLI


def test_drift_issue_body_from_a_hostile_web_ui_edit(emulator: Any, tmp_path: Path) -> None:
    """The issue's reproduction end to end: a last name set in the web UI, then
    `reconciler drift --format markdown` as the nightly workflow runs it."""
    from support.cli import run_against

    desired = tmp_path / "tenant.yaml"
    assert run_against(emulator, "export", "--out", str(desired)).code == 0
    users = [u for u in emulator.state()["users"] if u["status"] == "Active"]
    admin = next(u["email"] for u in users if u["role"] == "Administrator")
    victim = next(u for u in users if u["role"] == "User")

    def drift_after_setting(last_name: str) -> str:
        emulator.out_of_band("update", email=victim["email"], lastName=last_name, actor=admin)
        result = run_against(emulator, "drift", "--format", "markdown", str(desired))
        assert result.code == 2, result.stderr
        return result.stdout

    baseline = drift_after_setting(SAFE)
    markdown = drift_after_setting(ISSUE_VALUE)
    assert problems_in(markdown, baseline) == []
    assert shows(markdown, ISSUE_VALUE)
