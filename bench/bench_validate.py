"""Benchmark: load and validate a generated 50,000-user desired state.

Prints the wall time of each phase (YAML load, schema + rules) and peak memory, both
in-process (tracemalloc) and for a real `reconciler validate` subprocess (ru_maxrss),
which is what a CI job of a large customer pays. Target: under 2 s and 300 MB.

    python bench/bench_validate.py [--users 50000] [--repeat 3] [--baseline] [--keep DIR]

On a shared machine look at the best of several runs: the others measure the
neighbours as much as the code.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DOMAINS = ("example.com", "example.org", "corp.example.net", "eu.example.com")
PRODUCTS = {
    "agileplace": "name: AgilePlace Production",
    "agileplace-sandbox": "name: AgilePlace Sandbox",
    "portfolios": "id: p-portfolios-prod",
    "projectplace": "name: Projectplace",
    "roadmaps": "id: p-roadmaps",
    "idea-management": "name: IdeaPlace",
    "hub": "name: Planview Hub",
    "enterprise-one": "id: p-e1-prod",
}
GROUPS = {
    "engineering": ["agileplace", "portfolios"],
    "product": ["roadmaps", "portfolios", "idea-management"],
    "pmo": ["portfolios", "enterprise-one"],
    "sandbox": ["agileplace-sandbox"],
    "collab": ["projectplace", "hub"],
}
FIRST = ("Alice", "Bob", "Chloé", "Dmitri", "Eve", "Farid", "Grace", "Hiro", "Ines", "José")
LAST = ("Smith", "Nguyen", "O'Brien", "Müller", "Kowalski", "Tanaka", "García", "Lee")


def generate(path: Path, users: int, seed: int = 7) -> None:
    """A realistic file: settings, product aliases, groups, users with mixed fields."""
    rng = random.Random(seed)
    lines = [
        "# yaml-language-server: $schema=../schemas/desired-state.schema.json",
        "version: 1",
        "settings:",
        "  unmanagedUsers: deactivate",
        '  protectedUsers: ["break-glass@example.com", "*@planview.com"]',
        "  scope:",
        f"    emailDomains: [{', '.join(DOMAINS)}]",
        "  safety:",
        '    maxRemovals: "10%"',
        "products:",
    ]
    lines += [f"  {alias}: {{{ref}}}" for alias, ref in PRODUCTS.items()]
    lines.append("groups:")
    lines += [f"  {g}: {{products: [{', '.join(p)}]}}" for g, p in GROUPS.items()]
    lines.append("users:")
    group_names, product_names = list(GROUPS), list(PRODUCTS)
    for i in range(users):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        ascii_name = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore")
        local = f"{ascii_name.decode()}.{i}".lower().replace("'", "")
        lines.append(f"  - email: {local}@{rng.choice(DOMAINS)}")
        lines.append(f"    firstName: {first}")
        lines.append(f'    lastName: "{last}"')
        if rng.random() < 0.05:
            lines.append("    role: Administrator")
        if rng.random() < 0.02:
            lines.append("    passwordRequired: true")
        if rng.random() < 0.03:
            lines.append("    active: false")
        lines.append(f"    groups: [{', '.join(rng.sample(group_names, rng.randint(0, 2)))}]")
        if rng.random() < 0.4:
            lines.append(f"    products: [{rng.choice(product_names)}]")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _timed(label: str, func: Callable[[], T]) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    print(
        f"  {label:<44} {time.perf_counter() - wall:6.2f} s wall "
        f"{time.process_time() - cpu:6.2f} s CPU"
    )
    return result


def _spread(values: list[float]) -> str:
    return f"best {min(values):5.2f} s, median {statistics.median(values):5.2f} s"


def _in_process(path: Path, repeat: int) -> None:
    """Our path, phase by phase. tracemalloc slows allocation-heavy code ~10x, so
    time and memory are measured in separate passes."""
    from reconciler.load import load_files
    from reconciler.validate import validate_documents

    loads: list[float] = []
    checks: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        documents, problems = load_files([path])
        loaded = time.perf_counter()
        state = validate_documents(documents, problems)
        loads.append(loaded - started)
        checks.append(time.perf_counter() - loaded)
        del documents, problems
    print(f"  load (YAML -> values + positions):           {_spread(loads)}")
    print(f"  validate (schema + rules + DesiredState):    {_spread(checks)}")
    print(f"  users: {len(state.users)}  digest: {state.digest[:16]}")
    del state
    tracemalloc.start()
    documents, problems = load_files([path])
    validate_documents(documents, problems)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  peak traced memory (separate pass): {peak / 2**20:.1f} MB")


def _baseline(path: Path) -> None:
    """What the obvious code costs: PyYAML's constructor and jsonschema on everything."""
    import json

    import yaml
    from jsonschema import Draft202012Validator, FormatChecker

    from reconciler.validate import schema_text

    text = path.read_bytes()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    value = _timed("yaml.load(CSafeLoader), no positions", lambda: yaml.load(text, Loader=loader))
    _timed("yaml.compose(CSafeLoader), nodes with marks", lambda: yaml.compose(text, Loader=loader))
    validator = Draft202012Validator(json.loads(schema_text()), format_checker=FormatChecker())
    _timed("jsonschema iter_errors over the document", lambda: list(validator.iter_errors(value)))


def _subprocess(path: Path, repeat: int) -> None:
    """The whole command as CI runs it, interpreter start and imports included."""
    walls: list[float] = []
    cpus: list[float] = []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", "validate", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        before = after
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  `reconciler validate` exit {proc.returncode}, {repeat} runs")
    print(f"  wall: {_spread(walls)}")
    print(f"  CPU:  {_spread(cpus)}")
    print(f"  peak RSS: {rss:.0f} MB")
    print(f"  {(proc.stdout or proc.stderr).strip()[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement (the machine is shared)"
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also time PyYAML's constructor and plain jsonschema",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "users.yaml"
        started = time.perf_counter()
        generate(path, args.users)
        size = path.stat().st_size / 2**20
        print(
            f"generated {args.users} users, {size:.1f} MB in {time.perf_counter() - started:.2f} s"
        )
        print("subprocess (what CI pays):")
        _subprocess(path, args.repeat)
        print("in-process phases:")
        _in_process(path, args.repeat)
        if args.baseline:
            print("baseline, for comparison (the obvious approach):")
            _baseline(path)


if __name__ == "__main__":
    main()
