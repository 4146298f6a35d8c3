"""`reconciler emulator`: serve the Planview Admin API emulator until interrupted."""

from __future__ import annotations

import json
import re
import signal
import threading
from pathlib import Path
from typing import Any

import click

from reconciler.cli.logs import emit
from reconciler.cli.output import colour_enabled, style
from reconciler.errors import ConfigError
from reconciler.redact import safe_url

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h)?\s*$")
_FAULT_KEYS = {
    "5xx": "fault_5xx",
    "reset-before": "fault_reset_before",
    "reset-after": "fault_reset_after",
}


def parse_duration(text: str, *, unit_required: bool = False) -> float:
    """Seconds in '20ms', '0.5s', '2m', '1h' (a bare number is seconds)."""
    match = _DURATION.match(text)
    if match is None or (unit_required and match.group(2) is None):
        raise ValueError(f"{text!r} is not a duration; write it like 20ms, 0.5s, 2m or 1h")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


class RateLimit(click.ParamType):
    name = "POINTS/WINDOW"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[int, float]:
        if isinstance(value, tuple):
            return value
        points, sep, window = str(value).partition("/")
        try:
            if not sep or not points.strip().isdigit():
                raise ValueError
            seconds = parse_duration(window or "")
            if int(points) < 1 or seconds <= 0:
                raise ValueError
        except ValueError:
            self.fail(
                f"{value!r} is not a rate limit; write points per window like 600/60s "
                "(at least 1 point, a window longer than zero)",
                param,
                ctx,
            )
        return int(points), seconds


class Latency(click.ParamType):
    name = "DELAY[±JITTER]"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[float, float]:
        if isinstance(value, tuple):
            return value
        base, _, jitter = str(value).replace("+-", "±").partition("±")
        try:
            return parse_duration(base, unit_required=True), (
                parse_duration(jitter, unit_required=True) if jitter else 0.0
            )
        except ValueError as exc:
            self.fail(f"{exc}; a jitter is added as ±, e.g. 20ms±5ms (or 20ms+-5ms)", param, ctx)


class Faults(click.ParamType):
    name = "KIND=RATE,..."

    def convert(self, value: Any, param: Any, ctx: Any) -> dict[str, float]:
        if isinstance(value, dict):
            return value
        rates: dict[str, float] = {}
        for item in str(value).split(","):
            if not item.strip():
                continue
            kind, sep, rate_text = item.partition("=")
            kind = kind.strip().lower()
            if not sep or kind not in _FAULT_KEYS:
                self.fail(
                    f"{item.strip()!r} is not a fault; use 5xx=RATE, reset-before=RATE or "
                    "reset-after=RATE, comma-separated (e.g. 5xx=0.1,reset-after=0.05)",
                    param,
                    ctx,
                )
            rate_text = rate_text.strip()
            try:
                rate = float(rate_text[:-1]) / 100 if rate_text.endswith("%") else float(rate_text)
            except ValueError:
                rate = -1.0
            if not 0.0 <= rate <= 1.0:
                self.fail(f"the rate of {kind} must be between 0 and 1 (or 0% to 100%)", param, ctx)
            rates[_FAULT_KEYS[kind]] = rate
        if sum(rates.values()) > 1.0:
            self.fail("the fault rates add up to more than 1", param, ctx)
        return rates


class PageMaxima(click.ParamType):
    name = "ENDPOINT=N,..."

    def convert(self, value: Any, param: Any, ctx: Any) -> dict[str, int]:
        from reconciler.emulator import PAGE_LIMITS

        if isinstance(value, dict):
            return value
        maxima: dict[str, int] = {}
        for item in str(value).split(","):
            if not item.strip():
                continue
            endpoint, sep, number = item.partition("=")
            endpoint = endpoint.strip()
            if not sep or endpoint not in PAGE_LIMITS:
                self.fail(
                    f"{item.strip()!r} is not a page maximum; use ENDPOINT=N with ENDPOINT one "
                    f"of {', '.join(PAGE_LIMITS)} (e.g. users=100,product_users=200)",
                    param,
                    ctx,
                )
            if not number.strip().isdigit() or int(number) < 1:
                self.fail(f"the page maximum of {endpoint} must be a positive integer", param, ctx)
            maxima[endpoint] = int(number)
        return maxima


