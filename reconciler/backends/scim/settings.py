"""How to reach a SCIM 2.0 service provider: the settings the CLI fills in.

Credentials come from the environment or a file, never from a command-line value (a
process list shows arguments to every user of the machine): a static bearer token in
`SCIM_TOKEN` or `--token-file`, or OAuth2 client credentials (`--token-url` with
`SCIM_CLIENT_ID` and `SCIM_CLIENT_SECRET`) for providers that issue short-lived tokens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

import httpx

from reconciler.backends.tls import checked_url as backends_checked_url
from reconciler.errors import ConfigError
from reconciler.redact import register_secret, safe_url

ENV_URL = "SCIM_URL"
ENV_TOKEN = "SCIM_TOKEN"
ENV_CLIENT_ID = "SCIM_CLIENT_ID"
ENV_CLIENT_SECRET = "SCIM_CLIENT_SECRET"

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_PAGES = 1_000
# A provider may announce a huge filter.maxResults; pages beyond this size gain nothing
# and risk answers too large to read (see wire.MAX_ANSWER_BYTES).
MAX_PAGE_SIZE = 1_000


@dataclass(frozen=True, slots=True)
class ScimSettings:
    url: str
    token: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None  # OAuth2 scope, for providers that want one
    ca_bundle: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_pages: int = DEFAULT_MAX_PAGES
    concurrency: int = 4
    retries: int = 5
    backoff_base: float = 0.25
    rate_reserve: int = 10
    max_rps: float | None = None
    max_wait: float = 300.0
    max_throttled: int = 10

    def __repr__(self) -> str:  # the token and secret must not show up in a traceback or log
        return (
            f"ScimSettings(url={safe_url(self.url)!r}, "
            f"token_url={safe_url(self.token_url or '')!r}, ...)"
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        url: str | None = None,
        token_file: str | None = None,
        token_url: str | None = None,
        **options: object,
    ) -> ScimSettings:
        """Settings from the command line's values and the environment: `url` falls back
        to SCIM_URL; the token is read from `token_file`, else SCIM_TOKEN; with
        `token_url`, the client credentials come from SCIM_CLIENT_ID/SCIM_CLIENT_SECRET."""
        env = os.environ if environ is None else environ
        token: str | None = None
        if token_file is not None:
            token = read_secret_file(token_file, "--token-file")
        elif not token_url:
            token = env.get(ENV_TOKEN) or None
        settings = cls(
            url=url or env.get(ENV_URL, ""),
            token=token,
            token_url=token_url or None,
            client_id=env.get(ENV_CLIENT_ID) or None,
            client_secret=env.get(ENV_CLIENT_SECRET) or None,
        )
        return replace(settings, **options)  # type: ignore[arg-type]

    def validate(self) -> httpx.URL:
        """Raise `ConfigError` naming every unusable setting; return the base URL."""
        problems: list[str] = []
        if not self.url:
            problems.append(f"the SCIM base URL is missing (--url or {ENV_URL})")
        if self.token_url:
            if self.token:
                problems.append(
                    "both a bearer token and --token-url are given; use one way to sign in"
                )
            if not self.client_id:
                problems.append(f"the client id is missing ({ENV_CLIENT_ID})")
            if not self.client_secret:
                problems.append(f"the client secret is missing ({ENV_CLIENT_SECRET})")
        elif not self.token:
            problems.append(
                f"no credentials: set {ENV_TOKEN}, pass --token-file, or use --token-url with "
                f"{ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}"
            )
        if problems:
            raise ConfigError("Cannot connect to the SCIM service: " + "; ".join(problems) + ".")
        register_secret(self.token)
        register_secret(self.client_secret)
        base = checked_url(self.url, "--url")
        if self.token_url:
            checked_url(self.token_url, "--token-url")
        numbers = [
            (self.timeout > 0, "--timeout must be more than 0"),
            (self.max_pages >= 1, "--max-pages must be at least 1"),
            (self.concurrency >= 1, "--concurrency must be at least 1"),
            (self.retries >= 0, "--retries must be 0 or more"),
            (self.rate_reserve >= 0, "--rate-reserve must be 0 or more"),
            (self.max_rps is None or self.max_rps > 0, "--max-rps must be more than 0"),
            (self.max_wait > 0, "--max-wait must be more than 0"),
        ]
        bad = [message for ok, message in numbers if not ok]
        if bad:
            raise ConfigError("; ".join(bad).capitalize() + ".")
        return base


def checked_url(value: str, option: str) -> httpx.URL:
    """An https URL (plain http only on loopback) without credentials in it."""
    sign_in = f"{ENV_TOKEN}, --token-file or the client credentials"
    url = backends_checked_url(value, option, sign_in=sign_in)
    return url.copy_with(query=None, fragment=None)


def read_secret_file(path: str, option: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"{option} {path!r} cannot be read: {reason}.") from None
    if not value:
        raise ConfigError(f"{option} {path!r} is empty.")
    if any(ch in value for ch in "\r\n"):
        raise ConfigError(f"{option} {path!r} must hold the token on a single line.")
    register_secret(value)
    return value
