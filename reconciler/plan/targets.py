"""`--target`: limit a plan to some users' changes or one product's grants and revokes.

Terraform's `-target`, for exceptions such as an urgent offboarding, not for routine
use: the rest of the desired state is left unapplied until a whole plan runs. A pure
filter over the diff's changes, applied before the plan orders and numbers them, so a
targeted plan is an ordinary plan (ids c1..cN, safety limit counted on what it holds).

- `EMAIL` (case-insensitive) keeps every change of that user, including the
  deactivation or deletion of a user the files do not list: that happens only when
  the user is targeted by email.
- `product:ALIAS` keeps the grants and revokes of that product, and the create or
  reactivation a kept grant depends on (as Terraform includes a target's dependencies;
  the plan says so in a warning).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from reconciler.changes import ChangeKind, Skipped
from reconciler.diff.result import DiffChange
from reconciler.errors import ConfigError
from reconciler.model import email_key

PRODUCT_PREFIX = "product:"

TARGETING_WARNING = (
    "This plan is targeted (--target): it holds only the changes of the targets, and "
    "the rest of the desired state is not applied. Targeting is for exceptional "
    "situations such as an urgent offboarding, not for routine use: run a whole plan "
    "afterwards so that the tenant converges."
)


@dataclass(frozen=True, slots=True)
class Targets:
    emails: tuple[str, ...] = ()  # email keys (case-folded)
    products: tuple[str, ...] = ()  # aliases as written under `products:`

    def __bool__(self) -> bool:
        return bool(self.emails or self.products)

    def labels(self) -> tuple[str, ...]:
        """How the plan records them: emails, then `product:ALIAS`, each once, sorted."""
        return (*sorted(self.emails), *(PRODUCT_PREFIX + a for a in sorted(self.products)))


def parse_targets(values: Iterable[str]) -> Targets:
    """`--target` values -> Targets; a value that is neither an email nor
    `product:ALIAS` is a ConfigError (exit 1)."""
    emails: set[str] = set()
    products: set[str] = set()
    for raw in values:
        value = raw.strip()
        if value.casefold().startswith(PRODUCT_PREFIX):
            alias = value[len(PRODUCT_PREFIX) :].strip()
            if not alias:
                raise ConfigError(
                    f"--target {raw!r} names no product: write product:ALIAS, with an alias "
                    "defined under `products:`."
                )
            products.add(alias)
        elif value.count("@") == 1 and not any(c.isspace() for c in value):
            emails.add(email_key(value))
        else:
            raise ConfigError(
                f"--target {raw!r} is neither an email nor product:ALIAS: give a user's "
                "email (e.g. --target ann@example.com) or a product alias "
                "(e.g. --target product:agileplace)."
            )
    return Targets(tuple(sorted(emails)), tuple(sorted(products)))


def targeted_changes(
    changes: Sequence[DiffChange],
    targets: Targets,
    alias_to_pid: Mapping[str, str],
    warnings: list[str],
) -> list[DiffChange]:
    """The changes the targets select, with the creates and reactivations their grants
    depend on. Appends to `warnings`: the targeting warning, every dependency pulled in,
    and every target that selects nothing. An alias not defined under `products:` (or
    not matched to a live product) is a ConfigError: a typo must not look like
    'nothing to do'."""
    unknown = [alias for alias in targets.products if alias not in alias_to_pid]
    if unknown:
        known = ", ".join(sorted(alias_to_pid)) or "none"
        raise ConfigError(
            f"--target product:{unknown[0]} names a product alias that is not defined under "
            f"`products:` in the desired state (aliases: {known}). Nothing was planned."
        )
    emails = frozenset(targets.emails)
    pids = frozenset(alias_to_pid[alias] for alias in targets.products)

    def selected(change: DiffChange) -> bool:
        if change.key in emails:
            return True
        return change.kind in (ChangeKind.GRANT, ChangeKind.REVOKE) and change.product_id in pids

    kept = [change for change in changes if selected(change)]
    # A kept grant that waits on its user's create or reactivation needs that change too.
    needed = {(c.key, c.after_kind) for c in kept if c.after_kind is not None}
    present = {(c.key, c.kind) for c in kept}
    missing = needed - present
    added: list[DiffChange] = []
    for change in changes:
        if (change.key, change.kind) in missing:
            added.append(change)
            missing.discard((change.key, change.kind))
    if added:
        kept = _trim_created_products(kept + added, alias_to_pid)
        for change in added:
            warnings.append(
                f"--target: the {change.kind.value} of {change.email} is included because "
                "a targeted grant depends on it."
            )
    warnings.insert(0, TARGETING_WARNING)
    touched_users = {c.key for c in kept}
    touched_pids = {c.product_id for c in kept if c.product_id is not None}
    for key in targets.emails:
        if key not in touched_users:
            warnings.append(f"--target {key}: the plan has no change for this user.")
    for alias in targets.products:
        if alias_to_pid[alias] not in touched_pids:
            warnings.append(
                f"--target product:{alias}: the plan grants or revokes nothing of this product."
            )
    return kept


def targeted_skipped(skipped: Iterable[Skipped], targets: Targets) -> tuple[Skipped, ...]:
    """The protected users a targeted plan still mentions: targeted ones, and those whose
    held-back differences concern a targeted product."""
    emails = frozenset(targets.emails)
    products = frozenset(targets.products)
    kept = []
    for item in skipped:
        differences = item.differences.get("products") or {}
        aliases = {alias for values in differences.values() for alias in values}
        if email_key(item.email) in emails or aliases & products:
            kept.append(item)
    return tuple(kept)


def _trim_created_products(
    changes: list[DiffChange], alias_to_pid: Mapping[str, str]
) -> list[DiffChange]:
    """A create pulled in for one product's grant lists only the grants the plan holds,
    so the plan does not promise products it will not grant."""
    pid_to_alias: dict[str, str] = {}
    for alias in sorted(alias_to_pid):
        pid_to_alias.setdefault(alias_to_pid[alias], alias)
    granted: dict[str, set[str]] = {}
    for change in changes:
        if change.kind is ChangeKind.GRANT and change.product_id is not None:
            granted.setdefault(change.key, set()).add(pid_to_alias[change.product_id])
    trimmed = []
    for change in changes:
        if change.kind is ChangeKind.CREATE and change.after is not None:
            products = sorted(granted.get(change.key, set()))
            change = replace(change, after={**change.after, "products": products})
        trimmed.append(change)
    return trimmed
