"""Connection options every command that talks to a tenant shares.

`--backend planview|scim` picks the service; each backend's options are grouped under
their own heading in `--help`. Secrets never come from a plain flag (process lists
show arguments): the Planview client secret comes from PLANVIEW_ADMIN_CLIENT_SECRET or
--client-secret-file; a SCIM token from SCIM_TOKEN or --token-file, or client
credentials from SCIM_CLIENT_ID and SCIM_CLIENT_SECRET.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler.backends.planview import ClientSettings, PlanviewBackend
from reconciler.backends.planview.backend import DEFAULT_RETRIES, DEFAULT_TIMEOUT
from reconciler.backends.planview.paging import DEFAULT_MAX_PAGES
from reconciler.backends.planview.wire import ANSWER_TIMEOUTS
from reconciler.errors import ConfigError
from reconciler.redact import register_secret

if TYPE_CHECKING:
    from reconciler.backends.base import Backend

F = TypeVar("F", bound=Callable[..., Any])

SECRET_ENV = "PLANVIEW_ADMIN_CLIENT_SECRET"
BACKEND_ENV = "RECONCILER_BACKEND"
BACKENDS = ("planview", "scim")
# The environment variable --url falls back to, per backend.
URL_ENV = {"planview": "PLANVIEW_ADMIN_URL", "scim": "SCIM_URL"}

# Headings of `--help`, and which options go under each (the rest: "Options").
SECTIONS: dict[str, tuple[str, ...]] = {
    "Connection (every backend)": (
        "--backend", "--url", "--ca-bundle", "--rate-reserve", "--max-rps",
        "--concurrency", "--max-wait", "--timeout", "--max-pages",
    ),
    "Planview Admin (--backend planview)": (
        "--client-id", "--client-secret-file", "--read-ahead",
    ),
    "SCIM 2.0 (--backend scim)": ("--token-file", "--token-url"),
}  # fmt: skip


class ConnectionCommand(click.Command):
    """A command whose `--help` lists the connection options by backend."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: dict[str, list[tuple[str, str]]] = {"Options": []}
        heading = {name: title for title, names in SECTIONS.items() for name in names}
        for param in self.get_params(ctx):
            if isinstance(param, click.Argument):
                continue
            record = param.get_help_record(ctx)
            if record is None:
                continue
            title = next(
                (heading[o] for o in param.opts if o in heading),
                "Options",
            )
            rows.setdefault(title, []).append(record)
        for title in ("Options", *SECTIONS):
            if rows.get(title):
                with formatter.section(title):
                    formatter.write_dl(rows[title])


_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        envvar=BACKEND_ENV,
        default="planview",
        show_default=True,
        help="The service to reconcile: Planview Admin, or any SCIM 2.0 service provider "
        f"(see docs/scim.md) [env: {BACKEND_ENV}].",
    ),
    click.option(
        "--url",
        metavar="URL",
        help="Base URL: Planview Admin's (e.g. https://us.id.planview.com) [env: "
        "PLANVIEW_ADMIN_URL], or the SCIM base URL under which /Users and /Groups live "
        "[env: SCIM_URL]. https only (http for loopback addresses).",
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
        "--token-file",
        type=click.Path(dir_okay=False),
        metavar="PATH",
        help="Read the SCIM bearer token from this file. Otherwise it is read from "
        "SCIM_TOKEN; it is never accepted as a plain flag.",
    ),
    click.option(
        "--token-url",
        envvar="SCIM_TOKEN_URL",
        metavar="URL",
        help="Sign in with OAuth2 client credentials at this token endpoint instead of a "
        "bearer token; the client id and secret come from SCIM_CLIENT_ID and "
        "SCIM_CLIENT_SECRET [env: SCIM_TOKEN_URL].",
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
    click.option(
        "--read-ahead/--no-read-ahead",
        default=True,
        show_default=True,
        help="Ask for a listing's next pages before the current one is answered (up to "
        "--concurrency in flight): faster at high latency, at the cost of at most "
        "--concurrency - 1 reads past each listing's end. --no-read-ahead reads at exactly "
        "the paging minimum. SCIM always reads one page after another.",
    ),
]

def connection_options(command: F) -> F:
    """Add --backend, --url, each backend's credentials options, --ca-bundle,
    --rate-reserve, --max-rps, --concurrency, --max-wait, --timeout, --max-pages and
    --read-ahead to a click command (declare it with `cls=ConnectionCommand` to group
    them in --help)."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def read_secret(client_secret_file: str | None) -> str:
    if client_secret_file:
        try:
            if client_secret_file == "-":
                secret = sys.stdin.read()
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
    read_ahead: bool = True,
    **_other: Any,
) -> ClientSettings:
    settings = ClientSettings(
        url=(url or os.environ.get(URL_ENV["planview"], "")).strip(),
        client_id=(client_id or "").strip(),
        client_secret=read_secret(client_secret_file),
        ca_bundle=ca_bundle,
        rate_reserve=rate_reserve,
        max_rps=max_rps,
        concurrency=concurrency,
        max_wait=max_wait,
        timeout=timeout,
        max_pages=max_pages,
        read_ahead=read_ahead,
    )
    settings.validate()
    return settings


def open_backend(**options: Any) -> Backend:
    """A backend from the options `connection_options` added (others are ignored)."""
    name = options.get("backend") or "planview"
    if name == "scim":
        return _open_scim(**options)
    for option, given in (("--token-file", "token_file"), ("--token-url", "token_url")):
        if options.get(given):
            raise ConfigError(f"{option} is a SCIM option: add --backend scim to use it.")
    return PlanviewBackend(settings_from_options(**options))


# Connection options that mean the same for every backend, by their keyword names.
SHARED_SETTINGS = (
    "ca_bundle", "rate_reserve", "max_rps", "concurrency", "max_wait", "timeout", "max_pages",
)  # fmt: skip


def _open_scim(**options: Any) -> Backend:
    from reconciler.backends.scim import ScimSettings, open_scim_backend

    if options.get("client_secret_file"):
        raise ConfigError(
            "--client-secret-file is a Planview option: for SCIM client credentials set "
            "SCIM_CLIENT_ID and SCIM_CLIENT_SECRET with --token-url."
        )
    shared = {name: options[name] for name in SHARED_SETTINGS if options.get(name) is not None}
    settings = ScimSettings.from_env(
        url=(options.get("url") or "").strip() or None,
        token_file=options.get("token_file"),
        token_url=options.get("token_url"),
        **shared,
    )
    settings.validate()
    return open_scim_backend(settings)


def print_stats(backend: Any) -> None:
    """The closing line of every command that used the API, on stderr (`api.summary`);
    the same figures go to the run's metrics."""
    from reconciler.cli.logs import emit
    from reconciler.cli.metrics import record_stats

    stats = backend.stats()
    record_stats(stats)
    emit(
        "api.summary",
        "info",
        stats.summary(),
        requests=stats.requests,
        throttled=stats.throttled,
        retries=stats.retries,
        wait_seconds=round(stats.wait_seconds, 3),
    )
