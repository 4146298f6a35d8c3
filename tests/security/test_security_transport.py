"""Transport safety: certificates are verified, plain http only to loopback, and
credentials never follow a redirect to another host."""

from __future__ import annotations

import shutil
import ssl
import subprocess
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

from reconciler.backends.tls import trust_context


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


# ------------------------------------------------------------------ --ca-bundle adds trust


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """(certificate, key) of a CA named `name`, as a corporate proxy or a public CA has."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not available")
    cert, key = directory / f"{name}-ca.pem", directory / f"{name}-ca.key"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-days", "1", "-subj", f"/CN=Reconciler test CA {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", str(key), "-out", str(cert),
    )  # fmt: skip
    return cert, key


def make_server_cert(directory: Path, ca: tuple[Path, Path], name: str) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, signed by `ca`."""
    cert, key, csr = (directory / f"{name}.{ext}" for ext in ("pem", "key", "csr"))
    extensions = directory / f"{name}.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr),
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-days", "1", "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    return cert, key


def server_with(cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*cert)
    return context


def test_a_ca_bundle_adds_to_the_default_trust_store(tmp_path: Path, desired: Path) -> None:
    """Behind a TLS-inspecting proxy, --ca-bundle names the proxy's CA; the CAs the
    machine already trusts (here: SSL_CERT_FILE, as OpenSSL and httpx read it) must stay
    trusted, or every other certificate would fail the moment the bundle is given."""
    public_ca, proxy_ca = make_ca(tmp_path, "public"), make_ca(tmp_path, "proxy")
    public_cert = make_server_cert(tmp_path, public_ca, "public-server")
    proxy_cert = make_server_cert(tmp_path, proxy_ca, "proxy-server")
    trust = {"SSL_CERT_FILE": str(public_ca[0]), "SSL_CERT_DIR": str(tmp_path / "none")}

    with hostile_server(tls=server_with(public_cert)) as server:
        run = run_subprocess({**server.env(), **trust}, "plan", str(desired), timeout=60)
        assert run.code == 0, run.output  # the guard: the default store is this CA

        run = run_subprocess(
            {**server.env(), **trust}, "plan", str(desired), "--ca-bundle", str(proxy_ca[0]),
            timeout=60,
        )  # fmt: skip
        assert run.code == 0, run.output
        assert "new.person@example.com" in run.stdout

    with hostile_server(tls=server_with(proxy_cert)) as server:
        run = run_subprocess({**server.env(), **trust}, "plan", str(desired), timeout=60)
        assert_clean_failure(run, "certificate verify failed", "--ca-bundle")

        run = run_subprocess(
            {**server.env(), **trust}, "plan", str(desired), "--ca-bundle", str(proxy_ca[0]),
            timeout=60,
        )  # fmt: skip
        assert run.code == 0, run.output
        assert "new.person@example.com" in run.stdout


def test_the_default_store_is_still_loaded_with_a_ca_bundle(
    certificate: tuple[Path, Path],
) -> None:
    default = trust_context(None).cert_store_stats()["x509_ca"]
    bundle_alone = ssl.create_default_context(cafile=str(certificate[0]))

    with_bundle = trust_context(str(certificate[0])).cert_store_stats()["x509_ca"]

    assert bundle_alone.cert_store_stats()["x509_ca"] == 1
    assert default > 1  # the machine's and httpx's CAs
    assert with_bundle == default + 1


@pytest.mark.parametrize(
    ("bundle", "expected"),
    [
        ("missing.pem", "does not exist"),
        ("not-pem.pem", "not a PEM file of CA certificates"),
        ("empty.pem", "not a PEM file of CA certificates"),
        (".", "is a directory"),
    ],
)
def test_an_unusable_ca_bundle_is_a_clear_error(
    bundle: str, expected: str, tmp_path: Path, desired: Path
) -> None:
    (tmp_path / "not-pem.pem").write_text("-----BEGIN NOTHING-----\nzz\n")
    (tmp_path / "empty.pem").write_text("")
    env = {
        "PLANVIEW_ADMIN_URL": "https://127.0.0.1:9",
        "PLANVIEW_ADMIN_CLIENT_ID": CLIENT_ID,
        "PLANVIEW_ADMIN_CLIENT_SECRET": SECRET,
    }

    run = run_subprocess(
        env, "plan", str(desired), "--ca-bundle", str(tmp_path / bundle), timeout=15
    )

    assert_clean_failure(run, "--ca-bundle", expected)
    assert "API:" not in run.stderr  # nothing was sent


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
