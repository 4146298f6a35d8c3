"""Plan and export against a slow tenant, side by side: this checkout against another
tree (the commit before issue 13's concurrent reads, say), each run in turn.

    python -m bench.read_overlap --users 50000 --latencies 100,20 --base /tmp/base

Prints wall time, requests (token included), peak RSS and the ratio to the serial read
floor (paging minimum x latency) and to the concurrent floor (that / concurrency).
`python -m bench` measures the same side by side (its "overlap" stage, with
`--base-commit`), counting the audit reads apart; this script is the quick look.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

from bench.emulator_client import EmulatorProcess
from bench.generate import make_tenant, plan_scenario, write_yaml
from bench.measure import run_process, start_launcher, stop_launcher
from bench.paging import TOKEN, minimum_plan_reads

UNLIMITED = {"rate_limit_points": 10_000_000, "rate_limit_window": 60.0}
REQUESTS = re.compile(r"API: (\d+) requests?")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--latencies", default="100,20")
    parser.add_argument("--base", type=Path, help="another source tree to run side by side")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--commands", default="plan,export")
    args = parser.parse_args(argv)
    trees = {"now": Path(__file__).resolve().parent.parent}
    if args.base:
        trees["base"] = args.base.resolve()
    # Spawn the runs from a small process: a child's peak RSS starts at its spawner's
    # high-water mark, and this one is about to hold a whole tenant (bench/launcher.py).
    start_launcher()
    try:
        return _measure(args, trees)
    finally:
        stop_launcher()


def _measure(args: argparse.Namespace, trees: dict[str, Path]) -> int:
    state = make_tenant(args.users, 7)
    with tempfile.TemporaryDirectory(prefix="bench-overlap-") as tmp, EmulatorProcess() as emu:
        desired = write_yaml(plan_scenario(state, 0.02, 8).document, Path(tmp) / "desired.yaml")
        emu.load_state(state)
        provisioned = {pid: len(ids) for pid, ids in state["provisioning"].items()}
        reads = minimum_plan_reads(len(state["users"]), provisioned, len(state["products"]))
        # the paging minimum (every product: the scenario manages them all), token aside
        minimum = sum(n for endpoint, n in reads.items() if endpoint != TOKEN)
        env = {**os.environ, "PLANVIEW_ADMIN_CLIENT_SECRET": emu.client_secret, "NO_COLOR": "1"}
        conn = ["--url", emu.url, "--client-id", emu.client_id]
        conn += ["--concurrency", str(args.concurrency)]
        print("| command | latency | tree | wall s | requests | peak RSS MB | "
              "serial floor s | ratio | concurrent floor s | ratio |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|---|")
        for latency in [float(x) for x in args.latencies.split(",")]:
            emu.configure(latency=latency / 1000, second_consumer_points=0, **UNLIMITED)
            for command in args.commands.split(","):
                words = [command, str(desired)] if command == "plan" else [command, "--out",
                         str(Path(tmp) / "export.yaml"), "--force"]  # fmt: skip
                for _ in range(args.repeat):
                    for name, tree in trees.items():
                        run = run_process(
                            [sys.executable, "-m", "reconciler", *words, *conn],
                            env={**env, "PYTHONPATH": str(tree)},
                            cwd=tree,
                            timeout=900,
                        )
                        found = REQUESTS.search(run.stderr)
                        if run.exit_code not in (0, 2) or not found:
                            print(f"{command} {name} failed: {run.stderr[-400:]}", file=sys.stderr)
                            continue
                        requests = int(found[1])
                        serial = minimum * latency / 1000
                        floor = serial / args.concurrency
                        print(
                            f"| {command} | {latency:g} ms | {name} | {run.wall_seconds:.2f} | "
                            f"{requests} | {run.peak_rss_mb:.0f} | {serial:.2f} | "
                            f"{run.wall_seconds / serial:.2f} | {floor:.2f} | "
                            f"{run.wall_seconds / floor:.2f} |",
                            flush=True,
                        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
