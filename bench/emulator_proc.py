"""The emulator in a process of its own, driven by the harness.

The benchmark must not let the emulator's CPU count against the tool, nor the
tool's against the emulator: each gets its own process (and, on 2 cores, its own
core). This runs the project's in-process `Emulator` (its documented Python
interface, so every setting of `EmulatorConfig` is reachable), prints one JSON line
with the URL and credentials, then obeys one JSON command per stdin line:

    {"configure": {"latency": 0.02, ...}}   -> Emulator.configure(**settings)
    end of input                             -> stop and exit

Tenants are loaded and statistics read over HTTP (`/_emulator/state`,
`/_emulator/stats`), exactly as the contract publishes them.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main(argv: list[str]) -> int:
    from reconciler.emulator import Emulator, EmulatorConfig

    settings: dict[str, Any] = json.loads(argv[0]) if argv else {}
    emulator = Emulator(EmulatorConfig(**settings))
    emulator.start()
    try:
        hello = {
            "url": emulator.url,
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
        }
        print(json.dumps(hello), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            try:
                emulator.configure(**command.get("configure", {}))
                reply: dict[str, Any] = {"ok": True}
            except Exception as exc:  # the harness shows it and stops
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(reply), flush=True)
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
