"""Collect the live state a plan needs: users, products, managed products' provisioning."""

from reconciler.collect.live import collect_live

__all__ = ["collect_live"]
