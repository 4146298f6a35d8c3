"""Apply a plan: the executor, its journal, and the stale-plan check for saved plans."""

from reconciler.apply.executor import ApplyResult, ChangeResult, execute
from reconciler.apply.freshness import check_fresh, check_target
from reconciler.apply.gate import check_safety
from reconciler.apply.journal import Journal, default_journal_path, read_journal
from reconciler.apply.planfile import check_structure, load_plan, plan_digest, save_plan

__all__ = [
    "ApplyResult",
    "ChangeResult",
    "Journal",
    "check_fresh",
    "check_safety",
    "check_structure",
    "check_target",
    "default_journal_path",
    "execute",
    "load_plan",
    "plan_digest",
    "read_journal",
    "save_plan",
]
