"""The Planview Admin backend: `PlanviewBackend(ClientSettings(...))`."""

from reconciler.backends.planview.backend import ClientSettings, PlanviewBackend

__all__ = ["ClientSettings", "PlanviewBackend"]
