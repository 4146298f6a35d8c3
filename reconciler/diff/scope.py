"""Which users the reconciler may look at, and which it must never change."""

from __future__ import annotations

from fnmatch import fnmatchcase

from reconciler.model import Settings, email_key


def email_domain(email: str) -> str:
    return email_key(email).rpartition("@")[2]


class Scope:
    """`settings.scope.emailDomains` and `settings.protectedUsers`, compiled once."""

    def __init__(self, settings: Settings) -> None:
        domains = settings.scope_email_domains
        self._domains = None if domains is None else frozenset(d.casefold() for d in domains)
        self._protected = tuple(p.casefold() for p in settings.protected_users)

    def contains(self, email: str) -> bool:
        return self._domains is None or email_domain(email) in self._domains

    def protected_by(self, email: str) -> str | None:
        """The first `protected_users` pattern that matches the email, if any."""
        key = email_key(email)
        for pattern in self._protected:
            if fnmatchcase(key, pattern):
                return pattern
        return None
