"""The SCIM fixtures of tests/scim (a real scim2-server on 127.0.0.1), reused here.

tests/scim/conftest.py is loaded under a name of its own, so that 'conftest' never
resolves to another directory's module, and its fixtures are re-exported.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_SCIM_TESTS = Path(__file__).resolve().parent.parent / "scim"
if str(_SCIM_TESTS) not in sys.path:
    sys.path.insert(0, str(_SCIM_TESTS))  # its conftest imports scim_server by name

_spec = importlib.util.spec_from_file_location("scim_tests_conftest", _SCIM_TESTS / "conftest.py")
assert _spec is not None and _spec.loader is not None
_scim = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _scim  # dataclasses look their module up there
_spec.loader.exec_module(_scim)

_scim_default = _scim._scim_default
_scim_small_pages = _scim._scim_small_pages
scim = _scim.scim
scim_small_pages = _scim.scim_small_pages
