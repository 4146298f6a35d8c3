"""The benchmark's scenarios: each runs the reconciler and the naive baseline as
whole processes against the same tenant and records what they cost."""

from __future__ import annotations

import importlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.emulator_client import EmulatorProcess, StatsWindow
from bench.generate import Desired, apply_scenario, make_tenant, plan_scenario, write_yaml
from bench.measure import ProcessRun, reconciler_argv, run_process
from bench.paging import (
    LIST_PRODUCTS,
    LIST_USERS,
    PAGE_MAX,
    TOKEN,
    listings,
    minimum_plan_reads,
)
from bench.profile import Profile, profile_argv, read_profile

NAIVE = Path(__file__).resolve().with_name("naive.py")
# No rate limit worth the name while reading: the plan scenarios measure paging and
# CPU, and a limit would only throttle the naive baseline's many small pages.
UNLIMITED = {"rate_limit_points": 1_000_000, "rate_limit_window": 60.0}
REPO = Path(__file__).resolve().parents[1]
# The floor of `reconciler validate`: the same file's libyaml event stream walked and
# thrown away, in a process of its own, so interpreter start counts in both.
EVENT_WALK = (
    "import sys,yaml; [None for _ in yaml.parse(open(sys.argv[1],'rb').read(), "
    "Loader=yaml.CSafeLoader)]"
)
# JSON decoders timed on API pages: json.loads is what httpx's Response.json() calls.
DECODERS = ("json", "orjson", "msgspec")


def audit_reads(requests: Mapping[str, int]) -> int:
    """Requests to an audit log: plan reads who created each unlisted user it removes
    (one request per such user). Needed by the plan, never speculative."""
    return sum(n for endpoint, n in requests.items() if endpoint.endswith("/audit"))


def needed_requests(minimum: Mapping[str, int], measured: Measured) -> int:
    """Every request the command needs: the paging minimum (token included) plus the
    audit reads it made. Pages read ahead past a listing's end are not needed."""
    return sum(minimum.values()) + audit_reads(measured.requests)


@dataclass
class Measured:
    """One command of one tool, run as a process."""

    run: ProcessRun
    requests: Counter[str] = field(default_factory=Counter)  # per endpoint, from the emulator
    throttled: int = 0  # 429s the emulator sent during the run
    changes: dict[str, int] | None = None  # what it planned, kind -> count
    problem: str | None = None  # why the figures cannot be trusted, if they cannot
    # CPU the emulator process spent meanwhile: near the wall time, it was the bottleneck.
    emulator_cpu: float = 0.0
    repeats: list[float] = field(default_factory=list)  # wall times of every run, if repeated

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.run.timed_out

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def budget_requests(self) -> int:
        """Requests that spend rate-limit points (the token endpoint costs none)."""
        return self.total_requests - self.requests.get(TOKEN, 0)


@dataclass
class ValidateResult:
    users: int
    file_mb: float
    tool: Measured
    naive: Measured | None  # None: not run at this size (the scale rows)
    # The same file's libyaml event stream walked in a process of its own (EVENT_WALK).
    floor: Measured | None = None


@dataclass
class PlanResult:
    users: int
    latency_ms: float
    expected: Counter[str]
    minimum: Counter[str]
    listings: Counter[str]
    tool: Measured
    naive: Measured | None  # None: not run at this size (the scale rows)
    concurrency: int = 4  # the reconciler's --concurrency: the concurrent floor's divisor

    @property
    def listing_minimum(self) -> int:
        """The paging minimum, token included."""
        return sum(self.minimum.values())

    @property
    def audit(self) -> int:
        return audit_reads(self.tool.requests)

    def floor(self, *, with_audit: bool = True, concurrent: bool = False) -> float:
        """Seconds the reads alone take: requests x latency (serial), or that divided
        by --concurrency. With the audit reads, every request the plan needs."""
        count = self.listing_minimum + (self.audit if with_audit else 0)
        return read_floor(count, self.latency_ms, self.concurrency if concurrent else 1)


def read_floor(requests: int, latency_ms: float, concurrency: int = 1) -> float:
    """Seconds `requests` round trips take at `latency_ms`, `concurrency` at a time."""
    return requests * latency_ms / 1000 / concurrency


