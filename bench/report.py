"""Targets and the `docs/benchmarks.md` report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.measure import Machine
from bench.paging import TOKEN
from bench.profile import Profile
from bench.scenarios import ApplyResult, Measured, PlanResult, ValidateResult

# Hand-written analysis of the latest full run (why targets were missed, what would
# close them), quoted in the report when present.
ANALYSIS = Path(__file__).resolve().with_name("analysis.md")
# Pages a listing may read past its end: --concurrency - 1, at the default of 4 the
# harness runs with (docs/rate-budget.md, "Reading ahead").
READ_AHEAD_PER_LISTING = 3

# The targets.
PLAN_USERS = 50_000
PLAN_LATENCY_MS = 20
PLAN_WALL_S = 6.0
PLAN_SPEEDUP = 5.0
PLAN_RSS_MB = 400.0
VALIDATE_USERS = 50_000
VALIDATE_WALL_S = 2.0
APPLY_IDEAL_FACTOR = 1.15
APPLY_429_ALONE = 0
APPLY_429_SHARED = 3


@dataclass
class Verdict:
    target: str
    measured: str
    met: bool | None  # None: not measured in this run
    gap: str = ""  # by how much it was missed


@dataclass
class Companion:
    """A component benchmark's own printout, quoted in the report."""

    command: str
    output: str


@dataclass
class Results:
    validate: list[ValidateResult] = field(default_factory=list)
    plan: list[PlanResult] = field(default_factory=list)
    apply: list[ApplyResult] = field(default_factory=list)


# --------------------------------------------------------------------------- targets


def verdicts(results: Results) -> list[Verdict]:
    out: list[Verdict] = []
    plan = next(
        (p for p in results.plan if p.users == PLAN_USERS and p.latency_ms == PLAN_LATENCY_MS),
        None,
    )
    label = f"plan, {PLAN_USERS:,} users, {PLAN_LATENCY_MS} ms"
    if plan is None:
        for target in ("wall", "speed-up", "peak RSS"):
            out.append(Verdict(f"{label}: {target}", "not run (full mode only)", None))
    else:
        wall = plan.tool.run.wall_seconds
        out.append(_upper(f"{label}: wall < {PLAN_WALL_S:g} s", wall, PLAN_WALL_S, "s", plan.tool))
        speedup, bound = ratio(plan.naive, plan.tool)
        text = _ratio_text(speedup, bound)
        met = speedup >= PLAN_SPEEDUP if speedup is not None else None
        gap = "" if met or speedup is None else f"{PLAN_SPEEDUP / speedup:.2f}x short"
        out.append(Verdict(f"{label}: >= {PLAN_SPEEDUP:g}x faster than naive", text, met, gap))
        rss = plan.tool.run.peak_rss_mb
        out.append(
            _upper(f"{label}: peak RSS < {PLAN_RSS_MB:g} MB", rss, PLAN_RSS_MB, "MB", plan.tool)
        )
    validate = next((v for v in results.validate if v.users == VALIDATE_USERS), None)
    label = f"validate, {VALIDATE_USERS:,} users: wall < {VALIDATE_WALL_S:g} s"
    if validate is None:
        out.append(Verdict(label, "not run (full mode only)", None))
    else:
        out.append(
            _upper(label, validate.tool.run.wall_seconds, VALIDATE_WALL_S, "s", validate.tool)
        )
    for p in results.plan:
        excess = read_excess(p)
        text = ", ".join(f"{e.split()[-1]} +{n}" for e, n in excess.items() if n)
        allowed = {e: p.listings[e] * READ_AHEAD_PER_LISTING for e in excess}
        over = {e: n - allowed[e] for e, n in excess.items() if n > allowed[e]}
        out.append(
            Verdict(
                f"reads, plan {p.users:,} users {p.latency_ms:g} ms: "
                f"<= minimum + {READ_AHEAD_PER_LISTING} pages read ahead per listing",
                f"{p.tool.total_requests} requests ({text or 'at the minimum'})"
                if p.tool.ok
                else _failed(p.tool),
                not over if p.tool.ok else False,
                "; ".join(f"`{e}` {n} pages over" for e, n in over.items()),
            )
        )
    for a in results.apply:
        label = f"apply {a.changes:,} changes, second consumer {a.second_consumer}/window"
        ideal = a.ideal_seconds(a.tool)
        wall = a.tool.run.wall_seconds
        if not a.tool.ok:
            out.append(
                Verdict(f"{label}: within {APPLY_IDEAL_FACTOR}x ideal", _failed(a.tool), False)
            )
        else:
            factor = wall / ideal if ideal else float("inf")
            met = factor <= APPLY_IDEAL_FACTOR
            out.append(
                Verdict(
                    f"{label}: within {APPLY_IDEAL_FACTOR}x ideal",
                    f"{wall:.1f} s vs ideal {ideal:.1f} s = {factor:.2f}x",
                    met,
                    "" if met else f"{wall - APPLY_IDEAL_FACTOR * ideal:.1f} s over",
                )
            )
        limit = APPLY_429_SHARED if a.second_consumer else APPLY_429_ALONE
        met = a.tool.throttled <= limit and a.tool.ok
        out.append(
            Verdict(
                f"{label}: at most {limit} 429s",
                str(a.tool.throttled) if a.tool.ok else _failed(a.tool),
                met,
                "" if a.tool.throttled <= limit else f"{a.tool.throttled - limit} too many",
            )
        )
    return out


