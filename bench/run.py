"""The benchmark harness: `python -m bench [--quick] [--publish]`.

Starts the emulator in its own process, generates tenants and desired states from
a seed, runs `reconciler validate|plan|apply` and the naive baseline side by side as
whole processes, prints the figures and the targets met or missed, and writes a
report: `bench/out/benchmarks.md` (`benchmarks-quick.md` for --quick), or the
committed `docs/benchmarks.md` only for a full run given `--publish` (or that path
as `--out`), so a quick look never replaces the published figures.
"""

from __future__ import annotations

import argparse
import pickle
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = REPO / "docs" / "benchmarks.md"  # committed; rewritten by --publish only
OUT_DIR = REPO / "bench" / "out"  # git-ignored: every other run's report
if __package__ in (None, ""):  # run as `python bench/run.py`
    sys.path.insert(0, str(REPO))

from bench.emulator_client import EmulatorProcess  # noqa: E402
from bench.measure import (  # noqa: E402
    Machine,
    describe_machine,
    run_process,
    start_launcher,
    stop_launcher,
)
from bench.profile import Profile  # noqa: E402
from bench.report import Companion, Results, problems, render, summary_lines  # noqa: E402
from bench.scenarios import (  # noqa: E402
    UNLIMITED,
    Context,
    Measured,
    Tenant,
    apply_tenant,
    extract_tree,
    plan_tenant,
    run_apply,
    run_decode,
    run_plan,
    run_profile,
    run_tree,
    run_validate,
    slow_tenant,
)

