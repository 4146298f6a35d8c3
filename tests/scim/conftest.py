"""A real, independent SCIM 2.0 server (`scim2-server`) on 127.0.0.1 for the SCIM tests.

One server process per provider configuration for the whole session (it takes seconds
to start), each test in a tenant of its own (`--dynamic-tenants`: the first request to
/TENANT creates it), so no test sees another's users. The process is stopped by its own
process id.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from scim_server import TOKEN, ScimServer

START_SECONDS = 60.0


def _executable() -> str:
    beside = Path(sys.executable).with_name("scim2-server")
    found = str(beside) if beside.exists() else shutil.which("scim2-server")
    if not found:
        pytest.skip("scim2-server is not installed (pip install -e '.[test]')")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ScimProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _start(tmp: Path, config: dict[str, Any] | None) -> ScimProcess:
    command = [_executable(), "--hostname", "127.0.0.1", "--bearer-token", TOKEN]
    command.append("--dynamic-tenants")
    if config is not None:
        config_file = tmp / "service-provider-config.json"
        config_file.write_text(json.dumps(config), encoding="utf-8")
        command += ["--service-provider-config", str(config_file)]
    for _ in range(3):  # the free port may be taken before the server binds it
        port = _free_port()
        log = tmp / f"scim2-server-{port}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [*command, "--port", str(port)], stdout=sink, stderr=subprocess.STDOUT
            )
        server = ScimProcess(process, port, log)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(f"{server.root}/ServiceProviderConfig", timeout=1.0)
                return server
            except httpx.TransportError:
                time.sleep(0.2)
        server.stop()
    pytest.fail(f"scim2-server did not start; its log:\n{log.read_text(errors='replace')}")


def _default_config() -> dict[str, Any]:
    import scim2_server

    path = Path(scim2_server.__file__).parent / "resources/default-service-provider-config.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _tenants(process: ScimProcess) -> Callable[[], ScimServer]:
    return lambda: ScimServer(f"{process.root}/t{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def _scim_default(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScimProcess]:
    server = _start(tmp_path_factory.mktemp("scim-default"), None)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _scim_small_pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScimProcess]:
    config = _default_config()
    config["filter"]["maxResults"] = 25
    server = _start(tmp_path_factory.mktemp("scim-small"), config)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _scim_no_patch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScimProcess]:
    config = _default_config()
    config["patch"]["supported"] = False
    server = _start(tmp_path_factory.mktemp("scim-nopatch"), config)
    yield server
    server.stop()


@pytest.fixture
def scim(_scim_default: ScimProcess) -> ScimServer:
    """A fresh, empty tenant of scim2-server with its default configuration (PATCH,
    ETags, filtering, maxResults 1000)."""
    return _tenants(_scim_default)()


@pytest.fixture
def scim_small_pages(_scim_small_pages: ScimProcess) -> ScimServer:
    """A fresh tenant of a scim2-server announcing filter.maxResults 25."""
    return _tenants(_scim_small_pages)()


@pytest.fixture
def scim_no_patch(_scim_no_patch: ScimProcess) -> ScimServer:
    """A fresh tenant of a scim2-server announcing patch.supported false."""
    return _tenants(_scim_no_patch)()