@dataclass
class TreeRun:
    """plan or export of one source tree against a slow tenant (the read-overlap rows)."""

    users: int
    latency_ms: float
    command: str  # plan | export
    tree: str  # "this checkout" or "base <commit>"
    minimum: Counter[str]  # paging minimum, token included
    tool: Measured
    concurrency: int = 4

    @property
    def audit(self) -> int:
        return audit_reads(self.tool.requests)

    @property
    def needed(self) -> int:
        return needed_requests(self.minimum, self.tool)

    @property
    def read_ahead(self) -> int:
        """Listing pages read past a listing's end (speculative, not needed)."""
        listing = self.tool.total_requests - self.audit
        return max(0, listing - sum(self.minimum.values()))

    def floor(self, *, with_audit: bool = True, concurrent: bool = False) -> float:
        count = self.needed if with_audit else sum(self.minimum.values())
        return read_floor(count, self.latency_ms, self.concurrency if concurrent else 1)


@dataclass
class DecodeResult:
    """JSON decoding of a tenant's API pages: json.loads against the alternatives."""

    users: int
    pages: int
    megabytes: float
    seconds: dict[str, float | None]  # decoder -> best time over all pages; None: missing
    versions: dict[str, str]
    plan_cpu: float | None = None  # plan's CPU time at the same size, for the verdict


@dataclass
class ApplyResult:
    users: int
    changes: int
    latency_ms: float
    points: int
    window: float
    reserve: int
    second_consumer: int
    tool: Measured
    naive: Measured
    tool_converged: bool | None = None
    naive_converged: bool | None = None

    @property
    def available_per_second(self) -> float:
        """Points per second left for the tool: the window's points less the reserve
        it keeps for others and what the second consumer spends."""
        return (self.points - self.reserve - self.second_consumer) / self.window

    def ideal_seconds(self, measured: Measured) -> float:
        return measured.budget_requests / self.available_per_second


@dataclass
class Context:
    emulator: EmulatorProcess
    workdir: Path
    seed: int
    naive_timeout: float
    tool_timeout: float = 900.0
    # The reconciler's validate and plan are cheap enough to run several times; the
    # run with the median wall time is reported. The naive script runs once.
    repeat: int = 1
    log: Callable[[str], None] = print

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("PLANVIEW_ADMIN_URL", "PLANVIEW_ADMIN_CLIENT_ID"):
            env.pop(name, None)
        env["PLANVIEW_ADMIN_CLIENT_SECRET"] = self.emulator.client_secret
        env["NO_COLOR"] = "1"
        return env

    def connection(self) -> list[str]:
        return ["--url", self.emulator.url, "--client-id", self.emulator.client_id]


# --------------------------------------------------------------------------- tenants


@dataclass
class Tenant:
    users: int
    state: dict[str, Any]
    desired: Desired
    path: Path

    @property
    def provisioned(self) -> dict[str, int]:
        return {pid: len(ids) for pid, ids in self.state["provisioning"].items()}


def plan_tenant(ctx: Context, users: int) -> Tenant:
    state = make_tenant(users, ctx.seed)
    desired = plan_scenario(state, 0.02, ctx.seed + 1)
    path = write_yaml(desired.document, ctx.workdir / f"desired-{users}.yaml")
    return Tenant(users, state, desired, path)


def apply_tenant(ctx: Context, users: int, changes: int) -> Tenant:
    state = make_tenant(users, ctx.seed + 2)
    desired = apply_scenario(state, changes, ctx.seed + 3)
    path = write_yaml(desired.document, ctx.workdir / f"apply-{users}-{changes}.yaml")
    return Tenant(users, state, desired, path)


# --------------------------------------------------------------------------- runs


def measure(
    ctx: Context,
    argv: list[str],
    *,
    timeout: float,
    accepted: set[int],
    api: bool = True,
    env: Mapping[str, str] | None = None,
) -> Measured:
    window = StatsWindow(ctx.emulator) if api else None
    emulator_cpu = ctx.emulator.cpu_seconds()
    run = run_process(argv, env=env or ctx.env(), timeout=timeout, cwd=ctx.workdir)
    measured = Measured(run, problem=_exit_problem(run, accepted))
    measured.emulator_cpu = ctx.emulator.cpu_seconds() - emulator_cpu
    if window is not None:
        measured.requests, measured.throttled = window.close()
    return measured


