"""Errors every stage may raise, and the exit codes the CLI maps them to.

The CLI prints `str(error)` and exits with `error.exit_code`; nothing else of an
error reaches the user, so messages must be complete sentences and carry no secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.model import SourcePos

# Terraform's -detailed-exitcode convention, plus one code of our own.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2  # plan has changes / drift found (only when asked for)
EXIT_BLOCKED = 3  # plan blocked by a safety rule


class ReconcilerError(Exception):
    """Base of every error the tool expects; anything else is a bug."""

    exit_code: int = EXIT_ERROR


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in the desired state, pointed at a place in a file."""

    message: str
    pos: SourcePos | None = None
    path: str = ""  # the node's path in the document, e.g. users[3].email

    def __str__(self) -> str:
        where = f"{self.pos}: " if self.pos else ""
        at = f" (at {self.path})" if self.path else ""
        return f"{where}{self.message}{at}"


class InputError(ReconcilerError):
    """The desired state could not be loaded or is invalid; carries every problem found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = list(diagnostics)
        count = len(self.diagnostics)
        summary = f"{count} error{'s' if count != 1 else ''} in the desired state"
        super().__init__(summary + ":\n" + "\n".join(str(d) for d in self.diagnostics))


class ConfigError(ReconcilerError):
    """Missing or unusable connection settings, credentials or options."""


class ApiError(ReconcilerError):
    """The API answered with an error the tool cannot fix by retrying."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ):
        self.status = status
        self.code = code
        self.detail = detail
        self.method = method
        self.path = path
        super().__init__(message)


class TransportError(ReconcilerError):
    """The API could not be reached (after retries), or answered nonsense."""


class WriteOutcomeUnknown(TransportError):
    """A write was sent but its outcome is unknown; callers must read before retrying."""


class StalePlanError(ReconcilerError):
    """A saved plan no longer matches the live records it was made from."""


class PlanError(ReconcilerError):
    """Desired and live state cannot be reconciled (e.g. an alias names no live product)."""


class SafetyBlocked(ReconcilerError):
    exit_code = EXIT_BLOCKED
