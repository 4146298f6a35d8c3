"""Where a command spends its time: cProfile of one whole `reconciler` process.

Profiling roughly doubles pure-Python time, so the figures say where the time goes,
not how long the command takes; the scenario tables say that.
"""

from __future__ import annotations

import pstats
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "reconciler"
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()


@dataclass(frozen=True, slots=True)
class Hotspot:
    where: str  # "reconciler/load/reader.py:mapping" or a builtin's name
    calls: int
    own_seconds: float
    cumulative_seconds: float


@dataclass
class Profile:
    command: str
    total_seconds: float
    ours: list[Hotspot] = field(default_factory=list)  # the package's functions, by cumulative
    own_time: list[Hotspot] = field(default_factory=list)  # anything, by time spent inside
    problem: str | None = None


def profile_argv(output: Path, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "cProfile", "-o", str(output), "-m", "reconciler", *args]


def read_profile(path: Path, command: str, top: int = 20) -> Profile:
    stats = pstats.Stats(str(path))
    raw = stats.stats  # type: ignore[attr-defined]
    total = max((entry[3] for entry in raw.values()), default=0.0)
    spots = [Hotspot(_where(func), entry[1], entry[2], entry[3]) for func, entry in raw.items()]
    # Entry points and the CLI shell wrap everything, and module bodies are import
    # time: none of them says where the work goes.
    ours = [
        s
        for s in spots
        if s.where.startswith("reconciler/")
        and not s.where.startswith(("reconciler/__main__", "reconciler/cli/main.py"))
        and not s.where.endswith(":<module>")
    ]
    ours.sort(key=lambda s: s.cumulative_seconds, reverse=True)
    own = sorted(spots, key=lambda s: s.own_seconds, reverse=True)
    return Profile(command, total, ours[:top], own[:top])


def _where(func: tuple[str, int, str]) -> str:
    filename, _line, name = func
    if filename == "~":  # a builtin: cProfile names it "<method 'x' of 'y' objects>"
        return name
    path = Path(filename)
    parts = path.parts
    # Before the repository: a virtualenv may live inside it (.venv/).
    if "site-packages" in parts:
        inside = parts[parts.index("site-packages") + 1 :]
        # A module that is a single file (`six.py`) keeps its folder, so that it is not
        # taken for a file of this repository.
        return "/".join(inside if len(inside) > 1 else ("site-packages", *inside)) + f":{name}"
    try:
        return f"{path.resolve().relative_to(REPO)}:{name}"
    except ValueError:
        pass
    # The standard library by its package path (`json/encoder.py`), so a reader (and the
    # docs' symbol check) can tell it from a file of this repository.
    try:
        inside = path.resolve().relative_to(STDLIB)
        # `contextlib.py` alone would read as a file of this repository.
        return f"{inside.as_posix() if len(inside.parts) > 1 else 'stdlib/' + inside.name}:{name}"
    except ValueError:
        return f"{path.name}:{name}"
