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
from reconciler.redact import safe_url


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


def checked_url(value: str, option: str, *, sign_in: str) -> httpx.URL:
    """`value` as an https URL (plain http only to loopback) with no credentials in it;
    `sign_in` says how to sign in instead. `ConfigError` naming `option` otherwise."""
    shown = safe_url(value)
    # Checked first, on the raw text: whatever else is wrong with the URL, the
    # credentials are what the user must remove (and perhaps rotate), never echoed.
    if shown != value:
        raise ConfigError(
            f"{option} must not contain credentials (a user name or password before '@'): "
            f"use {sign_in} instead. The URL without them: {shown!r}."
        )
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ConfigError(f"{option} {shown!r} is not a valid URL.") from None
    if url.scheme not in ("https", "http") or not url.host:
        raise ConfigError(f"{option} {shown!r} must be an https:// URL with a host name.")
    if url.scheme == "http" and not is_loopback(url.host):
        raise ConfigError(
            f"{option} {shown!r} uses plain http; only https is allowed (http is accepted "
            "for loopback addresses only, e.g. a local emulator)."
        )
    if url.userinfo:  # only if httpx finds credentials where safe_url did not
        raise ConfigError(f"{option} must not contain credentials; use {sign_in}.")
    return url


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
