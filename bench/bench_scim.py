"""Plan (and export) 10,000 users against a real SCIM server: requests versus the paging
minimum, and time.

    python -m bench.bench_scim [--users 10000] [--groups 8] [--max-results 1000] [--repeat 3]
    python bench/bench_scim.py ...

Starts its own `scim2-server` on 127.0.0.1 (a free port), loads the users through the
SCIM API (`/Bulk` when the server announces it, else concurrent `POST /Users`) and the
groups with their members, writes the desired state as the tenant is with 1% of the
users renamed, then runs `reconciler plan` and `reconciler export` as a user would
(`RECONCILER_BACKEND=scim`, SCIM_URL, SCIM_TOKEN), each in a fresh process.

Printed per command: requests (the command's own stats line), the paging minimum
(`/ServiceProviderConfig`, then every page of the user and group listings at the page
size the server announces, the last one known from `totalResults`), their ratio, the
median wall time (with the fastest and slowest), and the floor: the same minimum pages
fetched one after another by a bare HTTP client, best of the runs, i.e. what the
server alone takes to serve the reads the command cannot avoid.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):  # run as `python bench/bench_scim.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import run_process

TOKEN = "bench-scim-token-0123456789abcdef"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
BULK_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
REQUESTS = re.compile(r"API: (\d+) requests?")
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """scim2-server in a process of its own (its CPU is not charged to the tool)."""

    def __init__(self, workdir: Path, max_results: int) -> None:
        import scim2_server

        beside = Path(sys.executable).with_name("scim2-server")
        executable = str(beside) if beside.exists() else shutil.which("scim2-server")
        if not executable:
            raise SystemExit("scim2-server is not installed (pip install -e '.[test]')")
        resources = Path(scim2_server.__file__).parent / "resources"
        config = json.loads((resources / "default-service-provider-config.json").read_text())
        config["filter"]["maxResults"] = max_results
        config_file = workdir / "service-provider-config.json"
        config_file.write_text(json.dumps(config))
        self.bulk = dict(config.get("bulk") or {})
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = (workdir / "scim2-server.log").open("wb")
        self.process = subprocess.Popen(
            [
                executable,
                *("--hostname", "127.0.0.1", "--port", str(self.port), "--bearer-token", TOKEN),
                *("--service-provider-config", str(config_file)),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}/ServiceProviderConfig", timeout=1.0)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise SystemExit("scim2-server did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _user(n: int) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": f"user{n:06d}@example.com",
        "name": {"givenName": "User", "familyName": f"N{n:06d}"},
        "emails": [{"value": f"user{n:06d}@example.com", "type": "work", "primary": True}],
        "active": n % 14 != 0,  # about 7% deactivated
    }


def load(server: Server, users: int, groups: int, concurrency: int) -> dict[str, Any]:
    """Users and groups on the server; returns ids and memberships for the desired state."""
    client = httpx.Client(base_url=server.url, headers=HEADERS, timeout=300.0)
    ids: dict[int, str] = {}
    batch = int(server.bulk.get("maxOperations") or 0) if server.bulk.get("supported") else 0

    def bulk(numbers: list[int]) -> None:
        operations = [
            {"method": "POST", "path": "/Users", "bulkId": str(n), "data": _user(n)}
            for n in numbers
        ]
        answer = client.post("/Bulk", json={"schemas": [BULK_SCHEMA], "Operations": operations})
        answer.raise_for_status()
        for op in answer.json()["Operations"]:
            if not str(op.get("status", "")).startswith("2"):
                raise SystemExit(f"bulk create failed: {op}")
            ids[int(op["bulkId"])] = op["location"].rstrip("/").rsplit("/", 1)[-1]

    def one(n: int) -> None:
        answer = client.post("/Users", json=_user(n))
        answer.raise_for_status()
        ids[n] = answer.json()["id"]

    numbers = list(range(users))
    with ThreadPoolExecutor(concurrency) as pool:
        if batch:
            # payload size bounds a batch too: about 300 bytes per user
            size = min(batch, int(server.bulk.get("maxPayloadSize") or 1 << 20) // 400)
            list(pool.map(bulk, [numbers[i : i + size] for i in range(0, users, size)]))
        else:
            list(pool.map(one, numbers))
    # each user in one or two groups: about 1.5 memberships per user
    members: dict[int, list[int]] = {g: [] for g in range(groups)}
    for n in numbers:
        members[n % groups].append(n)
        if n % 2:
            members[(n + 1) % groups].append(n)
    for g in range(groups):
        body = {
            "schemas": [GROUP_SCHEMA],
            "displayName": f"Group {g}",
            "members": [{"value": ids[n]} for n in members[g]],
        }
        client.post("/Groups", json=body).raise_for_status()
    client.close()
    return {"members": members}


def desired_yaml(users: int, groups: int, members: dict[int, list[int]], renamed: int) -> str:
    """The tenant as it is, with the first `renamed` users' last names changed."""
    of_user: dict[int, list[str]] = {}
    for g, numbers in members.items():
        for n in numbers:
            of_user.setdefault(n, []).append(f"g{g}")
    lines = ["version: 1", "products:"]
    lines += [f"  g{g}: {{name: 'Group {g}'}}" for g in range(groups)]
    lines.append("users:")
    for n in range(users):
        last = f"Renamed{n}" if n < renamed else f"N{n:06d}"
        active = "" if n % 14 else ", active: false"
        products = ", ".join(sorted(of_user.get(n, [])))
        lines.append(
            f"  - {{email: user{n:06d}@example.com, firstName: User, lastName: {last}"
            f"{active}, products: [{products}]}}"
        )
    return "\n".join(lines) + "\n"


