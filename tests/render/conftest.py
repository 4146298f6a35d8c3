import sys
from pathlib import Path

# The state builder is shared by the diff, plan and render tests; it lives with the
# plan tests and is put on the path here rather than copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plan"))
