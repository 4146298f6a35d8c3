"""Collect the live state a plan needs: users, products, managed products' provisioning."""

from reconciler.collect.deactivations import collect_deactivations, grace_candidates
from reconciler.collect.live import PendingLive, collect_live, start_collect

__all__ = [
    "PendingLive",
    "collect_deactivations",
    "collect_live",
    "grace_candidates",
    "start_collect",
]
