"""Plans built by hand for executor tests, with fingerprints taken from a backend the
way the plan builder takes them from live state."""

from __future__ import annotations

from apply_memory_backend import MemoryBackend

from reconciler.model import (
    LiveProduct,
    LiveUser,
    absent_fingerprint,
    provisioning_fingerprint,
)
from reconciler.plan.model import Change, ChangeKind, Plan, SafetyVerdict


def user(uid: str, email: str, *, status: str = "active", role: str = "User") -> LiveUser:
    first, _, last = email.partition("@")[0].partition(".")
    return LiveUser(
        id=uid,
        email=email,
        first_name=first.title(),
        last_name=(last or "x").title(),
        role=role,
        password_required=False,
        status=status,  # type: ignore[arg-type]
    )


def product(pid: str, seats: int | None = None) -> LiveProduct:
    return LiveProduct(id=pid, name=pid.upper(), seats=seats)


class PlanBuilder:
    def __init__(self, backend: MemoryBackend):
        self.backend = backend
        self.changes: list[Change] = []

    def _add(self, kind: ChangeKind, email: str, **fields: object) -> str:
        cid = f"c{len(self.changes) + 1}"
        self.changes.append(Change(id=cid, kind=kind, email=email, **fields))  # type: ignore[arg-type]
        return cid

    def create(self, email: str, first: str = "New", last: str = "User") -> str:
        after = {"first_name": first, "last_name": last, "role": "User", "password_required": False}
        return self._add(
            ChangeKind.CREATE, email, after=after, fingerprint=absent_fingerprint(email)
        )

    def _user_change(self, kind: ChangeKind, uid: str, **fields: object) -> str:
        live = self.backend.users[uid]
        return self._add(kind, live.email, user_id=uid, fingerprint=live.fingerprint(), **fields)

    def update(self, uid: str, **after: object) -> str:
        before = {k: getattr(self.backend.users[uid], k) for k in after}
        return self._user_change(ChangeKind.UPDATE, uid, before=before, after=after)

    def deactivate(self, uid: str) -> str:
        return self._user_change(ChangeKind.DEACTIVATE, uid, removal=True)

    def reactivate(self, uid: str) -> str:
        return self._user_change(ChangeKind.REACTIVATE, uid)

    def delete(self, uid: str) -> str:
        return self._user_change(ChangeKind.DELETE, uid, removal=True)

    def grant(
        self,
        pid: str,
        uid: str | None = None,
        *,
        after: str | None = None,
        email: str | None = None,
    ) -> str:
        granted = uid in self.backend.provisioning[pid] if uid else False
        mail = email or (self.backend.users[uid].email if uid else "")
        return self._add(
            ChangeKind.GRANT,
            mail,
            user_id=uid,
            product_id=pid,
            product=pid.upper(),
            depends_on=after,
            fingerprint=provisioning_fingerprint(pid, uid, granted),
        )

    def revoke(self, pid: str, uid: str) -> str:
        granted = uid in self.backend.provisioning[pid]
        return self._add(
            ChangeKind.REVOKE,
            self.backend.users[uid].email,
            user_id=uid,
            product_id=pid,
            product=pid.upper(),
            removal=True,
            fingerprint=provisioning_fingerprint(pid, uid, granted),
        )

    def plan(self, *, blocked: bool = False, overridden: bool = False) -> Plan:
        removals = sum(c.removal for c in self.changes)
        return Plan(
            target=self.backend.target,
            desired_digest="d" * 64,
            created_at="2026-11-29T00:00:00Z",
            changes=tuple(self.changes),
            safety=SafetyVerdict(
                removals=removals,
                limit=removals - 1 if blocked else max(5, removals),
                managed_users=len(self.backend.users),
                blocked=blocked,
                reason="too many removals" if blocked else None,
                allowed_by_override=overridden,
            ),
        )
