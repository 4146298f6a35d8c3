"""The github-script steps of the example workflows, run in Node against a fake GitHub.

What a reviewer and the on-call admin would notice: one plan comment per pull request,
updated on every push and never duplicated; a failed plan shown in that same comment;
one drift issue that stays quiet while the drift is unchanged and closes itself once
the tenant is back in sync.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from doccheck import EXAMPLES

HARNESS = Path(__file__).with_name("github_script_harness.js")
PLAN_MARKER = "<!-- planview-admin-reconciler:plan -->"
DRIFT_MARKER = "<!-- planview-admin-reconciler:drift -->"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None, reason="Node.js is needed to run the workflows' github-script steps"
)


def script_of(workflow: str, step_name: str) -> str:
    data = yaml.safe_load((EXAMPLES / "github" / workflow).read_text(encoding="utf-8"))
    for job in data["jobs"].values():
        for step in job["steps"]:
            if step.get("name") == step_name:
                return step["with"]["script"]
    raise AssertionError(f"{workflow} has no step {step_name!r}")


class FakeRepo:
    def __init__(self, tmp_path: Path, workflow: str, step: str, *, pr: int = 12) -> None:
        self.dir = tmp_path
        self.script = tmp_path / "script.js"
        self.script.write_text(script_of(workflow, step), encoding="utf-8")
        self.state_file = tmp_path / "state.json"
        self.state: dict[str, Any] = {
            "comments": [],
            "issues": [],
            "context": {
                "repo": {"owner": "acme", "repo": "planview-users"},
                "issue": {"number": pr},
                "payload": {"pull_request": {"number": pr, "head": {"sha": "abc1234"}}},
                "serverUrl": "https://github.com",
                "runId": 99,
            },
        }

    def run(self, **env: str) -> subprocess.CompletedProcess:
        self.state_file.write_text(json.dumps(self.state), encoding="utf-8")
        result = subprocess.run(
            [NODE, str(HARNESS), str(self.script), str(self.state_file)],
            env={"PATH": os.environ.get("PATH", ""), **env},
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        self.state = json.loads(self.state_file.read_text(encoding="utf-8"))
        return result

    def file(self, name: str, text: str) -> str:
        path = self.dir / name
        path.write_text(text, encoding="utf-8")
        return str(path)


def plan_env(repo: FakeRepo, plan: str, error: str = "", code: str = "2") -> dict[str, str]:
    return {
        "PLAN_FILE": repo.file("plan.md", plan),
        "ERROR_FILE": repo.file("plan.err", error),
        "PLAN_EXITCODE": code,
    }


def test_plan_comment_is_posted_once_and_updated_on_every_push(tmp_path: Path) -> None:
    repo = FakeRepo(tmp_path, "plan.yml", "Post or update the plan comment")
    repo.state["comments"] = [
        # A person quoting the marker, and another pull request's plan, are not ours.
        {"id": 1, "issue_number": 12, "body": f"see {PLAN_MARKER}", "user": {"type": "User"}},
        {"id": 2, "issue_number": 13, "body": f"{PLAN_MARKER}\nold", "user": {"type": "Bot"}},
    ]
    repo.run(**plan_env(repo, f"{PLAN_MARKER}\n**Plan:** 2 to create.\n"))
    repo.run(**plan_env(repo, f"{PLAN_MARKER}\n**Plan:** 5 to create.\n"))

    ours = [c for c in repo.state["comments"] if c["issue_number"] == 12 and c["id"] != 1]
    assert len(ours) == 1
    assert "5 to create" in ours[0]["body"] and "abc1234" in ours[0]["body"]
    assert repo.state["comments"][1]["body"] == f"{PLAN_MARKER}\nold"
    assert repo.state["comments"][0]["body"] == f"see {PLAN_MARKER}"


def test_a_failed_plan_replaces_the_comment_with_the_error(tmp_path: Path) -> None:
    repo = FakeRepo(tmp_path, "plan.yml", "Post or update the plan comment")
    repo.run(**plan_env(repo, f"{PLAN_MARKER}\n**Plan:** 1 to create.\n"))
    error = "Error: 1 error in the desired state:\nusers/a.yaml:4:7: unknown group 'ops'\n"
    repo.run(**plan_env(repo, "", error, code="1"))
    assert len(repo.state["comments"]) == 1
    body = repo.state["comments"][0]["body"]
    assert body.startswith(PLAN_MARKER)
    assert "plan failed (exit 1)" in body and "unknown group 'ops'" in body


def test_a_comment_at_the_size_limit_gets_no_footer(tmp_path: Path) -> None:
    repo = FakeRepo(tmp_path, "plan.yml", "Post or update the plan comment")
    plan = PLAN_MARKER + "\n" + "x" * (65_536 - len(PLAN_MARKER) - 1)
    repo.run(**plan_env(repo, plan))
    assert len(repo.state["comments"][0]["body"]) <= 65_536


def drift_env(repo: FakeRepo, report: str, code: str) -> dict[str, str]:
    return {"REPORT_FILE": repo.file("drift.md", report), "DRIFT_EXITCODE": code}


def test_drift_issue_lifecycle(tmp_path: Path) -> None:
    repo = FakeRepo(tmp_path, "drift.yml", "Open, update or close the drift issue")
    report = f"{DRIFT_MARKER}\n**Drift:** bob@example.com role changed by it@example.com\n"

    repo.run(**drift_env(repo, "", "0"))
    assert repo.state["issues"] == []  # in sync, nothing open: nothing to do

    repo.run(**drift_env(repo, report, "2"))
    assert len(repo.state["issues"]) == 1
    issue = repo.state["issues"][0]
    assert issue["state"] == "open" and issue["body"].startswith(report)

    repo.run(**drift_env(repo, report, "2"))
    assert len(repo.state["issues"]) == 1
    assert repo.state["comments"] == [], "unchanged drift must not notify every night"

    changed = report + "carol@example.com deactivated by it@example.com\n"
    repo.run(**drift_env(repo, changed, "2"))
    assert len(repo.state["issues"]) == 1 and "carol" in repo.state["issues"][0]["body"]
    assert len(repo.state["comments"]) == 1

    repo.run(**drift_env(repo, "", "0"))
    assert repo.state["issues"][0]["state"] == "closed"
    assert "back in sync" in repo.state["comments"][-1]["body"]

    repo.run(**drift_env(repo, report, "2"))
    assert [i["state"] for i in repo.state["issues"]] == ["closed", "open"]
