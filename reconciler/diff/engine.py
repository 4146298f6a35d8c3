"""diff(desired, live, capabilities): the changes that make the managed part of the
tenant match.

Pure and single-pass: every user is looked up by `email_key()` in a dict, and fields
are compared one record at a time, so 50,000 users cost a few hundred milliseconds.
Field-level before/after values are built only for records that differ.

Every service-specific rule comes from the backend's `Capabilities`: which fields are
compared, which role is privileged (losing it is a removal), whether a deactivated
user can be granted products, and whether deactivating takes product access with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from operator import attrgetter
from typing import Any

from reconciler.backends.capabilities import Capabilities
from reconciler.changes import ChangeKind, Skipped
from reconciler.diff.result import DiffChange, DiffResult
from reconciler.diff.scope import Scope
from reconciler.errors import PlanError
from reconciler.model import (
    FIELD_LABELS,
    DesiredState,
    DesiredUser,
    LiveState,
    LiveUser,
    absent_fingerprint,
    parse_timestamp,
    provisioning_fingerprint,
)
from reconciler.resolve import resolve_products

_EMPTY: frozenset[str] = frozenset()


def diff(desired: DesiredState, live: LiveState, capabilities: Capabilities) -> DiffResult:
    return _Differ(desired, live, capabilities).run()


class _Differ:
    def __init__(self, desired: DesiredState, live: LiveState, capabilities: Capabilities) -> None:
        self.desired = desired
        self.live = live
        self.caps = capabilities
        self.fields = capabilities.compared_fields()
        self.field_changes = _field_comparer(self.fields)
        # All compared fields at once, for the check that a user already matches.
        self.values = attrgetter(*self.fields) if self.fields else None
        self.settings = desired.settings
        self.scope = Scope(desired.settings)
        resolved = resolve_products(desired.products, live.products.values())
        self.alias_to_pid = {alias: product.id for alias, product in resolved.items()}
        # Several aliases may name one product; display the first one alphabetically.
        self.pid_to_alias: dict[str, str] = {}
        for alias in sorted(self.alias_to_pid):
            self.pid_to_alias.setdefault(self.alias_to_pid[alias], alias)
        # Only aliased products are managed: provisioning of any other is never read
        # into `held`, so it can never be revoked.
        self.held: dict[str, set[str]] = {}
        for pid in self.pid_to_alias:
            for uid in live.provisioning.get(pid, _EMPTY):
                self.held.setdefault(uid, set()).add(pid)
        self._wanted_cache: dict[frozenset[str], frozenset[str]] = {}
        self.changes: list[DiffChange] = []
        self.skipped: list[Skipped] = []
        self.warnings: list[str] = []
        self.unknown_deactivations = 0

    # ------------------------------------------------------------------ driver

    def run(self) -> DiffResult:
        self._refuse_unmanaged_fields()
        listed: set[str] = set()
        # Both loops run once per user (50,000 and more): methods are looked up once.
        contains, live_users, listed_user = self.scope.contains, self.live.users, self._listed_user
        wanted_cache, held, values = self._wanted_cache, self.held, self.values
        # Most listed users already match. Without protected users the check that
        # they do is made here, in line; any other user takes `_listed_user`, which
        # reaches the same verdict for a matching one (nothing to change).
        unprotected = not self.settings.protected_users
        for user in self.desired.users:
            key = user.key
            if not contains(user.email):
                self.warnings.append(
                    f"{user.email} is outside settings.scope.emailDomains and is ignored."
                )
                continue
            if key in listed:
                raise PlanError(f"{_where(user)}{user.email} is listed more than once.")
            listed.add(key)
            current = live_users.get(key)
            if (
                values is not None
                and unprotected
                and current is not None
                and user.active == (current.status != "deactivated")
                and values(user) == values(current)
                and held.get(current.id, _EMPTY) == wanted_cache.get(user.products)
            ):
                continue
            listed_user(user, current, key)

        if self.scope.unrestricted:
            # No domains and no protected users (the usual settings): everyone is
            # managed, and asking the scope about each user would only say so.
            managed = len(live_users)
            for key, current in live_users.items():
                if key not in listed:
                    self._unlisted_user(current, None)
        else:
            managed = 0
            protected_by = self.scope.protected_by
            for key, current in live_users.items():
                if not contains(current.email):
                    continue
                pattern = protected_by(current.email)
                if pattern is None:
                    managed += 1
                if key not in listed:
                    self._unlisted_user(current, pattern)

        self._grace_warnings()
        self.skipped.sort(key=lambda s: s.email.casefold())
        return DiffResult(
            changes=tuple(self.changes),
            skipped=tuple(self.skipped),
            warnings=tuple(self.warnings),
            managed_users=managed,
        )

    def _grace_warnings(self) -> None:
        days = self.settings.delete_deactivated_after
        if days is None or self.live.read_at is None:
            return  # not asked for, or the deactivation times were not read
        if not self.caps.supports_delete:
            self.warnings.append(
                f"settings.deleteDeactivatedAfter has no effect: the {self.caps.name} backend "
                "cannot delete users."
            )
        elif self.unknown_deactivations:
            n = self.unknown_deactivations
            users = "user" if n == 1 else "users"
            self.warnings.append(
                f"{n} deactivated {users} not in the desired state have no known deactivation "
                "time, so settings.deleteDeactivatedAfter never deletes them."
            )

    # ------------------------------------------------------------------ what the backend manages

    def _refuse_unmanaged_fields(self) -> None:
        """A file that sets a field this backend cannot store, or a role outside its
        vocabulary, is refused as a whole: applying the rest would quietly drop it."""
        caps = self.caps
        checked = [name for name in ("role", "password_required") if name not in self.fields]
        problems: list[str] = []
        for user in self.desired.users:
            for name in checked:
                if user.explicitly_sets(name):
                    problems.append(
                        f"{_where(user)}{user.email} sets {FIELD_LABELS[name]}, which the "
                        f"{caps.name} backend does not manage; remove it from the desired state."
                    )
            if "role" in self.fields and user.role not in caps.roles:
                problems.append(
                    f"{_where(user)}{user.email} has role {user.role!r}, which the {caps.name} "
                    f"backend does not know (roles: {', '.join(caps.roles)})."
                )
        if problems:
            shown = problems[:20]
            more = len(problems) - len(shown)
            if more:
                shown.append(f"... and {more} more.")
            raise PlanError("\n".join(shown))

    # ------------------------------------------------------------------ listed users

    def _listed_user(self, user: DesiredUser, current: LiveUser | None, key: str) -> None:
        wanted = self._wanted(user)
        pattern = self.scope.protected_by(user.email)
        if pattern is not None:
            differences = self._differences(user, current, wanted)
            if differences:
                self.skipped.append(
                    Skipped(
                        user.email,
                        f"protected by settings.protectedUsers '{pattern}'",
                        differences,
                    )
                )
            return
        if current is None:
            self._create(user, wanted)
        else:
            self._converge(user, current, wanted, key)

    def _create(self, user: DesiredUser, wanted: frozenset[str]) -> None:
        if not user.active:
            self.warnings.append(
                f"{user.email} is listed with active: false but does not exist in the "
                "tenant; it is not created."
            )
            return
        key, source = user.key, _source(user)
        after: dict[str, Any] = user.fields(self.fields)
        after["products"] = sorted(self.pid_to_alias[pid] for pid in wanted)
        self.changes.append(
            DiffChange(
                ChangeKind.CREATE,
                key,
                user.email,
                after=after,
                fingerprint=absent_fingerprint(user.email),
                source=source,
            )
        )
        for pid in wanted:
            self.changes.append(
                DiffChange(
                    ChangeKind.GRANT,
                    key,
                    user.email,
                    product_id=pid,
                    product=self.pid_to_alias[pid],
                    before={"provisioned": False},
                    after={"provisioned": True},
                    fingerprint=provisioning_fingerprint(pid, None, False),
                    source=source,
                    after_kind=ChangeKind.CREATE,
                )
            )

    def _converge(
        self, user: DesiredUser, current: LiveUser, wanted: frozenset[str], key: str
    ) -> None:
        before, after = self.field_changes(user, current)
        active, current_active = user.active, current.active
        reactivating = active and not current_active
        deactivating = not active and current_active
        uid = current.id
        held = self.held.get(uid, _EMPTY)
        changed = before or reactivating or deactivating
        if not changed and held == wanted:
            return  # most users match: no source position, no hash, nothing to build
        source, email = _source(user), user.email
        # Hashing is the costliest step; only hash on a change of the record itself.
        fingerprint = current.fingerprint() if changed else None
        if before:
            privileged = self.caps.privileged_role
            demoted = (
                privileged is not None
                and before.get("role") == privileged
                and after.get("role") != privileged
            )
            self.changes.append(
                DiffChange(
                    ChangeKind.UPDATE,
                    key,
                    email,
                    user_id=uid,
                    before=before,
                    after=after,
                    removal=demoted,
                    fingerprint=fingerprint,
                    source=source,
                )
            )

        if reactivating:
            self.changes.append(
                DiffChange(
                    ChangeKind.REACTIVATE,
                    key,
                    email,
                    user_id=uid,
                    before={"status": current.status},
                    after={"status": "active"},
                    fingerprint=fingerprint,
                    source=source,
                )
            )
        elif deactivating:
            self.changes.append(
                DiffChange(
                    ChangeKind.DEACTIVATE,
                    key,
                    email,
                    user_id=uid,
                    before={"status": current.status},
                    after={"status": "deactivated"},
                    removal=True,
                    fingerprint=fingerprint,
                    source=source,
                )
            )

        if held == wanted:
            return
        for pid in held - wanted:
            self.changes.append(
                DiffChange(
                    ChangeKind.REVOKE,
                    key,
                    email,
                    user_id=uid,
                    product_id=pid,
                    product=self.pid_to_alias[pid],
                    before={"provisioned": True},
                    after={"provisioned": False},
                    removal=True,
                    fingerprint=provisioning_fingerprint(pid, uid, True),
                    source=source,
                )
            )
        missing = wanted - held
        if not missing:
            return
        if not user.active and self.caps.grant_requires_active:
            # The service refuses to provision a deactivated user.
            names = ", ".join(sorted(self.pid_to_alias[pid] for pid in missing))
            self.warnings.append(
                f"{email} is listed with active: false, so its products ({names}) cannot "
                "be granted (a deactivated user cannot be provisioned); set active: true "
                "or remove the products from the user."
            )
            return
        for pid in missing:
            self.changes.append(
                DiffChange(
                    ChangeKind.GRANT,
                    key,
                    email,
                    user_id=uid,
                    product_id=pid,
                    product=self.pid_to_alias[pid],
                    before={"provisioned": False},
                    after={"provisioned": True},
                    fingerprint=provisioning_fingerprint(pid, uid, False),
                    source=source,
                    after_kind=ChangeKind.REACTIVATE if reactivating else None,
                )
            )

    # ------------------------------------------------------------------ unlisted users

    def _unlisted_user(self, current: LiveUser, pattern: str | None) -> None:
        policy = self.settings.unmanaged_users
        if policy == "ignore":
            return
        # Where deactivating leaves product access in place, an unlisted user's managed
        # products are revoked beside the deactivation: unlisted means no managed access.
        lingering = (
            self.held.get(current.id, _EMPTY)
            if policy == "deactivate" and not self.caps.deactivate_revokes_access
            else _EMPTY
        )
        if policy == "deactivate" and not current.active and pattern is None:
            deactivated = self._grace_expired(current)
            if deactivated is not None:
                # Deleting drops the lingering provisioning with the user.
                self._delete(current, deactivated)
                return
        if policy == "deactivate" and not current.active and not lingering:
            return
        if pattern is not None:
            if policy == "delete":
                differences: dict[str, Any] = {"exists": {"before": True, "after": False}}
            else:
                differences = {}
                if current.active:
                    differences["status"] = {"before": current.status, "after": "deactivated"}
                if lingering:
                    differences["products"] = {"revoke": self._aliases(lingering)}
            self.skipped.append(
                Skipped(
                    current.email,
                    f"protected by settings.protectedUsers '{pattern}' "
                    f"(not in the desired state; unmanagedUsers: {policy})",
                    differences,
                )
            )
            return
        # Deleting drops provisioning, and so does deactivating where the backend says
        # so; otherwise the lingering products are revoked.
        if policy == "deactivate":
            if current.active:
                self.changes.append(
                    DiffChange(
                        ChangeKind.DEACTIVATE,
                        current.key,
                        current.email,
                        user_id=current.id,
                        before={"status": current.status},
                        after={"status": "deactivated"},
                        removal=True,
                        fingerprint=current.fingerprint(),
                    )
                )
            for pid in lingering:
                self.changes.append(
                    DiffChange(
                        ChangeKind.REVOKE,
                        current.key,
                        current.email,
                        user_id=current.id,
                        product_id=pid,
                        product=self.pid_to_alias[pid],
                        before={"provisioned": True},
                        after={"provisioned": False},
                        removal=True,
                        fingerprint=provisioning_fingerprint(pid, current.id, True),
                    )
                )
            return
        self._delete(current)

    def _delete(self, current: LiveUser, deactivated: dict[str, Any] | None = None) -> None:
        before = current.fields(self.fields)
        before["status"] = current.status
        before["products"] = self._aliases(self.held.get(current.id, _EMPTY))
        # A grace-period deletion says when the user was deactivated, and how that is known.
        before.update(deactivated or {})
        self.changes.append(
            DiffChange(
                ChangeKind.DELETE,
                current.key,
                current.email,
                user_id=current.id,
                before=before,
                removal=True,
                fingerprint=current.fingerprint(),
            )
        )

    def _grace_expired(self, current: LiveUser) -> dict[str, Any] | None:
        """`{"deactivated_at", "deactivated_from"}` when an unlisted, unprotected,
        deactivated user was deactivated longer ago than `deleteDeactivatedAfter`.
        Times come with the live state (read for exactly these users); a user whose
        time is unknown is never deleted."""
        days = self.settings.delete_deactivated_after
        now = parse_timestamp(self.live.read_at)
        if days is None or now is None or not self.caps.supports_delete:
            return None
        known = self.live.deactivations.get(current.id)
        moment = parse_timestamp(known.at) if known is not None else None
        if known is None or moment is None:
            self.unknown_deactivations += 1
            return None
        if now - moment <= timedelta(days=days):
            return None
        return {"deactivated_at": known.at, "deactivated_from": known.source}

    # ------------------------------------------------------------------ helpers

    def _wanted(self, user: DesiredUser) -> frozenset[str]:
        """Product ids the user should hold (users share few distinct product sets)."""
        cached = self._wanted_cache.get(user.products)
        if cached is not None:
            return cached
        unknown = sorted(a for a in user.products if a not in self.alias_to_pid)
        if unknown:
            raise PlanError(
                f"{_where(user)}{user.email} names product aliases that are not defined "
                f"under products: {', '.join(unknown)}."
            )
        wanted = frozenset(self.alias_to_pid[a] for a in user.products)
        self._wanted_cache[user.products] = wanted
        return wanted

    def _aliases(self, pids: Iterable[str]) -> list[str]:
        return sorted(self.pid_to_alias[pid] for pid in pids)

    def _differences(
        self, user: DesiredUser, current: LiveUser | None, wanted: frozenset[str]
    ) -> dict[str, Any]:
        """What a change to a protected user would have done, for the skipped list."""
        if current is None:
            return {"exists": {"before": False, "after": True}} if user.active else {}
        before, after = self.field_changes(user, current)
        differences: dict[str, Any] = {
            name: {"before": before[name], "after": after[name]} for name in before
        }
        if user.active != current.active:
            differences["status"] = {
                "before": current.status,
                "after": "active" if user.active else "deactivated",
            }
        held = self.held.get(current.id, _EMPTY)
        if held != wanted:
            products: dict[str, list[str]] = {}
            if wanted - held:
                products["grant"] = self._aliases(wanted - held)
            if held - wanted:
                products["revoke"] = self._aliases(held - wanted)
            differences["products"] = products
        return differences


FieldChanges = Callable[[DesiredUser, LiveUser], tuple[dict[str, Any], dict[str, Any]]]


def _field_comparer(fields: tuple[str, ...]) -> FieldChanges:
    """Before/after of the compared fields that differ; two empty dicts when none do.
    One C-level attrgetter compares all fields at once: most users match."""
    if not fields:
        return lambda user, current: ({}, {})
    values = attrgetter(*fields)

    def _field_changes(
        user: DesiredUser, current: LiveUser
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if values(user) == values(current):
            return {}, {}
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for name in fields:
            old, new = getattr(current, name), getattr(user, name)
            if old != new:
                before[name], after[name] = old, new
        return before, after

    return _field_changes


def _source(user: DesiredUser) -> str | None:
    return str(user.pos) if user.pos else None


def _where(user: DesiredUser) -> str:
    return f"{user.pos}: " if user.pos else ""
