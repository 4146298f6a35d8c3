"""The harness's handle on the emulator process (see `bench/emulator_proc.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from bench.paging import endpoint_of

REPO = Path(__file__).resolve().parents[1]


class EmulatorError(RuntimeError):
    pass


class EmulatorProcess:
    def __init__(self, **settings: Any):
        self.settings = settings
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.client_id = ""
        self.client_secret = ""
        self.http: httpx.Client | None = None

    def __enter__(self) -> EmulatorProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.emulator_proc", json.dumps(self.settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        line = self._read_line()
        hello = json.loads(line)
        self.url = hello["url"]
        self.client_id = hello["client_id"]
        self.client_secret = hello["client_secret"]
        self.http = httpx.Client(base_url=self.url, timeout=300)

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None
        if self.proc is not None:
            if self.proc.stdin:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU the emulator process has used so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        # utime and stime are fields 14 and 15 of stat(5); [0] here is field 3.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def configure(self, **settings: Any) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"configure": settings}) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self._read_line())
        if not reply.get("ok"):
            raise EmulatorError(f"emulator refused settings {settings}: {reply.get('error')}")

    def load_state(self, state: dict[str, Any]) -> None:
        assert self.http is not None
        response = self.http.put("/_emulator/state", json=state)
        if response.status_code >= 300:
            raise EmulatorError(
                f"loading the tenant failed: {response.status_code} {response.text}"
            )

    def state(self) -> dict[str, Any]:
        assert self.http is not None
        response = self.http.get("/_emulator/state")
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        assert self.http is not None
        response = self.http.get("/_emulator/stats")
        response.raise_for_status()
        return response.json()

    def _read_line(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise EmulatorError(f"the emulator process exited ({code}) before it answered")
        return line


class StatsWindow:
    """Requests per endpoint and 429s sent between two reads of `/_emulator/stats`."""

    def __init__(self, emulator: EmulatorProcess):
        self.emulator = emulator
        self.before = emulator.stats()

    def close(self) -> tuple[Counter[str], int]:
        after = self.emulator.stats()
        requests = _per_endpoint(after) - _per_endpoint(self.before)
        throttled = _throttled(after) - _throttled(self.before)
        return requests, throttled


def _per_endpoint(stats: dict[str, Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for key, value in _request_counts(stats).items():
        counts[endpoint_of(key)] += int(value)
    return counts


def _request_counts(stats: dict[str, Any]) -> dict[str, int]:
    """The emulator's request counter, keyed "METHOD /path"."""
    raw = stats.get("requests", stats.get("by_endpoint", {}))
    if isinstance(raw, dict) and all(isinstance(v, dict) for v in raw.values()):
        # {"GET": {"/path": n}} or {"/path": {"GET": n}}
        flat = {}
        for outer, inner in raw.items():
            for key, value in inner.items():
                method, path = (outer, key) if outer.isupper() else (key, outer)
                flat[f"{method} {path}"] = value
        return flat
    if isinstance(raw, dict):
        return raw
    raise EmulatorError(f"unexpected /_emulator/stats shape: {sorted(stats)}")


def _throttled(stats: dict[str, Any]) -> int:
    for key in ("throttled", "rate_limited", "responses_429", "429"):
        if key in stats:
            return int(stats[key])
    return 0