FULL = {
    "sizes": "1000,10000,50000",
    "latencies": "0,20",
    "apply_users": 10_000,
    "apply_changes": 2000,
    "naive_timeout": 300.0,
    "repeat": 3,
    "overlap_users": 50_000,
    "scale_users": "200000",
    "decode_users": 50_000,
}
QUICK = {
    "sizes": "1000",
    "latencies": "0,20",
    "apply_users": 1000,
    "apply_changes": 100,
    "naive_timeout": 60.0,
    "repeat": 1,
    "overlap_users": 1000,
    "scale_users": "2000",
    "decode_users": 1000,
}
# overlap: plan and export side by side with --base-commit; scale: validate and plan at
# --scale-users; decode: JSON decoders on the API pages (all three: issue 13).
STAGES = ("validate", "plan", "apply", "overlap", "scale", "decode")
# The commit before issue 13's work: the "before" of the side-by-side rows.
BASE_COMMIT = "111bee8"
# Benchmarks of single components, kept by their owners; the report quotes them.
COMPANIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bench/bench_validate.py", ("--users", "50000")),
    ("bench/bench_emulator.py", ()),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Benchmark reconciler validate/plan/apply against the bundled emulator, side "
            "by side with a naive script, and write a report to bench/out/ (docs/benchmarks.md "
            "only with --publish). The full run takes about 10-15 minutes on 2 cores; --quick "
            "under a minute."
        ),
    )
    parser.add_argument(
        "--quick", action="store_true", help="1,000 users and 100 changes: under a minute."
    )
    parser.add_argument(
        "--sizes", help="tenant sizes in users, comma-separated (full: %(default)s)"
    )
    parser.add_argument("--latencies", help="emulator latencies in ms, comma-separated")
    parser.add_argument("--apply-users", type=int, help="tenant size for the apply scenario")
    parser.add_argument("--apply-changes", type=int, help="changes the apply scenario makes")
    parser.add_argument(
        "--apply-latency", type=float, default=20.0, help="emulator latency during apply, ms"
    )
    parser.add_argument("--rate-points", type=int, default=100, help="apply: points per window")
    parser.add_argument("--rate-window", type=float, default=1.0, help="apply: window, seconds")
    parser.add_argument("--rate-reserve", type=int, default=10, help="apply: --rate-reserve")
    parser.add_argument(
        "--second-consumer",
        type=int,
        default=20,
        help="apply: points per window another integration spends",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        help="runs of each reconciler validate/plan; the median is reported (full: 3)",
    )
    parser.add_argument(
        "--naive-timeout", type=float, help="stop the naive script after this many seconds"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="the reconciler's --concurrency for plan and export, and the divisor of the "
        "concurrent floor (default %(default)s)",
    )
    parser.add_argument(
        "--overlap-users",
        type=int,
        help="tenant size for plan and export side by side with --base-commit (full: 50000)",
    )
    parser.add_argument(
        "--overlap-latencies",
        default="100,20",
        help="emulator latencies in ms for the side-by-side rows (default %(default)s)",
    )
    parser.add_argument(
        "--base-commit",
        default=BASE_COMMIT,
        help="commit to run side by side (git archive, unpacked to a temporary tree); "
        "'none' to skip (default %(default)s, the commit before issue 13's work)",
    )
    parser.add_argument(
        "--scale-users",
        help="larger sizes for validate and plan, without the naive script, run once "
        "(full: 200000)",
    )
    parser.add_argument(
        "--scale-latency",
        type=float,
        default=20.0,
        help="emulator latency of the scale plan row, ms (default %(default)s)",
    )
    parser.add_argument(
        "--decode-users", type=int, help="tenant whose API pages are decoded (full: 50000)"
    )
    parser.add_argument(
        "--stages", default=",".join(STAGES), help="which of validate,plan,apply to run"
    )
    parser.add_argument(
        "--companions",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run bench/bench_validate.py and bench/bench_emulator.py and include their "
        "output (default: on in full mode, off with --quick)",
    )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run `reconciler plan` at the largest size under cProfile and report where "
        "its time goes (default: on in full mode, off with --quick)",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of every generated tenant")
    parser.add_argument(
        "--out",
        type=Path,
        help="report to write; '-' for none (default bench/out/benchmarks.md, or "
        "bench/out/benchmarks-quick.md with --quick)",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="write the committed docs/benchmarks.md (full runs only)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep generated files, plans, journals, profiles and results.pickle here "
        "(default: a temporary directory, removed afterwards)",
    )
    parser.add_argument(
        "--render-from",
        type=Path,
        metavar="PICKLE",
        help="run nothing: write the report again from a previous run's "
        "WORKDIR/results.pickle (e.g. after editing bench/analysis.md)",
    )
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    if args.companions is None:
        args.companions = not args.quick
    if args.profile is None:
        args.profile = not args.quick
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.size_list = [int(s) for s in str(args.sizes).split(",") if s]
    args.scale_list = [int(s) for s in str(args.scale_users).split(",") if s]
    args.overlap_latency_list = [float(s) for s in str(args.overlap_latencies).split(",") if s]
    args.latency_list = [float(s) for s in str(args.latencies).split(",") if s]
    args.stage_list = [s for s in args.stages.split(",") if s]
    unknown = set(args.stage_list) - set(STAGES)
    if unknown:
        parser.error(f"unknown stage(s): {', '.join(sorted(unknown))}")
    try:
        args.report = report_path(args.out, publish=args.publish, quick=args.quick)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def report_path(out: Path | None, *, publish: bool, quick: bool) -> Path | None:
    """Where the report goes (None: nowhere). Only a full run may replace PUBLISHED."""
    if out is not None and str(out) == "-":
        if publish:
            raise ValueError("--publish writes docs/benchmarks.md; it cannot go with --out -")
        return None
    chosen = out
    if publish:
        if out is not None and out.resolve() != PUBLISHED:
            raise ValueError("--publish writes docs/benchmarks.md; give --publish or --out")
        chosen = PUBLISHED
    if chosen is None:
        return OUT_DIR / ("benchmarks-quick.md" if quick else "benchmarks.md")
    if quick and chosen.resolve() == PUBLISHED:
        raise ValueError(
            "a --quick run cannot write docs/benchmarks.md: the committed report holds the "
            "full run's figures (run without --quick, with --publish)"
        )
    return chosen


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render_from is not None:
        with args.render_from.open("rb") as handle:
            saved = pickle.load(handle)  # our own file, written by an earlier run
        # The saved run decides whether it was quick, not the flags given now.
        args.quick = args.quick or "--quick" in shlex.split(saved["command"])
        try:
            args.report = report_path(args.out, publish=args.publish, quick=args.quick)
        except ValueError as exc:
            print(f"python -m bench: error: {exc}", file=sys.stderr)
            return 2
        return finish(args, **saved)
    if args.report is not None:
        print(f"the report will be written to {_shown(args.report)}", flush=True)
    start_launcher()  # before any tenant is generated: see bench/launcher.py
    try:
        return measure_all(args, argv)
    finally:
        stop_launcher()


