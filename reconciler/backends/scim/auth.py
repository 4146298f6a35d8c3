"""Bearer tokens for SCIM requests: a static one, or OAuth2 client credentials.

Both expose `token()` and `invalidate(token)`, which is all the transport needs. A
static token refused with 401 cannot get better by asking again; a client-credentials
token is fetched anew once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from reconciler.backends.planview.retry import Backoff, certificate_refused, describe_failure
from reconciler.backends.planview.wire import AnswerTooLarge, exchange
from reconciler.errors import ConfigError, TransportError
from reconciler.redact import register_secret

# Renew this long before the token's announced end, so none expires on the way.
RENEW_MARGIN = 60.0
RENEW_SHARE = 0.1
# When the token endpoint does not say how long a token lives, renew after this long.
DEFAULT_LIFETIME = 300.0


class TokenSource(Protocol):
    #: True when `invalidate` leads to a different token (a 401 is worth one more try).
    renewable: bool

    def token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...


class StaticToken:
    renewable = False

    def __init__(self, token: str) -> None:
        register_secret(token)
        self._token = token

    def token(self) -> str:
        return self._token

    def invalidate(self, token: str) -> None:
        return None


class ClientCredentials:
    """RFC 6749 §4.4: POST grant_type=client_credentials with HTTP Basic client
    authentication; the `access_token` is kept in memory only. Thread-safe."""

    renewable = True

    def __init__(
        self,
        client: httpx.Client,
        token_url: str,
        *,
        client_id: str,
        client_secret: str,
        scope: str | None,
        backoff: Backoff,
        answer_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        register_secret(client_secret)
        self._client = client
        self._url = token_url
        self._id = client_id
        self._secret = client_secret
        self._scope = scope
        self._backoff = backoff
        self._answer_seconds = answer_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token = self._fetch()
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> str:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        for attempt in range(self._backoff.attempts + 1):
            try:
                response, content = exchange(
                    self._client,
                    "POST",
                    self._url,
                    limit_seconds=self._answer_seconds,
                    data=form,
                    auth=(self._id, self._secret),
                )
            except AnswerTooLarge as exc:
                raise TransportError(f"The token endpoint's answer: {exc}.") from None
            except httpx.TransportError as exc:
                if certificate_refused(exc) or attempt == self._backoff.attempts:
                    raise TransportError(
                        f"Could not get a token from --token-url ({describe_failure(exc)})."
                    ) from None
                time.sleep(self._backoff.delay(attempt))
                continue
            status = response.status_code
            if (status >= 500 or status == 429) and attempt < self._backoff.attempts:
                time.sleep(self._backoff.delay(attempt))
                continue
            return self._accept(status, response, content)
        raise AssertionError("unreachable")  # pragma: no cover

    def _accept(self, status: int, response: httpx.Response, content: bytes) -> str:
        if 300 <= status < 400:
            host = httpx.URL(response.headers.get("location", "")).host or "an unnamed host"
            raise TransportError(
                f"The token endpoint redirected to {host} (HTTP {status}); redirects are not "
                "followed, so the client secret never leaves the configured host."
            )
        body = _json_or_none(content)
        if status in (400, 401, 403):
            code = body.get("error") if isinstance(body, dict) else None
            raise ConfigError(
                f"The token endpoint refused the client credentials (HTTP {status}"
                f"{', ' + str(code) if code else ''}). Check SCIM_CLIENT_ID and "
                "SCIM_CLIENT_SECRET."
            )
        if status != 200:
            raise TransportError(f"The token endpoint answered HTTP {status}.")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise TransportError("The token endpoint's answer has no access_token.")
        register_secret(token)
        lifetime = body.get("expires_in") if isinstance(body, dict) else None
        if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or lifetime <= 0:
            lifetime = DEFAULT_LIFETIME
        self._renew_at = self._clock() + lifetime - min(RENEW_MARGIN, lifetime * RENEW_SHARE)
        return token


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
