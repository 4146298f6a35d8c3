"""An emulator of the Planview Admin API, serving real HTTP for tests, demos and benches.

It shares no code with the client in `reconciler.backends`: it is a second,
independent reading of `api-contract.md`, so a misreading in one shows up against
the other.
"""

from reconciler.emulator.config import PAGE_LIMITS, EmulatorConfig
from reconciler.emulator.server import Emulator, EmulatorError

__all__ = ["PAGE_LIMITS", "Emulator", "EmulatorConfig", "EmulatorError"]
