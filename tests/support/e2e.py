"""The end-to-end scenario of tests/fixtures/e2e, and variants of its desired state."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "e2e"
DESIRED = FIXTURES / "desired.yaml"


def variant(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    """desired.yaml with a setting changed, for scenarios that differ only in that."""
    text = DESIRED.read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path
