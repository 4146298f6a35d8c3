"""`reconciler demo`: a guided tour against an in-process emulator.

Every step runs the real command, in this process, through the same entry point a
shell would use (`reconciler.cli.main.main`), so what the demo prints is exactly what
the tool prints. The only things the demo does itself are what a person would do by
hand: edit the YAML (as in a pull request) and change the tenant in the web UI.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import click
import yaml

from reconciler.cli.output import colour_enabled, style
from reconciler.errors import EXIT_CHANGES, EXIT_OK, ConfigError, ReconcilerError
from reconciler.redact import register_secret

USERS_DIR = "users"
TENANT_FILE = "users/tenant.yaml"
NEW_HIRES_FILE = "users/new-hires.yaml"
TOTAL_STEPS = 10


class DemoFailed(ReconcilerError):
    """A step did not end the way the tour expects: a bug worth reporting."""


@dataclass
class Edits:
    """What the scripted pull request changes, for the narration."""

    promoted: str
    granted: str
    granted_product: str
    removed: str
    added: str


class Demo:
    def __init__(
        self,
        *,
        users: int,
        workdir: Path,
        verbose: int = 0,
        echo: Callable[[str], None] = click.echo,
    ):
        self.users = users
        self.workdir = workdir
        self.verbose = verbose
        self.echo = echo
        self.colour = colour_enabled()
        self.step_no = 0

    # ------------------------------------------------------------------ output

    def heading(self, title: str) -> None:
        self.step_no += 1
        self.echo("")
        text = f"== Step {self.step_no}/{TOTAL_STEPS}: {title} "
        self.echo(style(text.ljust(78, "="), self.colour, bold=True, fg="cyan"))

    def say(self, text: str) -> None:
        self.echo(style(text, self.colour, dim=True))

    def run(self, args: Sequence[str], expect: int = EXIT_OK) -> int:
        """Run `reconciler ARGS` exactly as a shell would, and check its exit code."""
        from reconciler.cli.main import main

        self.echo(style("$ reconciler " + " ".join(args), self.colour, bold=True))
        argv = ["-v"] * self.verbose + list(args)
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        self.say(f"(exit code {code})")
        if code == 130:
            raise KeyboardInterrupt  # Ctrl-C inside a step: stop the tour, clean up
        if code != expect:
            raise DemoFailed(
                f"the demo stopped: `reconciler {' '.join(args)}` exited {code}, expected "
                f"{expect}. This is a bug in the demo or the tool; please report it with "
                "the output above."
            )
        return code

    # ------------------------------------------------------------------ the tour

    def tour(self) -> None:
        from reconciler.emulator import Emulator, EmulatorConfig

        started = time.monotonic()
        self.echo(
            "This demo manages a Planview Admin tenant the way you would from CI: desired\n"
            "state in YAML, reviewed plans, apply, and a nightly drift check. It runs\n"
            "against a bundled emulator of the Planview Admin API, so nothing real is touched."
        )
        self.heading("Start an emulated Planview Admin tenant")
        config = EmulatorConfig(users=self.users, products=5, seed=2026)
        register_secret(config.client_secret)
        with (
            Emulator(config) as emulator,
            _environment(
                {
                    "PLANVIEW_ADMIN_URL": emulator.url,
                    "PLANVIEW_ADMIN_CLIENT_ID": emulator.client_id,
                    "PLANVIEW_ADMIN_CLIENT_SECRET": emulator.client_secret,
                }
            ),
        ):
            state = emulator.state()
            self.echo(
                f"Emulator listening on {emulator.url} with {len(state['users'])} users and "
                f"{len(state['products'])} product environments."
            )
            self.echo("The commands below find it through the same settings you would use:")
            self.echo(f"  PLANVIEW_ADMIN_URL={emulator.url}")
            self.echo(f"  PLANVIEW_ADMIN_CLIENT_ID={emulator.client_id}")
            self.echo("  PLANVIEW_ADMIN_CLIENT_SECRET=(the emulator's secret; never printed)")
            self.echo(f"Working directory: {self.workdir}")

            self.heading("Export the tenant as a desired-state file")
            self.say("Start from what exists: every user and product grant, as YAML for git.")
            (self.workdir / USERS_DIR).mkdir(exist_ok=True)
            _write_schema(self.workdir)
            self.run(["export", "--out", TENANT_FILE])
            self._show_head(TENANT_FILE, 22)

            self.heading("Edit the desired state, as in a pull request")
            edits = self._edit()
            self.echo(
                "The pull request:\n"
                f"  - promotes {edits.promoted} to Administrator,\n"
                f"  - grants {edits.granted} {edits.granted_product},\n"
                f"  - removes {edits.removed}, who left (apply deactivates them),\n"
                f"  - adds {edits.added} in a second file."
            )
            self._show_diff()

            self.heading("Validate the files (offline, no API calls)")
            self.run(["validate", USERS_DIR])

            self.heading("Plan: what would change")
            self.say("This is what CI posts on the pull request for review.")
            self.run(["plan", USERS_DIR])

            self.heading("Apply the plan (after the pull request is merged)")
            self.say("In CI there is no terminal to confirm on, so it runs with --auto-approve.")
            self.run(["apply", USERS_DIR, "--auto-approve"])

            self.heading("Someone changes the tenant in the web UI")
            admin = self._out_of_band(emulator, edits)

            self.heading("Drift: what differs, and who did it")
            self.say(f"The nightly job finds the changes and names {admin} as their author.")
            self.run(["drift", USERS_DIR], expect=EXIT_CHANGES)
            self.say(
                "Exit code 2 means drift was found: a nightly CI job can open or update an "
                "issue with `--format markdown`."
            )

            self.heading("Apply again to restore the desired state")
            self.run(["apply", USERS_DIR, "--auto-approve"])

            self.heading("Plan once more: nothing left to do")
            self.run(["plan", USERS_DIR, "--detailed-exitcode"], expect=EXIT_OK)

        self._what_next(time.monotonic() - started)

    # ------------------------------------------------------------------ steps

    def _show_head(self, relative: str, count: int) -> None:
        lines = (self.workdir / relative).read_text(encoding="utf-8").splitlines()
        self.echo(f"--- {relative} (first {min(count, len(lines))} of {len(lines)} lines)")
        for line in lines[:count]:
            self.echo("  " + line)
        if len(lines) > count:
            self.echo("  ...")

    def _edit(self) -> Edits:
        path = self.workdir / TENANT_FILE
        self._original = path.read_text(encoding="utf-8")
        document = yaml.safe_load(self._original)
        aliases = sorted(document.get("products") or {})
        users = document["users"]
        active = [u for u in users if u.get("active", True)]
        plain = [u for u in active if u["role"] == "User"]
        if len(plain) < 3 or not aliases:
            raise ConfigError(
                "the demo needs a tenant with at least 3 active users with role User "
                "and a product; try a larger --users."
            )
        promoted = plain[0]
        granted = next(
            (u for u in plain[1:] if set(aliases) - set(u.get("products", ()))), plain[1]
        )
        product = sorted(set(aliases) - set(granted.get("products", ())) or aliases)[0]
        removed = next(u for u in reversed(plain) if u not in (promoted, granted))
        domain = promoted["email"].rpartition("@")[2]
        added = f"demo.newhire@{domain}"

        lines = self._original.splitlines()
        blocks = _user_blocks(lines)
        start, end = blocks[promoted["email"]]
        for n in range(start, end):
            if lines[n].strip() == "role: User":
                lines[n] = lines[n].replace("role: User", "role: Administrator")
        start, end = blocks[granted["email"]]
        have = sorted({*granted.get("products", ()), product})
        product_line = "    products: [" + ", ".join(have) + "]"
        for n in range(start, end):
            if lines[n].startswith("    products:"):
                lines[n] = product_line
                break
        else:
            lines.insert(end, product_line)
        blocks = _user_blocks(lines)
        start, end = blocks[removed["email"]]
        del lines[start:end]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

        first_line = self._original.splitlines()[0]
        (self.workdir / NEW_HIRES_FILE).write_text(
            f"{first_line}\n"
            "# Files in a directory are read together: teams can each own one.\n"
            "version: 1\n"
            "users:\n"
            f"  - email: {added}\n"
            "    firstName: Demo\n"
            "    lastName: Newhire\n"
            "    role: User\n"
            f"    products: [{aliases[0]}]\n",
            encoding="utf-8",
        )
        return Edits(promoted["email"], granted["email"], product, removed["email"], added)

    def _show_diff(self) -> None:
        after = (self.workdir / TENANT_FILE).read_text(encoding="utf-8")
        diff = difflib.unified_diff(
            self._original.splitlines(),
            after.splitlines(),
            f"a/{TENANT_FILE}",
            f"b/{TENANT_FILE}",
            n=1,
            lineterm="",
        )
        for line in diff:
            colour = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            self.echo(style(line, self.colour and colour is not None, fg=colour))
        self.echo(f"--- new file {NEW_HIRES_FILE}")
        for line in (self.workdir / NEW_HIRES_FILE).read_text(encoding="utf-8").splitlines():
            self.echo(style("+" + line, self.colour, fg="green"))

    def _out_of_band(self, emulator: Any, edits: Edits) -> str:
        state = emulator.state()
        people = [u for u in state["users"] if u["status"] == "Active"]
        admin = next(
            u["email"]
            for u in people
            if u["role"] == "Administrator" and u["email"] != edits.promoted
        )
        victim = next(
            u
            for u in people
            if u["role"] == "User" and u["email"] not in (edits.granted, edits.added, admin)
        )
        emulator.out_of_band(
            "update", email=victim["email"], lastName=victim["lastName"] + "-Smith", actor=admin
        )
        self.echo(
            f"{admin} renames {victim['email']} to "
            f"{victim['firstName']} {victim['lastName']}-Smith,"
        )
        emulator.out_of_band(
            "deprovision",
            email=edits.granted,
            productId=_product_id(state, edits.granted_product, self.workdir),
            actor=admin,
        )
        self.echo(f"takes {edits.granted_product} away from {edits.granted} again,")
        emulator.out_of_band(
            "create",
            email=f"contractor@{edits.added.rpartition('@')[2]}",
            firstName="Casey",
            lastName="Contractor",
            status="Active",
            actor=admin,
        )
        self.echo("and adds a contractor nobody put in the files, all in the web UI.")
        return admin

    def _what_next(self, seconds: float) -> None:
        self.echo("")
        self.echo(style(f"Demo finished in {seconds:.1f} s.", self.colour, bold=True))
        self.echo(
            "\nWhat next:\n"
            "  - Every command explains itself: reconciler --help, reconciler plan --help.\n"
            "  - Run the emulator yourself and try the commands by hand:\n"
            "      reconciler emulator --users 200     (prints the settings to export)\n"
            "  - Point the tool at your tenant (read-only until you run apply):\n"
            "      export PLANVIEW_ADMIN_URL=https://<your tenant's API URL>\n"
            "      export PLANVIEW_ADMIN_CLIENT_ID=<client id>\n"
            "      export PLANVIEW_ADMIN_CLIENT_SECRET=<client secret>\n"
            "      reconciler export --out users/tenant.yaml\n"
            "      reconciler plan users/              (expect: no changes)\n"
            "  - Wire it into CI: plan on pull requests, apply on merge, drift nightly;\n"
            "    see the workflow examples under examples/ci/ in the project and the README."
        )


def _product_id(state: dict[str, Any], alias: str, workdir: Path) -> str:
    document = yaml.safe_load((workdir / TENANT_FILE).read_text(encoding="utf-8"))
    ref = document["products"][alias]
    if "id" in ref:
        return str(ref["id"])
    return next(p["id"] for p in state["products"] if p["name"] == ref["name"])


def _write_schema(workdir: Path) -> None:
    """Where the exported files' first line points, so editors can check them."""
    schema = resources.files("reconciler.schemas") / "desired-state.schema.json"
    (workdir / "schemas").mkdir(exist_ok=True)
    (workdir / "schemas" / "desired-state.schema.json").write_bytes(schema.read_bytes())


def _user_blocks(lines: list[str]) -> dict[str, tuple[int, int]]:
    """email -> [start, end) line range of each user entry in an exported file."""
    blocks: dict[str, tuple[int, int]] = {}
    starts = [n for n, line in enumerate(lines) if line.startswith("  - email: ")]
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(lines)
        email = yaml.safe_load(lines[start][len("  - email: ") :])
        blocks[str(email)] = (start, end)
    return blocks


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def run_demo(*, users: int, keep_dir: str | None, verbose: int = 0) -> None:
    """The whole tour; raises `ReconcilerError` when a step does not end as expected."""
    if keep_dir is not None:
        workdir = Path(keep_dir).resolve()
        if workdir.exists() and any(workdir.iterdir()):
            raise ConfigError(f"--keep-dir {keep_dir} is not empty; name a new or empty directory.")
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="reconciler-demo-"))
    try:
        with _working_directory(workdir):
            Demo(users=users, workdir=workdir, verbose=verbose).tour()
    finally:
        if keep_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if keep_dir is not None:
        click.echo(f"\nThe demo's files are kept in {workdir}.")