def measure_median(
    ctx: Context,
    argv: list[str],
    *,
    accepted: set[int],
    api: bool = True,
    repeat: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Measured:
    runs = []
    for _ in range(max(1, ctx.repeat if repeat is None else repeat)):
        runs.append(
            measure(ctx, argv, timeout=ctx.tool_timeout, accepted=accepted, api=api, env=env)
        )
        if not runs[-1].ok:
            return runs[-1]
    runs.sort(key=lambda m: m.run.wall_seconds)
    chosen = runs[(len(runs) - 1) // 2]
    chosen.repeats = [m.run.wall_seconds for m in runs]
    return chosen


def run_validate(
    ctx: Context, tenant: Tenant, *, naive: bool = True, repeat: int | None = None
) -> ValidateResult:
    tool_argv = [*reconciler_argv(), "validate", str(tenant.path)]
    tool = measure_median(ctx, tool_argv, accepted={0}, api=False, repeat=repeat)
    floor_argv = [sys.executable, "-c", EVENT_WALK, str(tenant.path)]
    floor = measure_median(ctx, floor_argv, accepted={0}, api=False, repeat=repeat)
    naive_run = None
    if naive:
        naive_argv = [sys.executable, str(NAIVE), "validate", str(tenant.path)]
        naive_run = measure(ctx, naive_argv, timeout=ctx.naive_timeout, accepted={0}, api=False)
    size = tenant.path.stat().st_size / 1024**2
    return ValidateResult(tenant.users, size, tool, naive_run, floor)


def run_plan(
    ctx: Context,
    tenant: Tenant,
    latency_ms: float,
    *,
    naive: bool = True,
    repeat: int | None = None,
    concurrency: int = 4,
) -> PlanResult:
    ctx.emulator.configure(latency=latency_ms / 1000, second_consumer_points=0, **UNLIMITED)
    ctx.emulator.load_state(tenant.state)
    out = ctx.workdir / f"plan-{tenant.users}-{latency_ms:g}ms.json"
    tool_argv = [
        *reconciler_argv(), "plan", str(tenant.path), *ctx.connection(), "--out", str(out),
        "--concurrency", str(concurrency),
    ]  # fmt: skip
    tool = measure_median(ctx, tool_argv, accepted={0, 2}, repeat=repeat)
    tool.changes = _plan_counts(out)
    _check_changes(tool, tenant.desired.expected)
    naive_run = None
    if naive:
        naive_argv = [
            sys.executable, str(NAIVE), "plan", str(tenant.path), *ctx.connection(),
        ]  # fmt: skip
        naive_run = measure(ctx, naive_argv, timeout=ctx.naive_timeout, accepted={0})
        naive_run.changes = _naive_counts(naive_run.run)
        _check_changes(naive_run, tenant.desired.expected)
    managed = tenant.provisioned
    return PlanResult(
        users=tenant.users,
        latency_ms=latency_ms,
        expected=tenant.desired.expected,
        minimum=_minimum(tenant),
        listings=listings(managed),
        tool=tool,
        naive=naive_run,
        concurrency=concurrency,
    )


def _minimum(tenant: Tenant) -> Counter[str]:
    return minimum_plan_reads(
        len(tenant.state["users"]), tenant.provisioned, len(tenant.state["products"])
    )


# --------------------------------------------------------------------------- side by side


def extract_tree(commit: str, into: Path) -> tuple[Path | None, str]:
    """`git archive COMMIT` unpacked under `into`: (tree, "") or (None, why not)."""
    git = shutil.which("git")
    if git is None:
        return None, "git is not available, so the commit could not be extracted"
    try:
        done = subprocess.run(
            [git, "-C", str(REPO), "archive", "--format=tar", commit],
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"git archive {commit} failed: {exc}"
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        return None, f"git archive {commit} failed: {why[-1] if why else done.returncode}"
    tree = into / f"base-{commit}"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        if hasattr(tarfile, "tar_filter"):  # Python 3.12, and 3.10/3.11 since mid-2023
            archive.extractall(tree, filter="tar")
        else:
            archive.extractall(tree)  # our own repository's archive
    # The base must really be what runs: PYTHONPATH must win over the editable install.
    probe = subprocess.run(
        [sys.executable, "-c", "import reconciler; print(reconciler.__file__)"],
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=into,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if not probe.stdout.strip().startswith(str(tree)):
        return None, f"the extracted tree is not what Python imports ({probe.stdout.strip()})"
    return tree, ""


def run_tree(
    ctx: Context,
    tenant: Tenant,
    *,
    command: str,
    latency_ms: float,
    tree: Path,
    label: str,
    concurrency: int,
    repeat: int,
) -> TreeRun:
    """`python -m reconciler plan|export` of `tree` (PYTHONPATH) against the tenant,
    which the caller has loaded and slowed to `latency_ms`."""
    tag = f"{command}-{tenant.users}-{latency_ms:g}ms-{tree.name}"
    if command == "plan":
        out = ctx.workdir / f"{tag}.json"
        words = ["plan", str(tenant.path), "--out", str(out)]
        accepted = {0, 2}
    else:
        out = ctx.workdir / f"{tag}.yaml"
        words = ["export", "--out", str(out), "--force"]
        accepted = {0}
    argv = [
        sys.executable, "-m", "reconciler", *words, *ctx.connection(),
        "--concurrency", str(concurrency),
    ]  # fmt: skip
    env = {**ctx.env(), "PYTHONPATH": str(tree)}
    tool = measure_median(ctx, argv, accepted=accepted, repeat=repeat, env=env)
    if command == "plan":
        tool.changes = _plan_counts(out)
        _check_changes(tool, tenant.desired.expected)
    return TreeRun(
        users=tenant.users,
        latency_ms=latency_ms,
        command=command,
        tree=label,
        minimum=_minimum(tenant),
        tool=tool,
        concurrency=concurrency,
    )


def slow_tenant(ctx: Context, tenant: Tenant, latency_ms: float) -> None:
    ctx.emulator.configure(latency=latency_ms / 1000, second_consumer_points=0, **UNLIMITED)
    ctx.emulator.load_state(tenant.state)


# --------------------------------------------------------------------------- JSON pages


def fetch_pages(ctx: Context, tenant: Tenant) -> list[bytes]:
    """Every page `plan` reads of the tenant (users, products, each product's
    provisioning), at the maximum page size, as the bytes the server sent."""
    slow_tenant(ctx, tenant, 0)
    pages: list[bytes] = []
    with httpx.Client(base_url=ctx.emulator.url, timeout=120) as http:
        token = http.post(
            "/io/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(ctx.emulator.client_id, ctx.emulator.client_secret),
        )
        token.raise_for_status()
        http.headers["Authorization"] = "Bearer " + token.json()["id_token"]
        paths = [
            (LIST_USERS.split(" ", 1)[1], PAGE_MAX["user"]),
            (LIST_PRODUCTS.split(" ", 1)[1], PAGE_MAX["product"]),
        ]
        paths += [
            (f"/public/v1/product/{pid}/user", PAGE_MAX["provisioning"])
            for pid in tenant.state["provisioning"]
        ]
        for path, count in paths:
            start = 1
            while True:
                response = http.get(path, params={"startIndex": start, "count": count})
                response.raise_for_status()
                pages.append(response.content)
                found = len(response.json()["Resources"])
                if found < count:
                    break
                start += count
    return pages


def _decoder(name: str) -> tuple[Callable[[bytes], Any], str] | None:
    """The decoding function of a decoder and its version (None: not installed)."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    decode = module.json.Decoder().decode if name == "msgspec" else module.loads
    version = "standard library" if name == "json" else getattr(module, "__version__", "?")
    return decode, version


def time_decoders(
    pages: list[bytes], rounds: int = 3
) -> tuple[dict[str, float | None], dict[str, str]]:
    """Best time over `rounds` to decode every page with each decoder (None: the
    decoder is not installed), and the versions timed."""
    seconds: dict[str, float | None] = {}
    versions: dict[str, str] = {}
    for name in DECODERS:
        found = _decoder(name)
        if found is None:
            seconds[name] = None
            versions[name] = "not installed: pip install -e '.[bench]'"
            continue
        decode, versions[name] = found
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            for page in pages:
                decode(page)
            best = min(best, time.perf_counter() - started)
        seconds[name] = best
    return seconds, versions


def run_decode(ctx: Context, tenant: Tenant) -> DecodeResult:
    pages = fetch_pages(ctx, tenant)
    reference = [json.loads(page) for page in pages]
    seconds, versions = time_decoders(pages)
    for name in DECODERS:  # a faster decoder that decodes differently is no candidate
        if seconds.get(name) is not None and _decoded(name, pages) != reference:
            seconds[name] = None
            versions[name] = "decoded differently from json.loads"
    size = sum(len(page) for page in pages) / 1024**2
    return DecodeResult(tenant.users, len(pages), size, seconds, versions)


def _decoded(name: str, pages: list[bytes]) -> list[Any]:
    found = _decoder(name)
    assert found is not None  # only asked of decoders that were timed
    return [found[0](page) for page in pages]


def run_profile(ctx: Context, tenant: Tenant, latency_ms: float) -> Profile:
    """cProfile of `reconciler plan` on `tenant`, to show where its time goes."""
    ctx.emulator.configure(latency=latency_ms / 1000, second_consumer_points=0, **UNLIMITED)
    ctx.emulator.load_state(tenant.state)
    output = ctx.workdir / f"plan-{tenant.users}.prof"
    args = ["plan", str(tenant.path), *ctx.connection()]
    command = f"reconciler plan ({tenant.users:,} users, {latency_ms:g} ms) under cProfile"
    run = run_process(profile_argv(output, args), env=ctx.env(), timeout=ctx.tool_timeout)
    problem = _exit_problem(run, {0, 2})
    if problem:
        return Profile(command, run.wall_seconds, problem=problem)
    return read_profile(output, command)


def run_apply(
    ctx: Context,
    tenant: Tenant,
    *,
    latency_ms: float,
    points: int,
    window: float,
    reserve: int,
    second_consumer: int,
) -> ApplyResult:
    limits = {
        "latency": latency_ms / 1000,
        "rate_limit_points": points,
        "rate_limit_window": window,
        "second_consumer_points": second_consumer,
    }
    journal = ctx.workdir / f"journal-{second_consumer}.jsonl"
    journal.unlink(missing_ok=True)
    tool_argv = [
        *reconciler_argv(), "apply", str(tenant.path), *ctx.connection(),
        "--auto-approve", "--rate-reserve", str(reserve), "--journal", str(journal),
    ]  # fmt: skip
    naive_argv = [sys.executable, str(NAIVE), "apply", str(tenant.path), *ctx.connection()]
    results: list[Measured] = []
    converged: list[bool | None] = []
    for argv, timeout in ((tool_argv, ctx.tool_timeout), (naive_argv, ctx.naive_timeout)):
        # Every run starts from the same tenant, with a fresh rate window.
        ctx.emulator.configure(**UNLIMITED, second_consumer_points=0)
        ctx.emulator.load_state(tenant.state)
        ctx.emulator.configure(**limits)
        measured = measure(ctx, argv, timeout=timeout, accepted={0})
        results.append(measured)
        converged.append(None if measured.run.timed_out else _converged(ctx, tenant))
        if measured.problem is None and converged[-1] is not True:
            measured.problem = (
                "the tenant did not converge: a plan after it still has changes"
                if converged[-1] is False
                else "could not check that the tenant converged (the plan after it failed)"
            )
    return ApplyResult(
        users=tenant.users,
        changes=sum(tenant.desired.expected.values()),
        latency_ms=latency_ms,
        points=points,
        window=window,
        reserve=reserve,
        second_consumer=second_consumer,
        tool=results[0],
        naive=results[1],
        tool_converged=converged[0],
        naive_converged=converged[1],
    )


def _converged(ctx: Context, tenant: Tenant) -> bool | None:
    """After an apply, the same desired state must plan to no changes (None: the
    check itself could not run)."""
    ctx.emulator.configure(**UNLIMITED, second_consumer_points=0, latency=0)
    argv = [*reconciler_argv(), "plan", str(tenant.path), *ctx.connection(), "--detailed-exitcode"]
    run = run_process(argv, env=ctx.env(), timeout=ctx.tool_timeout, cwd=ctx.workdir)
    if run.exit_code not in (0, 2):
        ctx.log(f"    convergence check failed to run: {run.tail(3)}")
        return None
    return run.exit_code == 0


# --------------------------------------------------------------------------- checks


def _exit_problem(run: ProcessRun, accepted: set[int]) -> str | None:
    if run.timed_out:
        return f"stopped at the {run.wall_seconds:.0f} s timeout"
    if run.exit_code not in accepted:
        return f"exit {run.exit_code}: {run.tail(4)}"
    return None


def _plan_counts(path: Path) -> dict[str, int] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    counts = data.get("counts") if isinstance(data, dict) else None
    return {k: v for k, v in counts.items() if v} if isinstance(counts, dict) else None


def _naive_counts(run: ProcessRun) -> dict[str, int] | None:
    lines = run.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])["changes"] if lines else None
    except (ValueError, KeyError, TypeError):
        return None


def _check_changes(measured: Measured, expected: Mapping[str, int]) -> None:
    if measured.problem or measured.run.timed_out:
        return
    if measured.changes is None:
        measured.problem = "its planned changes could not be read"
    elif dict(measured.changes) != {k: v for k, v in expected.items() if v}:
        measured.problem = f"planned {measured.changes}, expected {dict(expected)}"
