"""Every command, at maximum verbosity, succeeding and failing: the client secret and
every token the emulator issued appear nowhere in stdout, stderr, saved plans,
journals or exported files.

Commands run as subprocesses, so no secret registered with `redact` by an earlier
in-process test can mask a leak here.
"""

from __future__ import annotations

import base64
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support.cli import Run, emulator_env, run_subprocess
from support.scenarios import bootstrap

WRONG_SECRET = "wrong-secret-7f3a9c1e5b2d4a6f8e0c"


@pytest.fixture
def tenant(emulator_factory: Any) -> Any:
    scenario = bootstrap(6)
    state = {**scenario.tenant, "users": [
        {"id": "u-old", "email": "leaver@chaos.example.com", "firstName": "Lee",
         "lastName": "Ver", "role": "User", "status": "Active"},
    ]}  # fmt: skip
    # Tokens live 2 s, so a run renews them and there are several to look for.
    emulator = emulator_factory(state=state, token_lifetime=2.0)
    issued: list[str] = []
    original = emulator.app.tokens.issue

    def recording(client_id: str, lifetime: float) -> tuple[str, float]:
        token, expiry = original(client_id, lifetime)
        issued.append(token)
        return token, expiry

    emulator.app.tokens.issue = recording
    emulator.issued = issued
    return emulator


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def needles(emulator: Any) -> dict[str, str]:
    """Every secret value, and the forms a careless log line would carry it in."""
    found = {"client secret": emulator.client_secret, "wrong secret": WRONG_SECRET}
    for secret in (emulator.client_secret, WRONG_SECRET):
        basic = base64.b64encode(f"{emulator.client_id}:{secret}".encode()).decode()
        found[f"basic auth of {secret[:6]}"] = basic
    for number, token in enumerate(emulator.issued):
        found[f"token {number}"] = token
        found[f"token {number} signature"] = token.rsplit(".", 1)[1]
    return found


def test_no_secret_or_token_in_any_output_at_maximum_verbosity(tenant: Any, tmp_path: Path) -> None:
    scenario = bootstrap(6)
    desired = scenario.write(tmp_path)
    env = emulator_env(tenant)
    runs: list[tuple[str, Run]] = []
    # A server that is down costs the client's whole retry sequence (seconds of back-off):
    # that run goes on in the background while the others run.
    down = {"PLANVIEW_ADMIN_URL": f"http://127.0.0.1:{closed_port()}"}
    background = ThreadPoolExecutor(1)
    server_down = background.submit(
        run_subprocess, {**env, **down}, "-vv", "plan", str(desired), cwd=tmp_path, timeout=90
    )

    def run(label: str, *args: str, extra: dict[str, str] | None = None) -> Run:
        done = run_subprocess({**env, **(extra or {})}, "-vv", *args, cwd=tmp_path, timeout=90)
        runs.append((label, done))
        assert "Traceback" not in done.output, f"{label}:\n{done.output}"
        return done

    # ---- succeeding commands
    assert run("validate", "validate", str(desired)).code == 0
    assert run("plan --out", "plan", str(desired), "--out", "plan.json").code == 0
    assert run("plan json", "plan", str(desired), "--format", "json").code == 0
    assert run("plan markdown", "plan", str(desired), "--format", "markdown").code == 0
    applied = run(
        "apply --plan", "apply", "--plan", "plan.json", str(desired), "--journal", "applied.jsonl"
    )
    assert applied.code == 0, applied.output
    tenant.out_of_band("update", email="user00001@chaos.example.com", last_name="Changed")
    assert run("drift", "drift", str(desired)).code == 2
    assert run("drift json", "drift", str(desired), "--format", "json").code == 2
    assert run("apply", "apply", str(desired), "--auto-approve").code == 0  # default journal
    assert run("export", "export", "--out", "export.yaml").code == 0
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(tenant.client_secret + "\n")
    no_env_secret = {"PLANVIEW_ADMIN_CLIENT_SECRET": ""}
    from_file = run(
        "plan, secret from file", "plan", str(desired), "--client-secret-file", str(secret_file),
        extra=no_env_secret,
    )  # fmt: skip
    assert from_file.code == 0, from_file.output

    # ---- failing commands
    wrong = {"PLANVIEW_ADMIN_CLIENT_SECRET": WRONG_SECRET}
    assert run("plan, wrong secret", "plan", str(desired), extra=wrong).code == 1
    assert run("drift, wrong secret", "drift", str(desired), extra=wrong).code == 1
    tenant.configure(fault_5xx=1.0)
    assert run("plan, 5xx", "plan", str(desired)).code == 1
    # Writes whose answers are always lost: apply fails change by change, and the
    # journal records each failure with the server's detail.
    tenant.configure(fault_5xx=0.0, fault_reset_after=1.0)
    tenant.out_of_band("deactivate", email="user00002@chaos.example.com")
    failed = run("apply, writes lost", "apply", str(desired), "--auto-approve",
                 "--journal", "failed.jsonl")  # fmt: skip
    assert failed.code == 1, failed.output
    tenant.configure(fault_reset_after=0.0)
    tenant.revoke_tokens()  # a 401 mid-run: the token is renewed
    assert run("plan after revocation", "plan", str(desired)).code == 0

    runs.append(("plan, server down", server_down.result()))
    background.shutdown()
    assert runs[-1][1].code == 1 and "Traceback" not in runs[-1][1].output

    # the scan is only meaningful if there was plenty to find
    assert len(tenant.issued) >= 10
    assert any("DEBUG" in r.stderr for _, r in runs), "-vv produced no debug output"
    files = [
        path
        for path in tmp_path.rglob("*")
        if path.is_file() and path.suffix in (".json", ".jsonl", ".yaml", ".md", ".txt")
        and path.name != "secret.txt"
    ]  # fmt: skip
    assert {"plan.json", "applied.jsonl", "failed.jsonl", "export.yaml"} <= {f.name for f in files}
    assert list((tmp_path / ".reconciler").glob("journal-*.jsonl"))

    leaks = []
    for label, done in runs:
        for stream, text in (("stdout", done.stdout), ("stderr", done.stderr)):
            leaks += [
                f"{label} {stream}: {name}" for name, v in needles(tenant).items() if v in text
            ]
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        leaks += [f"{path.name}: {name}" for name, v in needles(tenant).items() if v in text]
    assert leaks == []