def read_excess(p: PlanResult) -> dict[str, int]:
    """Requests beyond the paging minimum, per listing endpoint."""
    endpoints = (set(p.minimum) | set(p.tool.requests)) - {TOKEN}
    # An endpoint the minimum does not need at all is excess in full.
    return {e: p.tool.requests.get(e, 0) - p.minimum.get(e, 0) for e in sorted(endpoints)}


def ratio(naive: Measured, tool: Measured) -> tuple[float | None, bool]:
    """naive wall / tool wall; the bool says it is a lower bound (naive stopped)."""
    if not tool.ok or tool.run.wall_seconds <= 0:
        return None, False
    if naive.run.timed_out:
        return naive.run.wall_seconds / tool.run.wall_seconds, True
    if not naive.ok:
        return None, False
    return naive.run.wall_seconds / tool.run.wall_seconds, False


def _ratio_text(value: float | None, bound: bool) -> str:
    if value is None:
        return "n/a"
    return f"{'> ' if bound else ''}{value:.1f}x"


def _upper(label: str, value: float, limit: float, unit: str, measured: Measured) -> Verdict:
    if not measured.ok:
        return Verdict(label, _failed(measured), False)
    met = value < limit
    gap = "" if met else f"{value - limit:.2f} {unit} over ({value / limit:.2f}x the target)"
    return Verdict(label, f"{value:.2f} {unit}", met, gap)


def _failed(measured: Measured) -> str:
    return f"failed: {measured.problem or 'stopped'}"


# --------------------------------------------------------------------------- markdown


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _wall(m: Measured) -> str:
    if m.run.timed_out:
        return f"stopped at {m.run.wall_seconds:.0f} s"
    text = f"{m.run.wall_seconds:.2f} s"
    if len(m.repeats) > 1:
        text += f" ({min(m.repeats):.2f}-{max(m.repeats):.2f})"
    return text if m.ok else text + " (failed)"


def _rss(m: Measured) -> str:
    return f"{m.run.peak_rss_mb:.0f} MB"


def _mark(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "not run"}[met]