def measure_all(args: argparse.Namespace, argv: list[str] | None) -> int:
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "-m", "bench", *given])
    started = time.monotonic()
    results = Results()
    profile: Profile | None = None

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        base_tree: Path | None = None
        if "overlap" in args.stage_list and args.base_commit.lower() != "none":
            base_tree, why = extract_tree(args.base_commit, workdir)
            if base_tree is None:
                note = f"the side-by-side rows have no base tree: {why}"
                results.notes.append(note)
                log(note)
            else:
                log(f"base tree: git archive {args.base_commit} in {base_tree}")
        with EmulatorProcess(**UNLIMITED) as emulator:
            log(f"emulator at {emulator.url} (pid {emulator.pid})")
            ctx = Context(
                emulator, workdir, args.seed, args.naive_timeout, repeat=args.repeat, log=log
            )
            sizes = args.size_list if {"validate", "plan"} & set(args.stage_list) else []
            extra = [
                n
                for stage, n in (("overlap", args.overlap_users), ("decode", args.decode_users))
                if stage in args.stage_list and n not in sizes
            ]
            for users in [*sizes, *sorted(set(extra))]:
                tenant = plan_tenant(ctx, users)
                log(f"tenant of {users:,} users, desired state {tenant.path.name}")
                if users in sizes and "validate" in args.stage_list:
                    result = run_validate(ctx, tenant)
                    results.validate.append(result)
                    log(f"  validate: {_pair(result.tool, result.naive)}, floor "
                        f"{_one(result.floor)}")  # fmt: skip
                if users in sizes and "plan" in args.stage_list:
                    for latency in args.latency_list:
                        plan = run_plan(ctx, tenant, latency, concurrency=args.concurrency)
                        results.plan.append(plan)
                        log(
                            f"  plan {latency:g} ms: {_pair(plan.tool, plan.naive)}, requests "
                            f"{plan.tool.total_requests} (minimum {plan.listing_minimum}, "
                            f"audit {plan.audit})"
                        )
                    if args.profile and users == max(sizes):
                        latency = max(args.latency_list)
                        log(f"  profiling plan at {users:,} users, {latency:g} ms")
                        profile = run_profile(ctx, tenant, latency)
                if users == args.overlap_users and "overlap" in args.stage_list:
                    run_overlap(args, ctx, tenant, base_tree, results, log)
                if users == args.decode_users and "decode" in args.stage_list:
                    log(f"  decoding the API pages of {users:,} users")
                    results.decode = run_decode(ctx, tenant)
                del tenant  # a 200,000-user tenant is large: one at a time
            if "scale" in args.stage_list:
                for users in args.scale_list:
                    tenant = plan_tenant(ctx, users)
                    log(f"scale: tenant of {users:,} users, desired state {tenant.path.name}")
                    result = run_validate(ctx, tenant, naive=False, repeat=1)
                    results.validate.append(result)
                    log(f"  validate: {_one(result.tool)}, floor {_one(result.floor)}")
                    plan = run_plan(
                        ctx,
                        tenant,
                        args.scale_latency,
                        naive=False,
                        repeat=1,
                        concurrency=args.concurrency,
                    )
                    results.plan.append(plan)
                    log(f"  plan {args.scale_latency:g} ms: {_one(plan.tool)}")
                    del tenant
            if results.decode is not None:
                # The verdict weighs the decoding against plan's CPU at the same size.
                users = results.decode.users
                cpu = [(p.latency_ms, p.tool.run.cpu_seconds) for p in results.plan
                       if p.users == users and p.tool.ok]  # fmt: skip
                # Without plan rows (--stages), this checkout's side-by-side plan runs.
                cpu = cpu or [(r.latency_ms, r.tool.run.cpu_seconds) for r in results.overlap
                              if (r.users, r.command, r.tree) == (users, "plan", "this checkout")
                              and r.tool.ok]  # fmt: skip
                if cpu:
                    results.decode.plan_cpu = min(cpu)[1]  # the lowest latency: least waiting
            if "apply" in args.stage_list:
                tenant = apply_tenant(ctx, args.apply_users, args.apply_changes)
                log(f"apply tenant of {args.apply_users:,} users, {args.apply_changes:,} changes")
                for consumer in sorted({0, args.second_consumer}):
                    result = run_apply(
                        ctx,
                        tenant,
                        latency_ms=args.apply_latency,
                        points=args.rate_points,
                        window=args.rate_window,
                        reserve=args.rate_reserve,
                        second_consumer=consumer,
                    )
                    results.apply.append(result)
                    log(
                        f"  apply, second consumer {consumer}: {_pair(result.tool, result.naive)}, "
                        f"ideal {result.ideal_seconds(result.tool):.1f} s, 429s "
                        f"{result.tool.throttled} vs naive {result.naive.throttled}"
                    )
    companions: list[Companion] = []
    if args.companions:
        for script, extra in COMPANIONS:
            log(f"companion: {script} {' '.join(extra)}")
            companions.append(run_companion(script, extra))
    settings: list[tuple[str, str]] = [
        ("seed", str(args.seed)),
        ("tenant sizes (users)", ", ".join(f"{n:,}" for n in args.size_list)),
        ("emulator latency (validate, plan)", ", ".join(f"{n:g} ms" for n in args.latency_list)),
        (
            "apply",
            f"{args.apply_changes:,} changes on {args.apply_users:,} users, "
            f"{args.apply_latency:g} ms latency, {args.rate_points} points / "
            f"{args.rate_window:g} s, --rate-reserve {args.rate_reserve}, second consumer "
            f"0 and {args.second_consumer} points / window",
        ),
        ("naive timeout", f"{args.naive_timeout:g} s"),
        ("runs per reconciler validate/plan cell", f"{args.repeat} (median reported)"),
        (
            "side by side (plan, export)",
            f"{args.overlap_users:,} users at "
            + ", ".join(f"{n:g} ms" for n in args.overlap_latency_list)
            + f", base commit {args.base_commit}, one run each",
        ),
        (
            "scale rows",
            ", ".join(f"{n:,}" for n in args.scale_list)
            + f" users: validate, plan at {args.scale_latency:g} ms; one run, no naive",
        ),
        ("JSON decoding", f"the API pages of {args.decode_users:,} users"),
        ("--concurrency", str(args.concurrency)),
        ("stages", ", ".join(args.stage_list)),
        ("harness wall time", f"{time.monotonic() - started:.0f} s"),
    ]
    report = {
        "results": results,
        "machine": describe_machine(REPO),
        "command": command,
        "settings": settings,
        "companions": companions,
        "profile": profile,
    }
    if args.workdir is not None:
        with (args.workdir / "results.pickle").open("wb") as handle:
            pickle.dump(report, handle)
    return finish(args, **report)


