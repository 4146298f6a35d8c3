#!/usr/bin/env python3
"""Post reconciler reports to GitLab: one merge-request note, one drift issue.

Used by the example `.gitlab-ci.yml`; copy it next to that file (as
`ci/gitlab_report.py`). Standard library only, so it runs in any Python image.

    gitlab_report.py plan-note --plan-file plan.md --error-file plan.err --exitcode 2
    gitlab_report.py drift-issue --report-file drift.md --exitcode 2

`plan-note` creates the merge request's plan note, or updates the one it posted
before (found by the hidden marker line the markdown renderer writes), so a merge
request carries a single, current plan. `drift-issue` opens one issue with the drift
report (exit code 2), updates it while drift persists (adding a note only when the
report changed), and closes it once the tenant is back in sync (exit code 0).

Environment: GITLAB_API_TOKEN (a project access token with the `api` scope and at
least the Reporter role; CI_JOB_TOKEN cannot write notes), and GitLab's own
CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID, CI_PIPELINE_URL. The token is sent
only in the PRIVATE-TOKEN header and never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

PLAN_MARKER = "<!-- planview-admin-reconciler:plan -->"
DRIFT_MARKER = "<!-- planview-admin-reconciler:drift -->"
DRIFT_TITLE = "Planview Admin drift: the tenant differs from the desired state"
DRIFT_LABEL = "planview-drift"
TIMEOUT = 30  # seconds per API call


class ReportError(Exception):
    pass


class GitLab:
    def __init__(self, api_url: str, project_id: str, token: str):
        self.base = api_url.rstrip("/") + "/projects/" + urllib.parse.quote(project_id, safe="")
        self._token = token

    def call(self, method: str, path: str, data: dict[str, Any] | None = None) -> Any:
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, method=method)
        request.add_header("PRIVATE-TOKEN", self._token)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                payload = response.read()
                return json.loads(payload) if payload else None
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            raise ReportError(f"GitLab API {method} {path}: HTTP {exc.code}: {detail}") from None
        except urllib.error.URLError as exc:
            raise ReportError(f"GitLab API {method} {path}: {exc.reason}") from None

    def all_pages(self, path: str, **query: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            params = urllib.parse.urlencode({**query, "per_page": "100", "page": str(page)})
            batch = self.call("GET", f"{path}?{params}")
            if not batch:
                return items
            items.extend(batch)
            if len(batch) < 100:
                return items
            page += 1


def read(path: str | None) -> str:
    if not path or not Path(path).is_file():
        return ""
    return Path(path).read_text(encoding="utf-8", errors="replace")


def plan_note(gitlab: GitLab, args: argparse.Namespace) -> None:
    mr = os.environ.get("CI_MERGE_REQUEST_IID")
    if not mr:
        raise ReportError(
            "CI_MERGE_REQUEST_IID is not set: run plan-note in a merge request pipeline."
        )
    body = read(args.plan_file)
    if PLAN_MARKER not in body:
        # No plan was rendered (an error): report the failure in the same note.
        detail = read(args.error_file)[-60000:]
        body = (
            f"{PLAN_MARKER}\n### Planview Admin plan failed (exit {args.exitcode})\n\n"
            f"```\n{detail}\n```\n"
        )
    pipeline = os.environ.get("CI_PIPELINE_URL")
    if pipeline:
        body += f"\n\n<sub>Plan from [pipeline]({pipeline}).</sub>\n"
    notes = gitlab.all_pages(f"/merge_requests/{mr}/notes", sort="asc")
    previous = next((n for n in notes if PLAN_MARKER in (n.get("body") or "")), None)
    if previous:
        gitlab.call("PUT", f"/merge_requests/{mr}/notes/{previous['id']}", {"body": body})
        print(f"Updated plan note {previous['id']} on merge request !{mr}.")
    else:
        note = gitlab.call("POST", f"/merge_requests/{mr}/notes", {"body": body})
        print(f"Posted plan note {note['id']} on merge request !{mr}.")


def drift_issue(gitlab: GitLab, args: argparse.Namespace) -> None:
    if args.exitcode not in (0, 2):
        raise ReportError(f"drift exited {args.exitcode} (an error): no report to post.")
    issues = gitlab.all_pages("/issues", state="opened", labels=DRIFT_LABEL)
    existing = next((i for i in issues if DRIFT_MARKER in (i.get("description") or "")), None)
    pipeline = os.environ.get("CI_PIPELINE_URL", "")
    where = f" ([pipeline]({pipeline}))" if pipeline else ""

    if args.exitcode == 0:
        if existing:
            iid = existing["iid"]
            gitlab.call(
                "POST",
                f"/issues/{iid}/notes",
                {"body": f"The tenant is back in sync with the desired state{where}. Closing."},
            )
            gitlab.call("PUT", f"/issues/{iid}", {"state_event": "close"})
            print(f"Closed drift issue #{iid}.")
        else:
            print("No drift.")
        return

    report = read(args.report_file)
    if DRIFT_MARKER not in report:
        report = f"{DRIFT_MARKER}\n{report}"
    footer = f"\n\n<sub>Last checked by [this pipeline]({pipeline}).</sub>\n" if pipeline else ""
    body = report + footer
    if existing is None:
        issue = gitlab.call(
            "POST", "/issues", {"title": DRIFT_TITLE, "description": body, "labels": DRIFT_LABEL}
        )
        print(f"Opened drift issue #{issue['iid']}.")
        return
    iid = existing["iid"]
    changed = not (existing.get("description") or "").startswith(report)
    gitlab.call("PUT", f"/issues/{iid}", {"description": body})
    if changed:
        # Only a changed report notifies people; the same drift night after night does not.
        gitlab.call(
            "POST",
            f"/issues/{iid}/notes",
            {"body": f"The drift report changed{where}; the description has the current report."},
        )
    print(f"Updated drift issue #{iid}.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    note = commands.add_parser("plan-note", help="create or update the merge request's plan note")
    note.add_argument("--plan-file", required=True, help="markdown from `reconciler plan`")
    note.add_argument("--error-file", help="stderr of `reconciler plan`, shown if it failed")
    note.add_argument("--exitcode", type=int, required=True, help="exit code of `reconciler plan`")
    drift = commands.add_parser("drift-issue", help="open, update or close the drift issue")
    drift.add_argument("--report-file", required=True, help="markdown from `reconciler drift`")
    drift.add_argument(
        "--exitcode", type=int, required=True, help="exit code of `reconciler drift`"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    missing = [
        name
        for name in ("GITLAB_API_TOKEN", "CI_API_V4_URL", "CI_PROJECT_ID")
        if not os.environ.get(name)
    ]
    if missing:
        print(f"gitlab_report: not set: {', '.join(missing)}.", file=sys.stderr)
        return 1
    gitlab = GitLab(
        os.environ["CI_API_V4_URL"], os.environ["CI_PROJECT_ID"], os.environ["GITLAB_API_TOKEN"]
    )
    try:
        if args.command == "plan-note":
            plan_note(gitlab, args)
        else:
            drift_issue(gitlab, args)
    except ReportError as exc:
        print(f"gitlab_report: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
