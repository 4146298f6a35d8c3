"""The `reconciler` command group.

Each command lives in its own module under `reconciler.cli` and is imported only when
it runs (or when help lists it), so `reconciler validate` does not pay for httpx and
the emulator.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import click

from reconciler import __version__
from reconciler.cli import logs
from reconciler.cli.output import configure_logging, error
from reconciler.errors import EXIT_ERROR, InputError, ReconcilerError
from reconciler.redact import redact

# command name -> "module:attribute" of its click command
COMMANDS: dict[str, str] = {
    "validate": "reconciler.cli.validate_cmd:validate",
    "schema": "reconciler.cli.validate_cmd:schema",
    "plan": "reconciler.cli.plan_cmd:plan",
    "apply": "reconciler.cli.apply_cmd:apply",
    "drift": "reconciler.cli.drift_cmd:drift",
    "export": "reconciler.cli.export_cmd:export",
    "emulator": "reconciler.cli.emulator_cmd:emulator",
    "demo": "reconciler.cli.demo_cmd:demo",
    "doctor": "reconciler.cli.doctor_cmd:doctor",
    "import-csv": "reconciler.cli.importcsv_cmd:import_csv",
}

# How many -v the command line gave, as click counted them (so -vv, -v -v, -vvv and
# --verbose --verbose agree); main() needs it after the command's context is gone.
_verbosity = 0


class LazyGroup(click.Group):
    # click exits 2 on a usage error, but 2 means "changes" or "drift" to CI here:
    # a mistyped option must not read as drift, so every usage error exits 1.
    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with _usage_errors_exit_1():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with _usage_errors_exit_1():
            return super().invoke(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)


@contextlib.contextmanager
def _usage_errors_exit_1() -> Iterator[None]:
    try:
        yield
    except click.UsageError as exc:
        # click declares exit_code on the class but reads it from the instance
        exc.exit_code = EXIT_ERROR  # type: ignore[misc]
        raise


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="More detail on stderr: -v info, -vv debug and the traceback of an internal error.",
)
@click.option(
    "--log-format",
    type=click.Choice(logs.FORMATS),
    default="text",
    show_default=True,
    envvar=logs.FORMAT_ENV,
    help="stderr as text for people, or json: one JSON object per line (ts, level, event, "
    "fields) for log pipelines. stdout is the same either way.",
)
@click.pass_context
def cli(ctx: click.Context, verbose: int, log_format: str) -> None:
    """Keep Planview Admin users and product access in step with YAML files in git.

    \b
    Typical use:
      reconciler validate users/         check the files, offline
      reconciler plan users/             show what would change
      reconciler apply users/            make it so
      reconciler drift users/            who changed what behind our back

    Exit codes: 0 success, 1 error, 2 changes or drift found (when asked for),
    3 plan blocked by a safety limit.
    """
    global _verbosity
    _verbosity = verbose
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    logs.set_format(log_format)
    configure_logging(verbose)


def main(argv: list[str] | None = None) -> None:
    """Entry point: expected errors become one clear message and exit 1, never a traceback."""
    global _verbosity
    _verbosity = 0  # an earlier in-process run's -vv must not carry over
    # Until the group's options are parsed: a usage error there is logged in this format.
    logs.set_format(logs.early_format(argv))
    try:
        # Without standalone mode click returns the code a command passed to ctx.exit().
        result = cli.main(args=argv, prog_name="reconciler", standalone_mode=False)
    except click.exceptions.Abort:
        error("aborted.", error_type="aborted", exit_code=EXIT_ERROR)
        sys.exit(EXIT_ERROR)
    except click.ClickException as exc:
        if logs.json_mode():
            error(exc.format_message(), error_type=type(exc).__name__, exit_code=exc.exit_code)
        else:
            exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except ReconcilerError as exc:
        fields: dict[str, Any] = {"error_type": type(exc).__name__, "exit_code": exc.exit_code}
        if isinstance(exc, InputError):
            fields["problems"] = [
                {"message": d.message, **logs.diagnostic_fields(d)} for d in exc.diagnostics
            ]
        error(redact(str(exc)), **fields)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        error("interrupted.", error_type="interrupted", exit_code=130)
        sys.exit(130)
    except Exception as exc:  # a bug: say so plainly, keep the traceback for -vv
        message = f"internal error: {type(exc).__name__}: {exc}."
        fields = {"error_type": "internal", "exit_code": EXIT_ERROR}
        if _verbosity >= 2:
            # Redacted like every other line: a secret may sit in a frame's message.
            trace = redact(traceback.format_exc()).rstrip()
            if logs.json_mode():
                error(redact(message), traceback=trace, **fields)
            else:
                click.echo(trace, err=True)
                error(redact(message), **fields)
        else:
            error(redact(f"{message} Run again with -vv for details."), **fields)
        sys.exit(EXIT_ERROR)
    sys.exit(result if isinstance(result, int) else 0)
