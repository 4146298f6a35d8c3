"""`--metrics-file PATH` on plan, apply and drift: the run's figures as OpenMetrics text,
for the Prometheus node exporter's textfile collector (docs/operations.md).

The command records what it learns (`observe_plan`, `record_drift`, `record_apply`;
`print_stats` records the API figures) and the `metrics_option` wrapper writes the
file when the command ends, however it ends: success, changes, drift, a blocked plan
or an error. The file holds counts and timings only, never a name, email or secret.
"""

from __future__ import annotations

import contextvars
import functools
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler.changes import ChangeKind
from reconciler.cli.logs import emit, emit_json_only
from reconciler.errors import EXIT_BLOCKED, EXIT_ERROR, ConfigError, ReconcilerError

F = TypeVar("F", bound=Callable[..., Any])

OUTCOMES = ("success", "changes", "drift", "blocked", "error")

_LAST_RUN = "reconciler_last_run_timestamp_seconds"
# Our own earlier lines for this metric: each outcome keeps the time it last happened,
# so "no successful run in 26 hours" can still be asked after a failed run.
_LAST_RUN_LINE = re.compile(
    rf'^{_LAST_RUN}\{{command="(?P<command>[a-z]+)",outcome="(?P<outcome>[a-z]+)"\}} '
    r"(?P<value>[0-9.eE+]+)$"
)


@dataclass
class RunFigures:
    command: str
    started: float = field(default_factory=time.monotonic)
    counts: dict[str, int] | None = None
    removals: int | None = None
    blocked: bool = False
    has_changes: bool = False
    drifted_users: int | None = None
    failed_changes: int | None = None
    requests: int = 0
    throttled: int = 0
    wait_seconds: float = 0.0


_current: contextvars.ContextVar[RunFigures | None] = contextvars.ContextVar(
    "reconciler_metrics", default=None
)


def observe_plan(plan: Any) -> None:
    """What the run planned: the metrics' counts and, in JSON logs, one `plan.warning`
    event per warning (text mode shows them in the plan on stdout)."""
    figures = _current.get()
    if figures is not None:
        figures.counts = dict(plan.counts())
        figures.removals = plan.safety.removals
        figures.blocked = bool(plan.safety.blocked)
        figures.has_changes = bool(plan.has_changes)
    for warning in plan.warnings:
        emit_json_only("plan.warning", "warning", warning)


def record_drift(drifted_users: int) -> None:
    figures = _current.get()
    if figures is not None:
        figures.drifted_users = drifted_users


def record_apply(failed_changes: int) -> None:
    figures = _current.get()
    if figures is not None:
        figures.failed_changes = failed_changes


def record_stats(stats: Any) -> None:
    figures = _current.get()
    if figures is not None:
        figures.requests = int(stats.requests)
        figures.throttled = int(stats.throttled)
        figures.wait_seconds = float(stats.wait_seconds)


def outcome_of(figures: RunFigures, exit_code: int) -> str:
    if exit_code == EXIT_BLOCKED:
        return "blocked"
    if exit_code not in (0, 2):
        return "error"
    if figures.command == "drift":
        return "drift" if figures.drifted_users else "success"
    if figures.command == "plan" and figures.has_changes:
        return "changes"
    return "success"