def render(
    results: Results,
    machine: Machine,
    command: str,
    settings: Sequence[tuple[str, str]],
    companions: Sequence[Companion] = (),
    profile: Profile | None = None,
) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by the benchmark harness (`bench/`); do not edit by hand. The figures "
        "below come from:",
        "",
        "```",
        command,
        "```",
        "",
        "Run like that, the harness writes its report to `bench/out/benchmarks.md` "
        "(`bench/out/benchmarks-quick.md` with `--quick`) and leaves this file alone; only "
        "a full run given `--publish` rewrites it.",
        "",
        "## Machine",
        "",
        *_table(("", ""), machine.rows()),
        "## Run settings",
        "",
        *_table(("setting", "value"), settings),
        "## Targets",
        "",
    ]
    lines += _table(
        ("target", "measured", "verdict", "missed by"),
        [(v.target, v.measured, _mark(v.met), v.gap) for v in verdicts(results)],
    )
    if results.validate:
        lines += ["## validate", ""]
        rows = []
        for v in results.validate:
            speed, bound = ratio(v.naive, v.tool)
            rows.append(
                (
                    f"{v.users:,}",
                    f"{v.file_mb:.1f} MB",
                    _wall(v.tool),
                    _rss(v.tool),
                    _wall(v.naive),
                    _rss(v.naive),
                    _ratio_text(speed, bound),
                )
            )
        lines += _table(
            ("users", "file", "reconciler wall", "reconciler peak RSS", "naive wall",
             "naive peak RSS", "naive / reconciler"),
            rows,
        )  # fmt: skip
    if results.plan:
        lines += ["## plan", ""]
        rows = []
        for p in results.plan:
            speed, bound = ratio(p.naive, p.tool)
            rows.append(
                (
                    f"{p.users:,}",
                    f"{p.latency_ms:g} ms",
                    f"{sum(p.expected.values()):,}",
                    _wall(p.tool),
                    _rss(p.tool),
                    f"{p.tool.run.cpu_seconds:.2f} s",
                    f"{p.tool.emulator_cpu:.2f} s",
                    f"{p.tool.total_requests} / {sum(p.minimum.values())}",
                    _wall(p.naive),
                    _rss(p.naive),
                    f"{p.naive.total_requests}",
                    _ratio_text(speed, bound),
                )
            )
        lines += _table(
            ("users", "latency", "changes", "reconciler wall", "peak RSS", "CPU",
             "emulator CPU", "requests / minimum", "naive wall", "naive RSS", "naive requests",
             "naive / reconciler"),
            rows,
        )  # fmt: skip
        lines += ["### plan: requests per endpoint", ""]
        lines += [
            "Minimum: one token and every listing read at its maximum page size, "
            "`floor(n / max) + 1` pages for n records (a page shorter than "
            "`itemsPerPage`, or an empty one, ends a listing). Allowed: the minimum plus "
            "one speculative page per listing.",
            "",
        ]
        rows = []
        for p in results.plan:
            endpoints = sorted(set(p.minimum) | set(p.tool.requests) | set(p.naive.requests))
            for e in endpoints:
                allowed = p.minimum.get(e, 0) + p.listings.get(e, 0)
                rows.append(
                    (
                        f"{p.users:,}",
                        f"{p.latency_ms:g} ms",
                        f"`{e}`",
                        str(p.minimum.get(e, 0)),
                        str(allowed if e != TOKEN else p.minimum.get(e, 0)),
                        str(p.tool.requests.get(e, 0)),
                        str(p.naive.requests.get(e, 0)),
                    )
                )
        lines += _table(
            ("users", "latency", "endpoint", "minimum", "allowed", "reconciler", "naive"), rows
        )
    if results.apply:
        lines += ["## apply", ""]
        a0 = results.apply[0]
        lines += [
            f"{a0.changes:,} changes (updates, grants and new users; nothing taken away) on a "
            f"tenant of {a0.users:,} users, emulator latency {a0.latency_ms:g} ms, limited to "
            f"{a0.points} points per {a0.window:g} s window; the reconciler runs with "
            f"`--rate-reserve {a0.reserve}`.",
            "",
            "Ideal time = requests that spend points (everything but the token endpoint) / "
            "points per second left to the tool, that is "
            "(window points - reserve - second consumer's points) / window length. "
            "The naive script keeps no reserve; its ideal would be requests / "
            "(points - second consumer) per second.",
            "",
        ]
        rows = []
        for a in results.apply:
            ideal = a.ideal_seconds(a.tool)
            factor = a.tool.run.wall_seconds / ideal if ideal and a.tool.ok else None
            speed, bound = ratio(a.naive, a.tool)
            rows.append(
                (
                    f"{a.second_consumer}/window",
                    f"{a.available_per_second:g}/s",
                    str(a.tool.budget_requests),
                    f"{ideal:.1f} s",
                    _wall(a.tool),
                    "n/a" if factor is None else f"{factor:.2f}x",
                    f"{a.tool.budget_requests / a.tool.run.wall_seconds:.0f}/s",
                    str(a.tool.throttled),
                    _rss(a.tool),
                    _yes(a.tool_converged),
                    _wall(a.naive),
                    str(a.naive.throttled),
                    str(a.naive.budget_requests),
                    _yes(a.naive_converged),
                    _ratio_text(speed, bound),
                )
            )
        lines += _table(
            ("second consumer", "points for the tool", "requests", "ideal", "reconciler wall",
             "wall / ideal", "points used", "429s", "peak RSS", "converged", "naive wall",
             "naive 429s", "naive requests", "naive converged", "naive / reconciler"),
            rows,
        )  # fmt: skip
    found = problems(results)
    if found:
        lines += ["## Problems met during this run", "", *[f"- {p}" for p in found], ""]
    if profile is not None:
        lines += _profile_section(profile)
    if ANALYSIS.exists():
        lines += [ANALYSIS.read_text(encoding="utf-8").strip(), ""]
    if companions:
        lines += ["## Component benchmarks", ""]
        lines += [
            "Run by the harness after the scenarios; their own printouts, unedited.",
            "",
        ]
        for companion in companions:
            lines += [f"`{companion.command}`", "", "```", companion.output, "```", ""]
    lines += [
        "## How it is measured",
        "",
        "- Every figure is a whole process, started as a user starts it "
        "(`reconciler ...`, or `python bench/naive.py ...`): wall time from spawn to "
        "exit, peak RSS and CPU time from the kernel's accounting of that child "
        "(`wait4`). Interpreter start-up and imports count. The reconciler's "
        "validate and plan run several times (see Run settings): the median run is "
        "reported, with the fastest and slowest wall times in brackets. The naive "
        "script and every apply run once.",
        "- The emulator runs in a process of its own on 127.0.0.1, so its CPU is not "
        "charged to the tool (on 2 cores, each gets one). Request counts come from its "
        "`/_emulator/stats`, read before and after each run.",
        "- Tenants are generated from the seed: 8 product environments, about 1.5 "
        "products per user, 85% active, 8% pending, 7% deactivated users. The desired "
        "state is the tenant as `reconciler export` writes it, with 2% of its users "
        "changed: renames, promotions and demotions, products granted and revoked, "
        "leavers (deactivated) and joiners. Both tools must plan exactly the changes "
        "the generator made, or the run is reported as failed.",
        "- During validate and plan the emulator's rate limit is lifted (it would "
        "only throttle the naive script's many small pages); latency is added to "
        "every request.",
        "- The naive reconciler (`bench/naive.py`) is what an admin would write "
        "without this tool: `yaml.safe_load`, `jsonschema.validate` of the whole "
        "document with the project's schema, one keep-alive `httpx.Client`, pages "
        "read one after another at each endpoint's *default* page size (it does not "
        "ask for the maximum), `DeepDiff` over the whole desired and live states, "
        "writes one after another, sleeping `Retry-After` on 429. Runs that would "
        "take longer than the timeout are stopped; the ratio is then a lower bound (>).",
        "- After each apply, `reconciler plan --detailed-exitcode` must report no "
        'changes ("converged").',
        "",
    ]
    return "\n".join(lines)


