import sys
from pathlib import Path

# Reuse the plan tests' hand-built states rather than copy them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plan"))