def minimum_pages(users: int, groups: int, page: int) -> int:
    """/ServiceProviderConfig, then each listing's pages; an empty listing is one page."""
    return 1 + max(1, math.ceil(users / page)) + max(1, math.ceil(groups / page))


def floor_seconds(server: Server, users: int, groups: int, page: int) -> float:
    """The minimum pages, one after another, with the attributes the tool asks for."""
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=300.0) as client:
        started = time.perf_counter()
        client.get("/ServiceProviderConfig").raise_for_status()
        for path, total, attributes in (
            ("/Users", users, "userName,name,emails,active,meta"),
            ("/Groups", groups, "displayName,members"),
        ):
            for start in range(1, max(total, 1) + 1, page):
                params = {"startIndex": str(start), "count": str(page), "attributes": attributes}
                client.get(path, params=params).raise_for_status()
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--max-results", type=int, default=1000, help="filter.maxResults")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4, help="the tool's, and loading's")
    args = parser.parse_args(argv)
    page = min(args.max_results, 1000)  # the backend's own cap
    renamed = args.users // 100

    with tempfile.TemporaryDirectory(prefix="bench-scim-") as tmp:
        work = Path(tmp)
        server = Server(work, args.max_results)
        try:
            started = time.perf_counter()
            loaded = load(server, args.users, args.groups, args.concurrency)
            print(
                f"loaded {args.users} users and {args.groups} groups into scim2-server "
                f"in {time.perf_counter() - started:.1f} s (page size {page})",
                file=sys.stderr,
            )
            desired = work / "desired.yaml"
            desired.write_text(desired_yaml(args.users, args.groups, loaded["members"], renamed))
            env = {
                **os.environ,
                "RECONCILER_BACKEND": "scim",
                "SCIM_URL": server.url,
                "SCIM_TOKEN": TOKEN,
                "NO_COLOR": "1",
            }
            common = ["--concurrency", str(args.concurrency)]
            commands = {
                "plan": ["plan", str(desired), "--format", "json", *common],
                "export": ["export", "--out", str(work / "export.yaml"), "--force", *common],
            }
            minimum = minimum_pages(args.users, args.groups, page)
            floor = min(
                floor_seconds(server, args.users, args.groups, page) for _ in range(args.repeat)
            )
            print(
                "| command | users | groups | requests | paging minimum | ratio | "
                "wall s (median, range) | peak RSS MB | floor s | wall ÷ floor |"
            )
            print("|---|---|---|---|---|---|---|---|---|---|")
            for name, words in commands.items():
                runs = [
                    run_process([sys.executable, "-m", "reconciler", *words], env=env, cwd=work)
                    for _ in range(args.repeat)
                ]
                for run in runs:
                    if run.exit_code != 0:
                        raise SystemExit(f"{name} exited {run.exit_code}:\n{run.stderr}")
                if name == "plan":
                    counts = json.loads(runs[0].stdout)["counts"]
                    changed = {k: v for k, v in counts.items() if v}
                    if changed != ({"update": renamed} if renamed else {}):
                        raise SystemExit(f"plan found {changed}, expected {renamed} updates")
                found = {int(m[1]) for run in runs if (m := REQUESTS.search(run.stderr))}
                if len(found) != 1:
                    raise SystemExit(f"{name}: request counts {found} (expected one figure)")
                requests = found.pop()
                walls = sorted(run.wall_seconds for run in runs)
                median = statistics.median(walls)
                rss = max(run.peak_rss_mb for run in runs)
                print(
                    f"| {name} | {args.users:,} | {args.groups} | {requests} | {minimum} | "
                    f"{requests / minimum:.2f} | {median:.2f} ({walls[0]:.2f}-{walls[-1]:.2f}) | "
                    f"{rss:.0f} | {floor:.2f} | {median / floor:.1f} |"
                )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
