"""Transport safety: certificates are verified, plain http only to loopback, and
credentials never follow a redirect to another host."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import assert_clean_failure, run_subprocess
from support.hostile import (
    CLIENT_ID,
    DESIRED,
    SECRET,
    TOKEN_PATH,
    USERS,
    HostileServer,
    Response,
    hostile_server,
)
from support.tls import self_signed_cert


@pytest.fixture
def desired(tmp_path: Path) -> Path:
    path = tmp_path / "users.yaml"
    path.write_text(DESIRED)
    return path


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path)


@pytest.fixture
def https_server(certificate: tuple[Path, Path]) -> Iterator[HostileServer]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with hostile_server(tls=context) as server:
        yield server


# ------------------------------------------------------------------ TLS


def test_a_self_signed_certificate_is_refused_by_default(
    https_server: HostileServer, desired: Path
) -> None:
    run = run_subprocess(https_server.env(), "plan", str(desired), timeout=60)

    assert_clean_failure(run, "certificate verify failed", "--ca-bundle")
    assert https_server.requests == []  # no HTTP request got through the handshake


def test_the_certificate_is_accepted_with_its_ca_bundle(
    https_server: HostileServer, desired: Path, certificate: tuple[Path, Path]
) -> None:
    cert, _ = certificate
    run = run_subprocess(
        https_server.env(), "plan", str(desired), "--ca-bundle", str(cert), timeout=60
    )

    assert run.code == 0, run.output
    assert "new.person@example.com" in run.stdout
    assert https_server.count("POST", TOKEN_PATH) == 1
    assert https_server.writes() == []


def test_the_ca_bundle_can_come_from_the_environment(
    https_server: HostileServer, desired: Path, certificate: tuple[Path, Path]
) -> None:
    env = {**https_server.env(), "PLANVIEW_ADMIN_CA_BUNDLE": str(certificate[0])}

    run = run_subprocess(env, "plan", str(desired), timeout=60)

    assert run.code == 0, run.output


def test_a_refused_certificate_is_not_retried(https_server: HostileServer, desired: Path) -> None:
    run = run_subprocess(https_server.env(), "plan", str(desired), timeout=60)

    assert_clean_failure(run, "certificate verify failed")
    assert "attempts" not in run.stderr, run.stderr


# ------------------------------------------------------------------ plain http


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.1",  # TEST-NET-1: documentation only, routes nowhere
        "http://192.0.2.1:8080/",
        "http://[2001:db8::1]",  # IPv6 documentation prefix
        "http://planview.example.com",
        "http://0.0.0.0:8080",
    ],
)
def test_plain_http_to_anything_but_loopback_is_refused_before_connecting(
    url: str, desired: Path
) -> None:
    env = {
        "PLANVIEW_ADMIN_URL": url,
        "PLANVIEW_ADMIN_CLIENT_ID": CLIENT_ID,
        "PLANVIEW_ADMIN_CLIENT_SECRET": SECRET,
    }
    # A connection attempt to 192.0.2.1 would hang until a connect timeout: the
    # short guard shows that none is made.
    run = run_subprocess(env, "plan", str(desired), timeout=15)

    assert_clean_failure(run, "uses plain http", "only https is allowed")
    assert "API:" not in run.stderr  # no backend was opened, so no request was made


def test_credentials_in_the_url_are_refused(desired: Path) -> None:
    env = {
        "PLANVIEW_ADMIN_URL": "https://user:pass@192.0.2.1",
        "PLANVIEW_ADMIN_CLIENT_ID": CLIENT_ID,
        "PLANVIEW_ADMIN_CLIENT_SECRET": SECRET,
    }
    run = run_subprocess(env, "plan", str(desired), timeout=15)

    assert_clean_failure(run, "must not contain credentials")
    assert "pass" not in run.stderr.replace("password", "")


# ------------------------------------------------------------------ redirects


@pytest.fixture
def elsewhere() -> Iterator[HostileServer]:
    """The other host a redirect points at; it must never hear from the client."""
    with hostile_server() as server:
        yield server


def other_host_url(server: HostileServer, path: str) -> str:
    # "localhost" is a different host name from 127.0.0.1, so a client following the
    # redirect would treat it as another host; both still stay on this machine.
    return server.url.replace("127.0.0.1", "localhost") + path


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_no_bearer_token_follows_an_api_redirect_to_another_host(
    status: int, desired: Path, elsewhere: HostileServer
) -> None:
    with hostile_server() as server:
        location = other_host_url(elsewhere, USERS)
        server.routes[("GET", USERS)] = lambda r: Response(status, b"", {"Location": location})

        run = run_subprocess(server.env(), "apply", str(desired), "--auto-approve", timeout=60)

        assert_clean_failure(run, "redirected to localhost", "--url")
        assert server.writes() == []
    assert elsewhere.requests == []


@pytest.mark.parametrize("status", [302, 307])
def test_no_client_secret_follows_a_token_redirect_to_another_host(
    status: int, desired: Path, elsewhere: HostileServer
) -> None:
    with hostile_server() as server:
        location = other_host_url(elsewhere, TOKEN_PATH)
        server.routes[("POST", TOKEN_PATH)] = lambda r: Response(
            status, b"", {"Location": location}
        )

        run = run_subprocess(server.env(), "plan", str(desired), timeout=60)

        assert_clean_failure(run, "redirected to localhost")
        assert SECRET not in run.output
    assert elsewhere.requests == []
