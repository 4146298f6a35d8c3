"""The benchmark's scenarios: each runs the reconciler and the naive baseline as
whole processes against the same tenant and records what they cost."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.emulator_client import EmulatorProcess, StatsWindow
from bench.generate import Desired, apply_scenario, make_tenant, plan_scenario, write_yaml
from bench.measure import ProcessRun, reconciler_argv, run_process
from bench.paging import TOKEN, listings, minimum_plan_reads
from bench.profile import Profile, profile_argv, read_profile

NAIVE = Path(__file__).resolve().with_name("naive.py")
# No rate limit worth the name while reading: the plan scenarios measure paging and
# CPU, and a limit would only throttle the naive baseline's many small pages.
UNLIMITED = {"rate_limit_points": 1_000_000, "rate_limit_window": 60.0}


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
    naive: Measured


@dataclass
class PlanResult:
    users: int
    latency_ms: float
    expected: Counter[str]
    minimum: Counter[str]
    listings: Counter[str]
    tool: Measured
    naive: Measured


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
    ctx: Context, argv: list[str], *, timeout: float, accepted: set[int], api: bool = True
) -> Measured:
    window = StatsWindow(ctx.emulator) if api else None
    emulator_cpu = ctx.emulator.cpu_seconds()
    run = run_process(argv, env=ctx.env(), timeout=timeout, cwd=ctx.workdir)
    measured = Measured(run, problem=_exit_problem(run, accepted))
    measured.emulator_cpu = ctx.emulator.cpu_seconds() - emulator_cpu
    if window is not None:
        measured.requests, measured.throttled = window.close()
    return measured


def measure_median(
    ctx: Context, argv: list[str], *, accepted: set[int], api: bool = True
) -> Measured:
    runs = []
    for _ in range(max(1, ctx.repeat)):
        runs.append(measure(ctx, argv, timeout=ctx.tool_timeout, accepted=accepted, api=api))
        if not runs[-1].ok:
            return runs[-1]
    runs.sort(key=lambda m: m.run.wall_seconds)
    chosen = runs[(len(runs) - 1) // 2]
    chosen.repeats = [m.run.wall_seconds for m in runs]
    return chosen


def run_validate(ctx: Context, tenant: Tenant) -> ValidateResult:
    tool_argv = [*reconciler_argv(), "validate", str(tenant.path)]
    tool = measure_median(ctx, tool_argv, accepted={0}, api=False)
    naive_argv = [sys.executable, str(NAIVE), "validate", str(tenant.path)]
    naive = measure(ctx, naive_argv, timeout=ctx.naive_timeout, accepted={0}, api=False)
    size = tenant.path.stat().st_size / 1024**2
    return ValidateResult(tenant.users, size, tool, naive)


def run_plan(ctx: Context, tenant: Tenant, latency_ms: float) -> PlanResult:
    ctx.emulator.configure(latency=latency_ms / 1000, second_consumer_points=0, **UNLIMITED)
    ctx.emulator.load_state(tenant.state)
    out = ctx.workdir / f"plan-{tenant.users}-{latency_ms:g}ms.json"
    tool_argv = [*reconciler_argv(), "plan", str(tenant.path), *ctx.connection(), "--out", str(out)]
    tool = measure_median(ctx, tool_argv, accepted={0, 2})
    tool.changes = _plan_counts(out)
    naive_argv = [
        sys.executable, str(NAIVE), "plan", str(tenant.path), *ctx.connection(),
    ]  # fmt: skip
    naive = measure(ctx, naive_argv, timeout=ctx.naive_timeout, accepted={0})
    naive.changes = _naive_counts(naive.run)
    for measured in (tool, naive):
        _check_changes(measured, tenant.desired.expected)
    managed = tenant.provisioned
    return PlanResult(
        users=tenant.users,
        latency_ms=latency_ms,
        expected=tenant.desired.expected,
        minimum=minimum_plan_reads(
            len(tenant.state["users"]), managed, len(tenant.state["products"])
        ),
        listings=listings(managed),
        tool=tool,
        naive=naive,
    )


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
