"""Make `tests/support` importable, and bound hypothesis for CI.

Profiles: `fuzz-ci` (default: a fixed number of examples per test, no deadline, so a
slow CI machine does not fail a test for being slow) and `fuzz-long` for a longer hunt:
HYPOTHESIS_PROFILE=fuzz-long FUZZ_EXAMPLES=20000 python -m pytest tests/fuzz.
"""

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

settings.register_profile(
    "fuzz-ci",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples on every CI run: a failure is reproducible
)
settings.register_profile(
    "fuzz-long",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
