"""Connection options every command that talks to the API shares.

The client secret never comes from a plain flag (process lists show arguments): it
comes from PLANVIEW_ADMIN_CLIENT_SECRET or from a file named by --client-secret-file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from reconciler.backends.planview import ClientSettings, PlanviewBackend
from reconciler.backends.planview.backend import DEFAULT_RETRIES, DEFAULT_TIMEOUT
from reconciler.backends.planview.paging import DEFAULT_MAX_PAGES
from reconciler.backends.planview.wire import ANSWER_TIMEOUTS
from reconciler.errors import ConfigError
from reconciler.redact import register_secret

F = TypeVar("F", bound=Callable[..., Any])

SECRET_ENV = "PLANVIEW_ADMIN_CLIENT_SECRET"

_OPTIONS = [
    click.option(
        "--url",
        envvar="PLANVIEW_ADMIN_URL",
        metavar="URL",
        help="Planview Admin base URL, e.g. https://us.id.planview.com "
        "[env: PLANVIEW_ADMIN_URL]. https only (http for loopback addresses).",
    ),
    click.option(
        "--client-id",
        envvar="PLANVIEW_ADMIN_CLIENT_ID",
        metavar="ID",
        help="API client id [env: PLANVIEW_ADMIN_CLIENT_ID].",
    ),
    click.option(
        "--client-secret-file",
        type=click.Path(dir_okay=False, allow_dash=True),
        metavar="PATH",
        help=f"Read the API client secret from this file ('-' for stdin). Otherwise it is "
        f"read from {SECRET_ENV}; it is never accepted as a plain flag.",
    ),
    click.option(
        "--ca-bundle",
        type=click.Path(exists=True, dir_okay=False),
        envvar="PLANVIEW_ADMIN_CA_BUNDLE",
        metavar="PATH",
        help="Extra trusted CA certificates (PEM), e.g. for a TLS-inspecting proxy, added to "
        "the default trust store (never replacing it). Certificates are always verified "
        "[env: PLANVIEW_ADMIN_CA_BUNDLE].",
    ),
    click.option(
        "--rate-reserve",
        type=click.IntRange(min=0),
        default=10,
        show_default=True,
        metavar="N",
        help="Rate-limit points to leave for the customer's other integrations: when only "
        "N remain, wait for the window to refill.",
    ),
    click.option(
        "--max-rps",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        metavar="RPS",
        help="Never send more than this many requests per second (default: no cap).",
    ),
    click.option(
        "--concurrency",
        type=click.IntRange(1, 32),
        default=4,
        show_default=True,
        metavar="N",
        help="Requests in flight at once (reads and writes share one rate budget).",
    ),
    click.option(
        "--max-wait",
        type=click.FloatRange(min=0, min_open=True),
        default=300.0,
        show_default=True,
        metavar="SECONDS",
        help="Longest single wait for the rate limit: a longer Retry-After, or a refill "
        "due later than this, ends the command with an error instead of a stall.",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        envvar="PLANVIEW_ADMIN_TIMEOUT",
        default=DEFAULT_TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        help="Give up on one attempt of a request when the server is silent this long (to "
        f"connect, or between bytes of its answer), or when the whole answer takes over "
        f"{ANSWER_TIMEOUTS} x SECONDS. A read is tried {DEFAULT_RETRIES + 1} times, so a "
        "server that accepts and never answers fails the command after about SECONDS x "
        f"{DEFAULT_RETRIES + 1} plus at most 8 s of back-off "
        "[env: PLANVIEW_ADMIN_TIMEOUT].",
    ),
    click.option(
        "--max-pages",
        type=click.IntRange(min=1),
        envvar="PLANVIEW_ADMIN_MAX_PAGES",
        default=DEFAULT_MAX_PAGES,
        show_default=True,
        metavar="N",
        help="Most pages one listing may take before the server is taken to be looping "
        "and the command fails. The default holds 500,000 users, or 200,000 audit events "
        "(pages of 500 and 200), at the largest page sizes the API serves; raise it only "
        "if the API caps pages far below those [env: PLANVIEW_ADMIN_MAX_PAGES].",
    ),
]

def connection_options(command: F) -> F:
    """Add --url, --client-id, --client-secret-file, --ca-bundle, --rate-reserve,
    --max-rps, --concurrency, --max-wait, --timeout and --max-pages to a click command."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def read_secret(client_secret_file: str | None) -> str:
    if client_secret_file:
        try:
            if client_secret_file == "-":
                secret = click.get_text_stream("stdin").read()
            else:
                with open(client_secret_file, encoding="utf-8") as handle:
                    secret = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
            raise ConfigError(
                f"Cannot read the client secret from {client_secret_file}: {reason}."
            ) from None
        secret = secret.strip()
        if not secret:
            raise ConfigError(f"The client secret file {client_secret_file} is empty.")
    else:
        secret = os.environ.get(SECRET_ENV, "").strip()
    register_secret(secret)
    return secret


def settings_from_options(
    *,
    url: str | None = None,
    client_id: str | None = None,
    client_secret_file: str | None = None,
    ca_bundle: str | None = None,
    rate_reserve: int = 10,
    max_rps: float | None = None,
    concurrency: int = 4,
    max_wait: float = 300.0,
    timeout: float = DEFAULT_TIMEOUT,
    max_pages: int = DEFAULT_MAX_PAGES,
    **_other: Any,
) -> ClientSettings:
    settings = ClientSettings(
        url=(url or "").strip(),
        client_id=(client_id or "").strip(),
        client_secret=read_secret(client_secret_file),
        ca_bundle=ca_bundle,
        rate_reserve=rate_reserve,
        max_rps=max_rps,
        concurrency=concurrency,
        max_wait=max_wait,
        timeout=timeout,
        max_pages=max_pages,
    )
    settings.validate()
    return settings


def open_backend(**options: Any) -> PlanviewBackend:
    """A backend from the options `connection_options` added (others are ignored)."""
    return PlanviewBackend(settings_from_options(**options))


def print_stats(backend: Any) -> None:
    """The closing line of every command that used the API, on stderr."""
    click.echo(backend.stats().summary(), err=True)
