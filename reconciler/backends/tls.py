"""How every backend reaches its service over HTTP: which certificate authorities it
trusts, where plain http is allowed, and the client it sends requests with.

The default is the union of what httpx trusts by default (certifi's Mozilla bundle, or
the file or folder SSL_CERT_FILE / SSL_CERT_DIR name) and the system's trust store
(where an administrator installs a corporate CA). `--ca-bundle` adds to that: users
behind a TLS-inspecting proxy need their proxy's CA as well as, never instead of, the
public ones.
"""

from __future__ import annotations

import ipaddress
import ssl

import httpx

from reconciler import __version__
from reconciler.errors import ConfigError


def trust_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A client context that always verifies certificates and host names."""
    context = httpx.create_ssl_context()
    context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if ca_bundle:
        try:
            context.load_verify_locations(cafile=ca_bundle)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"--ca-bundle {ca_bundle!r} cannot be used: it is not a PEM file of CA "
                f"certificates ({exc.reason or exc})."
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"--ca-bundle {ca_bundle!r} cannot be used: {exc.strerror or exc}."
            ) from None
    return context


def is_loopback(host: str) -> bool:
    """Plain http is allowed only to this machine (a local emulator or test server)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_client(
    base_url: str,
    *,
    ca_bundle: str | None,
    timeout: float,
    concurrency: int,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """The HTTP client every backend uses: certificates always verified (the default
    store plus `ca_bundle`), redirects never followed (a redirect could carry the
    bearer token elsewhere), a connection per worker and two spare."""
    return httpx.Client(
        base_url=base_url,
        verify=trust_context(ca_bundle),
        follow_redirects=False,
        timeout=timeout,
        limits=httpx.Limits(
            max_connections=concurrency + 2,
            max_keepalive_connections=concurrency + 2,
        ),
        headers={"User-Agent": f"planview-admin-reconciler/{__version__}"},
        transport=transport,
    )
