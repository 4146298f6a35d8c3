"""`reconciler emulator`: flags, clear errors, serving until interrupted."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from support.cli import sigint_as_usual

from reconciler.cli.emulator_cmd import emulator, parse_duration
from reconciler.emulator import Emulator


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-limit", "600"], "not a rate limit"),
        (["--rate-limit", "0/60s"], "not a rate limit"),
        (["--rate-limit", "600/0s"], "not a rate limit"),
        (["--latency", "20"], "20ms"),
        (["--latency", "20ms±fast"], "not a duration"),
        (["--fault", "5xx=2"], "between 0 and 1"),
        (["--fault", "meltdown=0.1"], "is not a fault"),
        (["--fault", "5xx=0.6,reset-after=0.6"], "add up to more than 1"),
        (["--port", "70000"], "70000"),
        (["--users", "-1"], "-1"),
        (["--state", "x.json", "--users", "3"], "not both"),
        (["--client-id", "a:b"], "':'"),
        (["--page-max", "everything=5"], "not a page maximum"),
        (["--page-max", "users=0"], "positive integer"),
    ],
)
def test_bad_flags_get_a_clear_error(args: list[str], message: str) -> None:
    result = CliRunner().invoke(emulator, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_unreadable_state_and_secret_files_are_config_errors(tmp_path: Path) -> None:
    from reconciler.errors import ConfigError

    broken = tmp_path / "state.json"
    broken.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(emulator, ["--state", str(broken), "--port", "0"])
    assert isinstance(result.exception, ConfigError)
    assert "not valid JSON" in str(result.exception)
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"users": [{"id": "u-1"}]}), encoding="utf-8")
    result = CliRunner().invoke(emulator, ["--state", str(invalid), "--port", "0"])
    assert isinstance(result.exception, ConfigError)
    assert "state.users[0]" in str(result.exception)
    empty = tmp_path / "secret"
    empty.write_text("\n", encoding="utf-8")
    result = CliRunner().invoke(emulator, ["--client-secret-file", str(empty), "--port", "0"])
    assert isinstance(result.exception, ConfigError)


def test_durations() -> None:
    assert parse_duration("20ms") == pytest.approx(0.02)
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("2m") == 120
    assert parse_duration("60") == 60
    with pytest.raises(ValueError):
        parse_duration("soon")


def _start(args: list[str], tmp_path: Path) -> tuple[subprocess.Popen[str], str, str]:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        preexec_fn=sigint_as_usual,  # the test interrupts it with SIGINT
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    banner = "".join(lines)
    url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", banner)
    assert url, banner
    return process, url.group(1), banner


def test_serves_until_interrupted_and_exits_cleanly(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("my-emulator-secret\n", encoding="utf-8")
    process, url, banner = _start(
        [
            "--users",
            "12",
            "--products",
            "3",
            "--seed",
            "9",
            "--client-id",
            "ci-bot",
            "--client-secret-file",
            str(secret_file),
            "--rate-limit",
            "50/10s",
        ],
        tmp_path,
    )
    try:
        assert "client id:     ci-bot" in banner
        assert "emulator's own throwaway secret" in banner
        assert "50 points per 10 s" in banner
        with httpx.Client(base_url=url) as client:
            token = client.post(
                "/io/v1/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=("ci-bot", "my-emulator-secret"),
            ).json()["id_token"]
            users = client.get("/public/v1/user", headers={"Authorization": f"Bearer {token}"})
            assert users.headers["X-Rate-Limit-Remaining"] == "49"
            assert (
                users.json()["Resources"] == Emulator(users=12, products=3, seed=9).state()["users"]
            )
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "Traceback" not in stderr


def test_loads_a_saved_state_and_stays_quiet_on_loopback(tmp_path: Path) -> None:
    state = Emulator(users=4, products=2, seed=1).state()
    path = tmp_path / "tenant.json"
    path.write_text(json.dumps(state), encoding="utf-8")
    process, url, banner = _start(["--state", str(path)], tmp_path)
    try:
        assert f"loaded from {path}" in banner
        with httpx.Client(base_url=url) as client:
            assert client.get("/_emulator/state").json() == state
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "WARNING" not in stderr


def test_listening_beyond_loopback_warns_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    import reconciler.cli.emulator_cmd as command

    def fake_start(self: Emulator) -> Emulator:
        # No socket is opened: the test checks the warning, not the network.
        self._port = 8080
        return self

    monkeypatch.setattr(Emulator, "start", fake_start)
    monkeypatch.setattr(command, "_serve_until_interrupted", lambda server: None)
    result = CliRunner().invoke(emulator, ["--host", "0.0.0.0", "--users", "2"])
    assert result.exit_code == 0, result.output
    assert "WARNING: listening on 0.0.0.0, not loopback" in result.output
    quiet = CliRunner().invoke(emulator, ["--host", "localhost", "--users", "2"])
    assert "WARNING" not in quiet.output
