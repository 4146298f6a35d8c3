"""Spawns the measured processes from a small process of its own.

On Linux a child's peak RSS (`ru_maxrss`) is at least its parent's high-water mark
at the time of fork/exec: exec records the old address space's peak before
replacing it. The harness holds whole generated tenants in memory (hundreds of MB
at 50,000 users), so children it spawned itself would all report at least that.
This launcher is started before anything is generated and stays small; it runs one
JSON request per stdin line and answers one JSON line:

    {"argv": [...], "env": {...}, "cwd": "...", "timeout": 300, "stdout": PATH, "stderr": PATH}
    -> {"status": wait-status, "maxrss_kb": n, "cpu": s, "wall": s, "timed_out": bool}
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    from bench.measure import spawn_and_wait

    for line in sys.stdin:
        request = json.loads(line)
        with open(request["stdout"], "wb") as out, open(request["stderr"], "wb") as err:
            reply = spawn_and_wait(
                request["argv"], request["env"], request["cwd"], request["timeout"], out, err
            )
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
