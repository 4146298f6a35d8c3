"""Which certificate authorities the client trusts.

The default is the union of what httpx trusts by default (certifi's Mozilla bundle, or
the file or folder SSL_CERT_FILE / SSL_CERT_DIR name) and the system's trust store
(where an administrator installs a corporate CA). `--ca-bundle` adds to that: users
behind a TLS-inspecting proxy need their proxy's CA as well as, never instead of, the
public ones.
"""

from __future__ import annotations

import ssl

import httpx

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
