"""Schemathesis, an independent API tester, finds no disagreement between the emulator and
the OpenAPI description (reconciler/schemas/planview-admin-api.openapi.yaml).

It runs the `st` command line as a user would, with every check and every phase
(examples, coverage, fuzzing, and the stateful phase that follows the description's
links from a created user), against an emulator started in-process. The seed and the
number of examples are fixed so that a failure reproduces.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest
from emulator_http import token

from reconciler.emulator import Emulator

SEED = 1
MAX_EXAMPLES = 20
OPERATIONS = 14  # every operation of the description

# Two exceptions, both behaviour the contract defines and no schema can express:
# - a schema-valid grant for a deactivated user is refused with 400 UserDeactivated;
# - deleting a user drops their provisioning, so revoking a grant of a deleted user is
#   a 404. The availability check only counts DELETEs of the same path as removals.
# Everything else a request may meet is what schemathesis expects by default.
CONFIG = """\
[auth.openapi.basicAuth]
username = "{client_id}"
password = "${{EMULATOR_CLIENT_SECRET}}"

[auth.openapi.bearerAuth]
bearer = "${{EMULATOR_TOKEN}}"

[parameters]
"path.pid" = "{product_id}"

[[operations]]
include-operation-id = "grantProduct"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", 400, 401, 403, 404, 409, 429, "5xx",
]

[[operations]]
include-operation-id = "revokeProduct"
checks.ensure_resource_availability.enabled = false
"""


def _description() -> Path:
    path = resources.files("reconciler.schemas").joinpath("planview-admin-api.openapi.yaml")
    return Path(str(path))


def _environment(secret: str, bearer: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # Only 127.0.0.1 is ever contacted; a proxy setting must not reroute it.
        if key.lower() not in {"http_proxy", "https_proxy", "all_proxy"}
    }
    env.update(EMULATOR_CLIENT_SECRET=secret, EMULATOR_TOKEN=bearer, NO_COLOR="1")
    return env


@pytest.mark.slow
def test_schemathesis_finds_no_failure(
    emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    # A limit schemathesis cannot spend, and no latency: a 429 or a slow answer would
    # make the outcome depend on the machine's speed.
    emulator = emulator_factory(
        users=25, products=5, seed=1, rate_limit_points=10_000_000, latency=0.0
    )
    bearer = token(emulator)
    emulator.reset_stats()
    # Provisioning paths need a product that exists; users come from the links.
    product_id = emulator.state()["products"][0]["id"]
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        CONFIG.format(client_id=emulator.client_id, product_id=product_id), encoding="utf-8"
    )
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        str(_description()),
        "--url",
        emulator.url,
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--no-color",
    ]
    run = subprocess.run(
        command,
        cwd=tmp_path,  # hypothesis keeps its example database in the working directory
        env=_environment(emulator.client_secret, bearer),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = (run.stdout + run.stderr).replace(emulator.client_secret, "[secret]")
    report = report.replace(bearer, "[token]")
    assert run.returncode == 0, f"schemathesis found failures:\n{report}"
    assert re.search(rf"Tested:\s+{OPERATIONS}\b", report), report
    assert "Stateful" in report, report

    # The run exercised the API for real: every operation was called, users were
    # created through the description and read back through its links.
    stats = emulator.stats()
    called = {key for key, count in stats["requests"].items() if count}
    for operation in (
        "POST /io/v1/oauth2/token",
        "GET /public/v1/user",
        "POST /public/v1/user",
        "GET /public/v1/user/{id}",
        "PATCH /public/v1/user/{id}",
        "DELETE /public/v1/user/{id}",
        "POST /public/v1/user/{id}/deactivate",
        "POST /public/v1/user/{id}/reactivate",
        "GET /public/v1/user/{id}/audit",
        "GET /public/v1/audit",
        "GET /public/v1/product",
        "GET /public/v1/product/{pid}/user",
        "POST /public/v1/product/{pid}/user",
        "DELETE /public/v1/product/{pid}/user/{userId}",
    ):
        assert operation in called, f"schemathesis never called {operation}"
    assert stats["tokens_issued"] > 0, "schemathesis never got a token with the client secret"
    # Writes that only succeed with an id the API handed out: the links were followed.
    by_client = {
        event["action"]
        for event in emulator.state()["audit"]
        if event["actor"]["type"] == "client"
    }
    assert {"user.created", "product.provisioned"} <= by_client, by_client
