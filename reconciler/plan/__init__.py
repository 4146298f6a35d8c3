"""The plan: the ordered, priced, safety-checked changes (see `model.py` for its shape)."""

from reconciler.plan.build import build_plan
from reconciler.plan.model import (
    PHASE,
    PLAN_FORMAT_VERSION,
    Change,
    ChangeKind,
    Plan,
    PlanFormatError,
    SafetyVerdict,
    Skipped,
)
from reconciler.plan.safety import removal_limit, verdict

__all__ = [
    "PHASE",
    "PLAN_FORMAT_VERSION",
    "Change",
    "ChangeKind",
    "Plan",
    "PlanFormatError",
    "SafetyVerdict",
    "Skipped",
    "build_plan",
    "removal_limit",
    "verdict",
]