def _load_state(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Cannot read the state file {path}: {getattr(exc, 'strerror', None) or exc}."
        ) from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            state = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        else:
            state = json.loads(text)
    except Exception as exc:  # JSON and YAML raise different types; both mean the same
        raise ConfigError(f"The state file {path} is not valid JSON or YAML: {exc}.") from None
    if not isinstance(state, dict):
        raise ConfigError(
            f"The state file {path} must hold an object like GET /_emulator/state returns."
        )
    return state


def _read_secret(path: Path) -> str:
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Cannot read the client secret file {path}: {getattr(exc, 'strerror', None) or exc}."
        ) from None
    if not secret:
        raise ConfigError(f"The client secret file {path} is empty.")
    return secret


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback exposes the emulator to the "
    "network (a warning is printed).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="TCP port; 0 picks a free one.",
)
@click.option(
    "--users",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Generate a tenant of N users.  [default: 100]",
)
@click.option(
    "--products",
    type=click.IntRange(min=0),
    default=None,
    metavar="M",
    help="Generate M product environments.  [default: 6]",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    metavar="S",
    help="Seed of the generated tenant: the same seed gives the same tenant.  [default: 1]",
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Start from a saved state (JSON or YAML, as GET /_emulator/state returns) "
    "instead of a generated tenant.",
)
@click.option(
    "--rate-limit",
    type=RateLimit(),
    default="600/60s",
    show_default=True,
    help="The customer's budget: points per fixed window (each API call costs one).",
)
@click.option(
    "--second-consumer",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="POINTS",
    help="Points per window that another integration of the same customer spends.",
)
@click.option(
    "--latency",
    type=Latency(),
    default="0ms",
    show_default=True,
    help="Added delay per API call, optionally with jitter: 20ms or 20ms±5ms.",
)
@click.option(
    "--fault",
    "faults",
    type=Faults(),
    default="",
    metavar="KIND=RATE,...",
    help="Inject faults at these rates (0..1): 5xx (a 503 answer), reset-before "
    "(connection reset before a write is committed), reset-after (reset after it "
    "is committed). Example: 5xx=0.1,reset-after=0.05",
)
@click.option(
    "--fault-seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the fault draws: the same seed and requests meet the same faults.",
)
@click.option(
    "--token-lifetime",
    type=click.IntRange(min=1),
    default=3600,
    show_default=True,
    metavar="SECONDS",
    help="How long an issued token stays valid.",
)
@click.option(
    "--page-max",
    type=PageMaxima(),
    default="",
    metavar="ENDPOINT=N,...",
    help="Change the maximum page size of endpoints: users (default maximum 500), "
    "user_audit (200), audit (200), products (100), product_users (1000). "
    "Example: users=100",
)
@click.option(
    "--admin-from-anywhere",
    is_flag=True,
    help="Let peers that are not on loopback use the /_emulator/ admin routes.",
)
@click.option(
    "--client-id",
    default="reconciler-emulator",
    show_default=True,
    help="The API client id the emulator accepts.",
)
@click.option(
    "--client-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Accept the secret in FILE instead of a random one made up at start.",
)
def emulator(
    host: str,
    port: int,
    users: int | None,
    products: int | None,
    seed: int | None,
    state_file: Path | None,
    rate_limit: tuple[int, float],
    second_consumer: int,
    latency: tuple[float, float],
    faults: dict[str, float],
    fault_seed: int,
    token_lifetime: int,
    page_max: dict[str, int],
    admin_from_anywhere: bool,
    client_id: str,
    client_secret_file: Path | None,
) -> None:
    """Serve an emulator of the Planview Admin API until Ctrl-C.

    A real HTTP server for trying the tool, demos and benchmarks: the token endpoint,
    users, products, provisioning and audit history as the project models the API,
    with its paging, rate limit and errors, plus faults on demand. Its tenant is
    generated from --users/--products/--seed, or loaded with --state.

    \b
    Admin routes on the same port (no auth, loopback peers only):
      GET/PUT /_emulator/state       the whole tenant (PUT also takes {"users":N,"seed":S})
      POST    /_emulator/out-of-band a change made as a person in the web UI
      GET     /_emulator/stats       requests, 429s, lowest remaining budget, faults
      GET/PUT /_emulator/config      rate limit, latency, faults, token lifetime

    \b
    Example:
      reconciler emulator --users 500 --rate-limit 300/60s --fault 5xx=0.05
    """
    from reconciler.emulator import Emulator, EmulatorConfig
    from reconciler.emulator.httpserver import is_loopback

    if state_file is not None and any(v is not None for v in (users, products, seed)):
        raise click.UsageError("Give either --state or --users/--products/--seed, not both.")
    if ":" in client_id or not client_id:
        raise click.BadParameter("must be non-empty and contain no ':'", param_hint="--client-id")
    if safe_url(host) != host:
        # a host is never a URL with credentials; and they must not be echoed below
        raise ConfigError(
            f"--host {safe_url(host)!r} must be an address or host name to listen on, "
            "without a user name or password before '@'."
        )
    settings: dict[str, Any] = {
        "users": 100 if users is None else users,
        "products": 6 if products is None else products,
        "seed": 1 if seed is None else seed,
        "state": _load_state(state_file) if state_file is not None else None,
        "rate_limit_points": rate_limit[0],
        "rate_limit_window": rate_limit[1],
        "second_consumer_points": second_consumer,
        "latency": latency[0],
        "jitter": latency[1],
        "token_lifetime": float(token_lifetime),
        "fault_seed": fault_seed,
        "client_id": client_id,
        "page_max": page_max,
        "admin_from_anywhere": admin_from_anywhere,
        "host": host,
        "port": port,
        **faults,
    }
    if client_secret_file is not None:
        settings["client_secret"] = _read_secret(client_secret_file)
    from reconciler.emulator import EmulatorError

    try:
        server = Emulator(EmulatorConfig(**settings))
    except EmulatorError as exc:
        raise ConfigError(f"The state file {state_file} cannot be loaded: {exc.detail}") from None
    try:
        server.start()
    except OSError as exc:
        raise ConfigError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}. "
            "Choose another --port (0 picks a free one)."
        ) from None
    _announce(server, state_file, rate_limit, second_consumer, latency, faults)
    if not _loopback_host(host, is_loopback):
        exposed = (
            f"WARNING: listening on {host}, not loopback: anyone who can reach this "
            "machine can use the emulator. The /_emulator/ admin routes still answer "
            "loopback peers only."
        )
        styled = style(exposed, colour_enabled(None), fg="yellow", bold=True)
        emit("emulator.exposed", "warning", exposed, text=styled, host=host)
    _serve_until_interrupted(server)


