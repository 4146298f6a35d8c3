"""--since: the forms a person types, and clear errors for the rest."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from reconciler.cli.drift_cmd import parse_since
from reconciler.errors import ConfigError

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=timezone.utc)),
        ("2026-11-01T09:30:00Z", datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)),
        ("2026-11-01T10:30:00+01:00", datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)),
        ("36h", NOW - timedelta(hours=36)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
    ],
)
def test_accepted_forms(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "7", "2026-13-01", "", "7 days"])
def test_rejected_with_a_hint(text: str) -> None:
    with pytest.raises(ConfigError, match="ISO-8601"):
        parse_since(text, NOW)


def test_future_is_refused() -> None:
    with pytest.raises(ConfigError, match="future"):
        parse_since("2027-01-01", NOW)
