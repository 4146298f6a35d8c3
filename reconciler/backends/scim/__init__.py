"""The SCIM 2.0 backend: `open_scim_backend(ScimSettings(...))` (see docs/scim.md)."""

from reconciler.backends.scim.backend import ScimBackend, open_scim_backend
from reconciler.backends.scim.settings import ScimSettings

__all__ = ["ScimBackend", "ScimSettings", "open_scim_backend"]