def _profile_section(profile: Profile) -> list[str]:
    lines = ["## Where the time goes", "", f"{profile.command}.", ""]
    if profile.problem:
        return [*lines, f"The profiled run failed: {profile.problem}", ""]
    lines += [
        f"{profile.total_seconds:.2f} s in all under the profiler, which roughly doubles "
        "pure-Python time: read the shares, not the seconds. Time inside "
        "`<method 'acquire' of '_thread.lock' objects>` is the main thread waiting for "
        "the threads that read the API.",
        "",
        "The package's functions, by time spent in them and everything they call:",
        "",
    ]
    lines += _table(
        ("function", "calls", "cumulative", "share"),
        [
            (
                f"`{s.where}`",
                f"{s.calls:,}",
                f"{s.cumulative_seconds:.2f} s",
                f"{s.cumulative_seconds / profile.total_seconds:.0%}",
            )
            for s in profile.ours
        ],
    )
    lines += ["Anything, by time spent inside the function itself:", ""]
    lines += _table(
        ("function", "calls", "own time", "share"),
        [
            (
                f"`{s.where}`",
                f"{s.calls:,}",
                f"{s.own_seconds:.2f} s",
                f"{s.own_seconds / profile.total_seconds:.0%}",
            )
            for s in profile.own_time
        ],
    )
    return lines


def _yes(value: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "n/a"}[value]


def problems(results: Results) -> list[str]:
    found = []
    for v in results.validate:
        for name, m in (("reconciler", v.tool), ("naive", v.naive)):
            if not m.ok:
                found.append(f"validate {v.users:,} users, {name}: {_failed(m)}")
    for p in results.plan:
        for name, m in (("reconciler", p.tool), ("naive", p.naive)):
            if not m.ok:
                found.append(f"plan {p.users:,} users {p.latency_ms:g} ms, {name}: {_failed(m)}")
    for a in results.apply:
        for name, m in (("reconciler", a.tool), ("naive", a.naive)):
            if not m.ok:
                found.append(f"apply, second consumer {a.second_consumer}, {name}: {_failed(m)}")
    return [p.replace("\n", " / ") for p in found]


def summary_lines(results: Results) -> list[str]:
    lines = []
    for v in verdicts(results):
        gap = f" (missed by {v.gap})" if v.gap else ""
        lines.append(f"[{_mark(v.met).strip('*')}] {v.target}: {v.measured}{gap}")
    return lines
