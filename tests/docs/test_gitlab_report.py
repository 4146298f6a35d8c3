"""examples/ci/gitlab/gitlab_report.py against a fake GitLab API on 127.0.0.1.

What a merge request's author and the on-call admin would notice: one plan note per
merge request, updated rather than repeated; one drift issue, quiet while the drift
is unchanged, closed when the tenant is back in sync; the token never printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

HELPER = Path(__file__).resolve().parents[2] / "examples" / "ci" / "gitlab" / "gitlab_report.py"
TOKEN = "glpat-test-token-0123456789"
PLAN_MARKER = "<!-- planview-admin-reconciler:plan -->"
DRIFT_MARKER = "<!-- planview-admin-reconciler:drift -->"


class FakeGitLab:
    """Just the notes and issues endpoints of one project, with paging."""

    def __init__(self) -> None:
        self.notes: list[dict[str, Any]] = []  # merge request 7's notes
        self.issues: list[dict[str, Any]] = []
        self.issue_notes: dict[int, list[str]] = {}
        self.tokens_seen: set[str] = set()
        self.page_size_asked: set[str] = set()

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        base = "/api/v4/projects/group%2Fusers"
        if not path.startswith(base):
            return 404, {"message": "404 Project Not Found"}
        path = path[len(base) :]
        if path == "/merge_requests/7/notes":
            if method == "GET":
                self.page_size_asked.add(query.get("per_page", ""))
                return 200, self._page(self.notes, query)
            note = {"id": 100 + len(self.notes), "body": body["body"]}
            self.notes.append(note)
            return 201, note
        if path.startswith("/merge_requests/7/notes/") and method == "PUT":
            note_id = int(path.rsplit("/", 1)[1])
            note = next(n for n in self.notes if n["id"] == note_id)
            note["body"] = body["body"]
            return 200, note
        if path == "/issues":
            if method == "GET":
                found = [
                    i
                    for i in self.issues
                    if i["state"] == "opened" and query.get("labels", "") in i["labels"]
                ]
                return 200, self._page(found, query)
            issue = {
                "iid": len(self.issues) + 1,
                "title": body["title"],
                "description": body["description"],
                "labels": body["labels"].split(","),
                "state": "opened",
            }
            self.issues.append(issue)
            return 201, issue
        if path.startswith("/issues/"):
            parts = path.split("/")
            issue = next(i for i in self.issues if i["iid"] == int(parts[2]))
            if len(parts) == 4 and parts[3] == "notes":
                self.issue_notes.setdefault(issue["iid"], []).append(body["body"])
                return 201, {"id": 1}
            if body.get("state_event") == "close":
                issue["state"] = "closed"
            if "description" in body:
                issue["description"] = body["description"]
            return 200, issue
        return 404, {"message": "404 Not Found"}

    @staticmethod
    def _page(items: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
        size, page = int(query.get("per_page", 20)), int(query.get("page", 1))
        return items[(page - 1) * size : page * size]


@pytest.fixture
def gitlab() -> Iterator[tuple[FakeGitLab, str]]:
    fake = FakeGitLab()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            fake.tokens_seen.add(self.headers.get("PRIVATE-TOKEN", ""))
            if self.headers.get("PRIVATE-TOKEN") != TOKEN:
                status, reply = 401, {"message": "401 Unauthorized"}
            else:
                status, reply = fake.handle(self.command, url.path, query, body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    finally:
        server.shutdown()
        server.server_close()


def run(api: str, tmp_path: Path, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess:
    env = {
        "GITLAB_API_TOKEN": token,
        "CI_API_V4_URL": api,
        "CI_PROJECT_ID": "group/users",
        "CI_MERGE_REQUEST_IID": "7",
        "CI_PIPELINE_URL": "https://gitlab.example.com/group/users/-/pipelines/42",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, str(HELPER), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return name


def test_plan_note_is_posted_once_then_updated(gitlab, tmp_path: Path) -> None:
    fake, api = gitlab
    # Someone else's notes, including more than one page of them, are left alone.
    fake.notes += [{"id": i, "body": f"review comment {i}"} for i in range(1, 131)]
    plan = write(tmp_path, "plan.md", f"{PLAN_MARKER}\n**Plan:** 2 to create.\n")
    first = run(api, tmp_path, "plan-note", "--plan-file", plan, "--exitcode", "2")
    assert first.returncode == 0, first.stderr
    assert "Posted plan note" in first.stdout

    write(tmp_path, "plan.md", f"{PLAN_MARKER}\n**Plan:** 3 to create.\n")
    second = run(api, tmp_path, "plan-note", "--plan-file", plan, "--exitcode", "2")
    assert second.returncode == 0, second.stderr
    assert "Updated plan note" in second.stdout

    ours = [n for n in fake.notes if PLAN_MARKER in n["body"]]
    assert len(ours) == 1
    assert "3 to create" in ours[0]["body"] and "pipelines/42" in ours[0]["body"]
    assert len(fake.notes) == 131
    assert fake.page_size_asked == {"100"}


def test_failed_plan_shows_the_error_in_the_same_note(gitlab, tmp_path: Path) -> None:
    fake, api = gitlab
    plan = write(tmp_path, "plan.md", f"{PLAN_MARKER}\n**Plan:** 1 to create.\n")
    assert run(api, tmp_path, "plan-note", "--plan-file", plan, "--exitcode", "2").returncode == 0
    write(tmp_path, "plan.md", "")
    error = write(tmp_path, "plan.err", "Error: users.yaml:3:5: unknown group 'enginering'\n")
    done = run(
        api, tmp_path, "plan-note", "--plan-file", plan, "--error-file", error, "--exitcode", "1"
    )
    assert done.returncode == 0, done.stderr
    assert len(fake.notes) == 1
    body = fake.notes[0]["body"]
    assert body.startswith(PLAN_MARKER)
    assert "plan failed (exit 1)" in body and "unknown group 'enginering'" in body


def test_drift_issue_opens_stays_quiet_notes_changes_and_closes(gitlab, tmp_path: Path) -> None:
    fake, api = gitlab
    report = write(tmp_path, "drift.md", f"{DRIFT_MARKER}\nbob@example.com: role changed\n")

    opened = run(api, tmp_path, "drift-issue", "--report-file", report, "--exitcode", "2")
    assert opened.returncode == 0, opened.stderr
    assert len(fake.issues) == 1 and fake.issues[0]["labels"] == ["planview-drift"]

    same = run(api, tmp_path, "drift-issue", "--report-file", report, "--exitcode", "2")
    assert same.returncode == 0, same.stderr
    assert len(fake.issues) == 1
    assert fake.issue_notes == {}, "the same drift must not notify again"

    write(tmp_path, "drift.md", f"{DRIFT_MARKER}\nbob@example.com: role changed\ncarol: new\n")
    changed = run(api, tmp_path, "drift-issue", "--report-file", report, "--exitcode", "2")
    assert changed.returncode == 0, changed.stderr
    assert len(fake.issues) == 1 and "carol" in fake.issues[0]["description"]
    assert len(fake.issue_notes[1]) == 1 and "changed" in fake.issue_notes[1][0]

    synced = run(api, tmp_path, "drift-issue", "--report-file", report, "--exitcode", "0")
    assert synced.returncode == 0, synced.stderr
    assert fake.issues[0]["state"] == "closed"
    assert "back in sync" in fake.issue_notes[1][-1]

    # The next drift opens a new issue rather than reviving the closed one.
    again = run(api, tmp_path, "drift-issue", "--report-file", report, "--exitcode", "2")
    assert again.returncode == 0 and len(fake.issues) == 2


def test_errors_are_clear_and_never_show_the_token(gitlab, tmp_path: Path) -> None:
    fake, api = gitlab
    plan = write(tmp_path, "plan.md", f"{PLAN_MARKER}\nplan\n")
    wrong = "x" * 30
    refused = run(api, tmp_path, "plan-note", "--plan-file", plan, "--exitcode", "0", token=wrong)
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr
    assert wrong not in refused.stdout + refused.stderr

    report = write(tmp_path, "drift.md", "x")
    failed = run(api, tmp_path, "drift-issue", "--report-file", report, "--exitcode", "1")
    assert failed.returncode == 1 and "an error" in failed.stderr
    assert fake.issues == []

    unset = run(api, tmp_path, "plan-note", "--plan-file", plan, "--exitcode", "0", token="")
    assert unset.returncode == 1 and "GITLAB_API_TOKEN" in unset.stderr
    for result in (refused, failed, unset):
        assert TOKEN not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
