"""Defence in depth for secrets: every value registered here is masked in log output.

The client never formats a secret or token into a message in the first place; this
filter catches what a library (httpx, for one, logs request lines) might print.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import unquote

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "***"


def register_secret(value: str | None) -> None:
    # Very short values would mask ordinary words; real secrets and tokens are long.
    if value and len(value) >= 8:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


# "scheme://" (any scheme, even one the client refuses) or a bare "//"
_AUTHORITY_START = re.compile(r"^\s*(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//")


def safe_url(url: str) -> str:
    """`url` as it may be shown: without a user name or password, however malformed.

    Everything between the scheme and the last "@" is dropped. The last "@" of the
    whole text counts, not the first one before a "/": a password typed with a raw
    "/", "?" or "#" breaks URL syntax, and its tail must not survive as a "path". (A
    base URL has no "@" in its path, so nothing a user needs to see is lost.)
    Whatever is dropped is registered as a secret, so a copy of it that reaches
    output some other way is masked as well.
    """
    start = _AUTHORITY_START.match(url)
    head = url[: start.end()] if start else ""
    rest = url[len(head) :]
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    user, _, password = userinfo.partition(":")
    for value in (userinfo, user, password):
        register_secret(value)
        register_secret(unquote(value))
    return head + host


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