def escape_label(value: str) -> str:
    """A label value as OpenMetrics quotes it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(figures: RunFigures, outcome: str, now: float, previous: dict[str, float]) -> str:
    """The whole file. Figures the run never reached (no plan after a connection error)
    are left out rather than written as zeros that would read as "nothing to do"."""
    command = escape_label(figures.command)
    out: list[str] = []

    def family(name: str, kind: str, help_text: str, unit: str | None = None) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        if unit:
            out.append(f"# UNIT {name} {unit}")

    def sample(name: str, value: float, **labels: str) -> None:
        pairs = [f'command="{command}"'] + [f'{k}="{escape_label(v)}"' for k, v in labels.items()]
        out.append(f"{name}{{{','.join(pairs)}}} {_number(value)}")

    if figures.counts is not None:
        family("reconciler_changes", "gauge", "Changes in the plan, by kind.")
        for kind in ChangeKind:
            sample("reconciler_changes", figures.counts.get(kind.value, 0), kind=kind.value)
        family("reconciler_removals", "gauge", "Removals the safety limit counted in the plan.")
        sample("reconciler_removals", figures.removals or 0)
        family("reconciler_blocked", "gauge", "1 if the safety limit blocked the plan, else 0.")
        sample("reconciler_blocked", 1 if figures.blocked else 0)
    if figures.drifted_users is not None:
        family("reconciler_drifted_users", "gauge", "Users that differ from the desired state.")
        sample("reconciler_drifted_users", figures.drifted_users)
    if figures.failed_changes is not None:
        family("reconciler_apply_failed_changes", "gauge", "Changes apply could not make.")
        sample("reconciler_apply_failed_changes", figures.failed_changes)
    family("reconciler_api_requests", "counter", "API requests this run made (from 0 each run).")
    sample("reconciler_api_requests_total", figures.requests)
    family("reconciler_api_rate_limited", "counter", "429 answers this run met (from 0 each run).")
    sample("reconciler_api_rate_limited_total", figures.throttled)
    family(
        "reconciler_rate_budget_wait_seconds",
        "gauge",
        "Seconds this run waited for the rate budget.",
        "seconds",
    )
    sample("reconciler_rate_budget_wait_seconds", round(figures.wait_seconds, 3))
    family("reconciler_run_duration_seconds", "gauge", "How long the run took.", "seconds")
    sample("reconciler_run_duration_seconds", round(time.monotonic() - figures.started, 3))
    family(
        _LAST_RUN,
        "gauge",
        "When a run of this command last ended with this outcome (Unix time).",
        "seconds",
    )
    stamps = dict(previous)
    stamps[outcome] = round(now, 3)
    for name in OUTCOMES:
        if name in stamps:
            sample(_LAST_RUN, stamps[name], outcome=name)
    out.append("# EOF")
    return "\n".join(out) + "\n"


def _previous_stamps(path: Path, command: str) -> dict[str, float]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    stamps: dict[str, float] = {}
    for line in text.splitlines():
        found = _LAST_RUN_LINE.match(line)
        if found and found["command"] == command and found["outcome"] in OUTCOMES:
            stamps[found["outcome"]] = float(found["value"])
    return stamps


def write_atomic(path: Path, text: str) -> None:
    """A temporary file in the same directory, then a rename: the collector reads the
    old file or the new one, never half of one."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # Counts and timings only: readable by the exporter, which runs as another user.
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _check_directory(path: Path) -> None:
    """Refuse before the run, not after an apply has changed the tenant."""
    parent = path.parent
    if not parent.is_dir():
        raise ConfigError(
            f"--metrics-file {path}: the directory {parent} does not exist. Nothing was done."
        )
    if not os.access(parent, os.W_OK):
        raise ConfigError(
            f"--metrics-file {path}: the directory {parent} is not writable. Nothing was done."
        )


def _exit_code(exc: BaseException | None) -> int:
    if exc is None:
        return 0
    if isinstance(exc, click.exceptions.Exit):
        return int(exc.exit_code)
    if isinstance(exc, ReconcilerError):
        return int(exc.exit_code)
    return EXIT_ERROR


def metrics_option(command: str) -> Callable[[F], F]:
    """`--metrics-file PATH` for `command`; the file is written when the command ends."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            target = kwargs.pop("metrics_file", None)
            if target is None:
                return function(*args, **kwargs)
            path = Path(target)
            figures = RunFigures(command)
            token = _current.set(figures)
            failure: BaseException | None = None
            try:
                _check_directory(path)
                return function(*args, **kwargs)
            except BaseException as exc:
                failure = exc
                raise
            finally:
                _current.reset(token)
                _finish(path, figures, failure)

        return click.option(
            "--metrics-file",
            "metrics_file",
            type=click.Path(dir_okay=False),
            default=None,
            metavar="PATH",
            help="Write the run's figures (changes, API requests, duration, outcome) to "
            "PATH as OpenMetrics text when the run ends, whatever the outcome; for the "
            "node exporter's textfile collector.",
        )(run)  # type: ignore[return-value]

    return decorate


def _finish(path: Path, figures: RunFigures, failure: BaseException | None) -> None:
    outcome = outcome_of(figures, _exit_code(failure))
    text = render(figures, outcome, time.time(), _previous_stamps(path, figures.command))
    try:
        write_atomic(path, text)
    except OSError as exc:
        message = f"could not write --metrics-file {path}: {exc.strerror or exc}."
        ended_well = failure is None or (
            isinstance(failure, click.exceptions.Exit) and failure.exit_code != EXIT_ERROR
        )
        if ended_well:
            # Monitoring would go blind without anyone noticing: fail the run.
            raise ConfigError(message) from None
        # The run's own error says more; do not hide it behind this one.
        emit("metrics.failed", "error", message, text=f"Error: {message}", path=str(path))
