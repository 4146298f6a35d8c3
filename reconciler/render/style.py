"""Terminal styling for renderers, without the CLI.

Renderers decide *what* is highlighted; whether colour is wanted at all is the caller's
decision (`reconciler.cli.output.colour_enabled()`), passed in as `colour`. The escape
codes are the ones `click.style` writes, so output is the same whichever a command used.
"""

from __future__ import annotations

_COLOURS: dict[str, int] = {
    "black": 30,
    "red": 31,
    "green": 32,
    "yellow": 33,
    "blue": 34,
    "magenta": 35,
    "cyan": 36,
    "white": 37,
    "reset": 39,
    **{
        f"bright_{name}": code + 60
        for name, code in (
            ("black", 30),
            ("red", 31),
            ("green", 32),
            ("yellow", 33),
            ("blue", 34),
            ("magenta", 35),
            ("cyan", 36),
            ("white", 37),
        )
    },
}
_RESET = "\033[0m"


def style(
    text: str,
    colour: bool,
    *,
    fg: str | None = None,
    bold: bool | None = None,
    dim: bool | None = None,
    underline: bool | None = None,
) -> str:
    """`text` with ANSI styling when `colour` is true, unchanged otherwise.

    As with `click.style`, None leaves an attribute alone and False switches it off."""
    if not colour:
        return text
    bits: list[str] = []
    if fg is not None:
        if fg not in _COLOURS:
            raise ValueError(f"unknown terminal colour {fg!r}")
        bits.append(f"\033[{_COLOURS[fg]}m")
    if bold is not None:
        bits.append(f"\033[{1 if bold else 22}m")
    if dim is not None:
        bits.append(f"\033[{2 if dim else 22}m")
    if underline is not None:
        bits.append(f"\033[{4 if underline else 24}m")
    return "".join(bits) + text + _RESET
