"""The Planview Admin backend: `PlanviewBackend(ClientSettings(...))`."""

from reconciler.backends.planview.backend import ClientSettings, PlanviewBackend, is_loopback

__all__ = ["ClientSettings", "PlanviewBackend", "is_loopback"]
