"""Credentials and tokens: where they may go, and where they must never show."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from client_fakeapi import SECRET, make_jwt
from support.backends import backend_for
from support.e2e import FIXTURES

from reconciler.backends.planview import ClientSettings, PlanviewBackend
from reconciler.cli.connection import connection_options, open_backend, print_stats
from reconciler.cli.main import cli
from reconciler.emulator import Emulator
from reconciler.errors import ApiError, ConfigError, TransportError

Factory = Callable[..., Emulator]


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://127.8.9.10", "http://[::1]:9000", "http://localhost"]
)
def test_plain_http_is_accepted_for_loopback_only(url: str) -> None:
    ClientSettings(url=url, client_id="c", client_secret="s" * 12).validate()


@pytest.mark.parametrize("url", ["http://planview.example.com", "http://10.0.0.1", "ftp://x.y"])
def test_plain_http_elsewhere_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="https"):
        ClientSettings(url=url, client_id="c", client_secret="s" * 12).validate()


def test_missing_settings_are_named_with_where_to_give_them() -> None:
    with pytest.raises(ConfigError) as caught:
        ClientSettings(url="", client_id="", client_secret="").validate()
    message = str(caught.value)
    for hint in ("PLANVIEW_ADMIN_URL", "PLANVIEW_ADMIN_CLIENT_ID", "--client-secret-file"):
        assert hint in message


def test_settings_never_show_the_secret() -> None:
    settings = ClientSettings(url="https://x.example", client_id="c", client_secret="hunter2-xyz")
    assert "hunter2" not in repr(settings)


def test_a_missing_ca_bundle_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match="--ca-bundle"):
        PlanviewBackend(
            ClientSettings(
                url="https://x.example", client_id="c", client_secret="s" * 12, ca_bundle=str(bad)
            )
        )


@click.command()
@connection_options
def probe_cmd(**connection: Any) -> None:
    backend = open_backend(**connection)
    try:
        click.echo(f"{len(backend.list_products())} products at {backend.target}")
    finally:
        print_stats(backend)
        backend.close()


def test_the_secret_comes_from_the_environment_or_a_file(
    emulator: Emulator, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"PLANVIEW_ADMIN_URL": emulator.url, "PLANVIEW_ADMIN_CLIENT_ID": emulator.client_id}
    by_env = runner.invoke(
        probe_cmd, [], env={**env, "PLANVIEW_ADMIN_CLIENT_SECRET": emulator.client_secret}
    )
    assert by_env.exit_code == 0, by_env.output
    assert "5 products" in by_env.stdout and "API: 1 request," in by_env.stderr
    secret_file = tmp_path / "secret"
    secret_file.write_text(emulator.client_secret + "\n")
    by_file = runner.invoke(
        probe_cmd,
        ["--client-secret-file", str(secret_file)],
        env={**env, "PLANVIEW_ADMIN_CLIENT_SECRET": ""},
    )
    assert by_file.exit_code == 0, by_file.output
    missing = runner.invoke(probe_cmd, [], env={**env, "PLANVIEW_ADMIN_CLIENT_SECRET": ""})
    assert isinstance(missing.exception, ConfigError)
    assert "PLANVIEW_ADMIN_CLIENT_SECRET" in str(missing.exception)


@click.command()
@connection_options
def settings_cmd(**connection: Any) -> None:
    backend = open_backend(**connection)
    click.echo(f"timeout={backend.settings.timeout} max_pages={backend.settings.max_pages}")
    backend.close()


def test_timeout_and_page_cap_come_from_flags_or_the_environment() -> None:
    runner = CliRunner()
    env = {
        "PLANVIEW_ADMIN_URL": "http://127.0.0.1:9",
        "PLANVIEW_ADMIN_CLIENT_ID": "c",
        "PLANVIEW_ADMIN_CLIENT_SECRET": SECRET,
    }
    default = runner.invoke(settings_cmd, [], env=env)
    assert default.stdout.strip() == "timeout=30.0 max_pages=1000"
    flags = runner.invoke(settings_cmd, ["--timeout", "2.5", "--max-pages", "7"], env=env)
    assert flags.stdout.strip() == "timeout=2.5 max_pages=7"
    by_env = {**env, "PLANVIEW_ADMIN_TIMEOUT": "4", "PLANVIEW_ADMIN_MAX_PAGES": "12"}
    assert runner.invoke(settings_cmd, [], env=by_env).stdout.strip() == (
        "timeout=4.0 max_pages=12"
    )
    for bad in (["--timeout", "0"], ["--max-pages", "0"]):
        refused = runner.invoke(settings_cmd, bad, env=env)
        assert refused.exit_code == 2 and bad[0] in refused.output


def test_there_is_no_flag_for_the_secret_itself() -> None:
    result = CliRunner().invoke(probe_cmd, ["--help"])
    assert "--client-secret-file" in result.output
    assert "--client-secret " not in result.output
    for option in (
        "--url",
        "--client-id",
        "--ca-bundle",
        "--rate-reserve",
        "--max-rps",
        "--concurrency",
        "--max-wait",
        "--timeout",
        "--max-pages",
    ):
        assert option in result.output


# ---------------------------------------------------------------- redirects


class Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]
    redirect_to: str | None = None

    def _any(self) -> None:
        self.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        if self.path.startswith("/io/v1/oauth2/token") and not self.redirect_token:
            body = json.dumps({"id_token": make_jwt(9_999_999_999)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.redirect_to:
            self.send_response(307)
            self.send_header("Location", self.redirect_to + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _any
    redirect_token = False

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(host: str, **attributes: Any) -> tuple[ThreadingHTTPServer, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []
    handler = type("Handler", (Recorder,), {"seen": seen, **attributes})
    server = ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@pytest.fixture
def elsewhere() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """Another host (127.0.0.2) that records whatever reaches it."""
    server, seen = serve("127.0.0.2")
    yield f"http://127.0.0.2:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("redirect_token", [False, True])
def test_a_redirect_to_another_host_is_refused_and_nothing_reaches_it(
    elsewhere: tuple[str, list[dict[str, str]]], redirect_token: bool
) -> None:
    other, seen_there = elsewhere
    server, seen_here = serve("127.0.0.1", redirect_to=other, redirect_token=redirect_token)
    try:
        backend = PlanviewBackend(
            ClientSettings(
                url=f"http://127.0.0.1:{server.server_address[1]}",
                client_id="client",
                client_secret="redirect-test-secret",
            )
        )
        with backend, pytest.raises(TransportError, match=r"redirected to 127\.0\.0\.2"):
            backend.list_products()
    finally:
        server.shutdown()
        server.server_close()
    assert seen_here, "the configured host was asked"
    assert seen_there == []  # neither the bearer token nor the client credentials left


# ---------------------------------------------------------------- leaks


def test_secret_and_tokens_never_reach_output_logs_or_errors(
    emulator_factory: Factory, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = json.loads((FIXTURES / "tenant.json").read_text())
    emulator = emulator_factory(
        state=tenant,
        token_lifetime=0.2,
        latency=0.03,
        page_max={"users": 2},
        fault_5xx=0.2,
        fault_seed=5,
    )
    issued: list[str] = []
    original = emulator.app.tokens.issue

    def recording_issue(*args: Any) -> tuple[str, float]:
        token, exp = original(*args)
        issued.append(token)
        return token, exp

    monkeypatch.setattr(emulator.app.tokens, "issue", recording_issue)
    caplog.set_level(logging.DEBUG)
    env = {
        "PLANVIEW_ADMIN_URL": emulator.url,
        "PLANVIEW_ADMIN_CLIENT_ID": emulator.client_id,
        "PLANVIEW_ADMIN_CLIENT_SECRET": emulator.client_secret,
        "NO_COLOR": "1",
    }
    runner = CliRunner()
    outputs = []
    plan = runner.invoke(cli, ["-vv", "plan", str(FIXTURES / "desired.yaml")], env=env)
    outputs += [plan.stdout, plan.stderr, str(plan.exception or "")]
    assert "HTTP Request" in plan.stderr  # -vv really showed the HTTP client's lines
    wrong = runner.invoke(
        cli,
        ["-vv", "plan", str(FIXTURES / "desired.yaml")],
        env={**env, "PLANVIEW_ADMIN_CLIENT_SECRET": "wrong-" + "x" * 20},
    )
    outputs += [wrong.stdout, wrong.stderr, str(wrong.exception or "")]
    assert wrong.exit_code != 0

    # errors raised straight from the backend carry nothing secret either
    with backend_for(emulator, retries=8) as backend:
        emulator.revoke_tokens()
        try:
            backend.update_user("u-missing", {"first_name": "X"})
        except ApiError as exc:
            outputs.append(str(exc))
        outputs.append(repr(backend.settings))
    records = [r.getMessage() for r in caplog.records]
    assert len(issued) >= 3
    for text in [*outputs, *records, caplog.text]:
        assert emulator.client_secret not in text
        for token in issued:
            assert token not in text
            assert token.split(".")[2] not in text  # not even the signature part


# ---------------------------------------------------------------- TLS


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate nobody trusts yet."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server, _ = serve("127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()


def test_certificates_are_verified_and_a_ca_bundle_adds_trust(
    tls_server: tuple[str, Path],
) -> None:
    url, cert = tls_server
    settings = {"url": url, "client_id": "client", "client_secret": "tls-test-secret"}
    # Retries allowed, yet none made: the same certificate would be refused again.
    untrusted = PlanviewBackend(ClientSettings(**settings, retries=5, backoff_base=5.0))
    with untrusted, pytest.raises(TransportError) as refused:
        untrusted.list_products()
    assert re.search(
        r"certificate was refused.*CERTIFICATE_VERIFY_FAILED.*--ca-bundle", str(refused.value)
    )
    assert "attempts" not in str(refused.value)
    trusted = PlanviewBackend(ClientSettings(**settings, ca_bundle=str(cert)))
    with trusted, pytest.raises(TransportError, match="'Resources'"):
        trusted.list_products()  # the TLS handshake worked; this server is no API
