"""HS256 JSON Web Tokens, written out rather than shared with the client.

The key is random per emulator instance, so a token from another run is "unknown".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    def __init__(self, issuer: str, *, clock: Callable[[], float] = time.time) -> None:
        self.issuer = issuer
        self.clock = clock
        self._key = secrets.token_bytes(32)

    def rotate(self) -> None:
        """Forget every token issued so far (they become unknown)."""
        self._key = secrets.token_bytes(32)

    def issue(self, client_id: str, lifetime: float) -> tuple[str, float]:
        now = self.clock()
        # `exp` may be fractional (RFC 7519 NumericDate) so tests can use short lifetimes.
        exp: float = now + lifetime
        exp_claim: float | int = int(exp) if float(lifetime).is_integer() else round(exp, 3)
        claims = {
            "iss": self.issuer,
            "sub": client_id,
            "aud": "planview-admin",
            "iat": int(now),
            "exp": exp_claim,
            "jti": secrets.token_hex(8),
        }
        signing_input = (
            _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
            + "."
            + _b64(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}", float(exp_claim)

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid, unexpired token of ours; None otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        expected = hmac.new(self._key, signing_input, hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(expected, _unb64(parts[2])):
                return None
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return None
        if header.get("alg") != "HS256" or not isinstance(claims, dict):
            return None
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp <= self.clock():
            return None
        return claims