def _loopback_host(host: str, is_loopback: Any) -> bool:
    return host == "localhost" or bool(is_loopback(host))


def _announce(
    server: Any,
    state_file: Path | None,
    rate_limit: tuple[int, float],
    second_consumer: int,
    latency: tuple[float, float],
    faults: dict[str, float],
) -> None:
    state = server.state()
    config = server.config
    source = (
        f"loaded from {state_file}"
        if state_file is not None
        else f"generated with seed {config.seed}"
    )
    colour = colour_enabled(None)
    lines = [
        style(f"Planview Admin API emulator listening on {server.url}", colour, bold=True),
        f"  tenant:        {len(state['users'])} users, {len(state['products'])} products "
        f"({source})",
        f"  client id:     {server.client_id}",
        f"  client secret: {server.client_secret}",
        "                 (the emulator's own throwaway secret, valid only for this run; "
        "not a Planview credential)",
        f"  rate limit:    {rate_limit[0]} points per {rate_limit[1]:g} s"
        + (f", {second_consumer} of them spent by a second consumer" if second_consumer else ""),
    ]
    if latency[0] or latency[1]:
        lines.append(f"  latency:       {latency[0] * 1000:g} ms ± {latency[1] * 1000:g} ms")
    if faults:
        described = ", ".join(f"{k.removeprefix('fault_')}={v:g}" for k, v in faults.items())
        lines.append(f"  faults:        {described} (seed {config.fault_seed})")
    lines += [
        "",
        "Point the reconciler at it:",
        f"  export PLANVIEW_ADMIN_URL={server.url}",
        f"  export PLANVIEW_ADMIN_CLIENT_ID={server.client_id}",
        f"  export PLANVIEW_ADMIN_CLIENT_SECRET={server.client_secret}",
        "",
        "Press Ctrl-C to stop.",
    ]
    click.echo("\n".join(lines))


def _serve_until_interrupted(server: Any) -> None:
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while server.running and not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    click.echo("Emulator stopped.")