def finish(
    args: argparse.Namespace,
    *,
    results: Results,
    machine: Machine,
    command: str,
    settings: list[tuple[str, str]],
    companions: list[Companion],
    profile: Profile | None,
) -> int:
    """Print the verdicts, write the report; exit 1 when a run failed."""
    print()
    for line in summary_lines(results):
        print(line)
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        text = render(results, machine, command, settings, companions, profile)
        args.report.write_text(text, encoding="utf-8")
        print(f"\nwrote {_shown(args.report)}")
    failed = problems(results)
    if failed:
        print(f"\n{len(failed)} run(s) failed; their figures are not comparable:", file=sys.stderr)
        for line in failed:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def run_companion(script: str, extra: tuple[str, ...]) -> Companion:
    argv = [sys.executable, script, *extra]
    run = run_process(argv, timeout=600, cwd=REPO)
    output = (run.stdout + run.stderr).strip()
    if run.timed_out or run.exit_code != 0:
        output += f"\n(exit {run.exit_code}{', stopped at the timeout' if run.timed_out else ''})"
    return Companion(shlex.join(["python", script, *extra]), output)


def _one(m: Measured | None) -> str:
    if m is None:
        return "not run"
    state = "" if m.ok else f" [{(m.problem or 'stopped').splitlines()[0]}]"
    return f"{m.run.wall_seconds:.2f} s, {m.run.peak_rss_mb:.0f} MB{state}"


def _pair(tool: Measured, naive: Measured | None) -> str:
    return f"reconciler {_one(tool)} | naive {_one(naive)}"


def run_overlap(
    args: argparse.Namespace,
    ctx: Context,
    tenant: Tenant,
    base_tree: Path | None,
    results: Results,
    log: Callable[[str], None],
) -> None:
    """plan and export at each --overlap-latencies, this checkout then the base tree."""
    trees = [(REPO, "this checkout")]
    if base_tree is not None:
        trees.append((base_tree, f"base {args.base_commit}"))
    for latency in args.overlap_latency_list:
        slow_tenant(ctx, tenant, latency)
        for command in ("plan", "export"):
            for tree, label in trees:
                row = run_tree(
                    ctx,
                    tenant,
                    command=command,
                    latency_ms=latency,
                    tree=tree,
                    label=label,
                    concurrency=args.concurrency,
                    repeat=1,
                )
                results.overlap.append(row)
                floor = row.floor()
                log(
                    f"  {command} {latency:g} ms, {label}: {_one(row.tool)}, "
                    f"{row.tool.total_requests} requests ({row.audit} audit), "
                    f"wall / serial floor {row.tool.run.wall_seconds / floor:.2f}"
                    if floor
                    else f"  {command} {latency:g} ms, {label}: {_one(row.tool)}"
                )


if __name__ == "__main__":
    sys.exit(main())
