"""Which users the reconciler may look at, and which it must never change."""

from __future__ import annotations

from reconciler.globs import protecting_pattern
from reconciler.model import Settings, email_key


def email_domain(email: str) -> str:
    return email_key(email).rpartition("@")[2]


class Scope:
    """`settings.scope.emailDomains` and `settings.protectedUsers`, compiled once."""

    def __init__(self, settings: Settings) -> None:
        domains = settings.scope_email_domains
        self._domains = None if domains is None else frozenset(d.casefold() for d in domains)
        # The same matcher validation uses, so both agree on what a glob means.
        self.protected_by = protecting_pattern(settings.protected_users)
        # Nothing out of scope and nothing protected: diff then skips asking per user.
        self.unrestricted = self._domains is None and not settings.protected_users

    def contains(self, email: str) -> bool:
        return self._domains is None or email_domain(email) in self._domains

    def manages(self, email: str) -> bool:
        """In scope and not protected: the users a percentage removal limit counts."""
        return self.contains(email) and self.protected_by(email) is None
