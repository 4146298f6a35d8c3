"""Runs a plan's changes against a backend.

Changes run phase by phase (`PHASE`: revokes and deactivations first, so they free
seats before grants and creates need them). Within a phase they run on a thread pool;
every worker calls the same backend, which owns the shared rate budget. A change that
depends on another waits for it, takes the user id it produced (a new user's grants),
and is skipped when it did not succeed. Every other change goes ahead regardless of
failures elsewhere, so one bad record does not hold back the rest of the tenant.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from reconciler.apply.journal import Journal, utc_now
from reconciler.apply.planfile import check_structure, plan_digest
from reconciler.backends.base import Backend, NewUser
from reconciler.changes import PHASE, ChangeKind
from reconciler.errors import ApiError, ReconcilerError
from reconciler.model import MANAGED_FIELDS
from reconciler.plan.model import Change, Plan
from reconciler.redact import redact

Outcome = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class ChangeResult:
    change: Change
    outcome: Outcome
    user_id: str | None = None  # the user acted on (the new id, for a create)
    status: int | None = None  # server status / code / detail of a failure
    code: str | None = None
    detail: str | None = None
    duration: float = 0.0

    def describe(self) -> str:
        """One line for the summary: what the change was and, if it did not happen, why."""
        change = self.change
        what = f"{change.id} {change.kind.value} {change.email}"
        if change.product:
            what += f" {change.product}"
        if self.outcome == "ok":
            return what
        server = " ".join(str(part) for part in (self.status, self.code) if part)
        reason = ": ".join(part for part in (server, self.detail) if part)
        return f"{what}: {reason}" if reason else what


@dataclass(slots=True)
class ApplyResult:
    plan_digest: str
    results: list[ChangeResult] = field(default_factory=list)
    journal_path: Path | None = None

    def _with(self, outcome: Outcome) -> list[ChangeResult]:
        return [r for r in self.results if r.outcome == outcome]

    @property
    def succeeded(self) -> list[ChangeResult]:
        return self._with("ok")

    @property
    def failed(self) -> list[ChangeResult]:
        return self._with("failed")

    @property
    def skipped(self) -> list[ChangeResult]:
        return self._with("skipped")

    @property
    def ok(self) -> bool:
        return all(r.outcome == "ok" for r in self.results)

    def summary(self) -> str:
        return (
            f"{len(self.succeeded)} succeeded, {len(self.failed)} failed, "
            f"{len(self.skipped)} skipped"
        )


ProgressCallback = Callable[[ChangeResult], None]


def execute(
    plan: Plan,
    backend: Backend,
    *,
    journal_path: str | Path | None = None,
    concurrency: int = 4,
    progress: ProgressCallback | None = None,
) -> ApplyResult:
    """Apply every change of `plan`; never raises for a change that fails.

    Safety and freshness are the caller's job (`check_fresh`, the plan's verdict): this
    runs what it is given. On KeyboardInterrupt no new change starts, the running ones
    finish and are journalled, the rest are journalled as skipped, and the interrupt
    propagates.
    """
    check_structure(plan)
    digest = plan_digest(plan)
    path = Path(journal_path) if journal_path else None
    result = ApplyResult(plan_digest=digest, journal_path=path)
    journal = Journal(path) if path else None
    try:
        _Run(plan, backend, digest, journal, result, progress, max(1, concurrency)).run()
    finally:
        if journal is not None:
            journal.close()
    return result


class _Run:
    def __init__(
        self,
        plan: Plan,
        backend: Backend,
        digest: str,
        journal: Journal | None,
        result: ApplyResult,
        progress: ProgressCallback | None,
        concurrency: int,
    ):
        self.plan = plan
        self.backend = backend
        self.digest = digest
        self.journal = journal
        self.result = result
        self.progress = progress
        self.concurrency = concurrency
        self.done: dict[str, ChangeResult] = {}
        self._lock = threading.Lock()

    def run(self) -> None:
        # Stable: plan order within a phase, so runs and journals are reproducible.
        ordered = sorted(
            enumerate(self.plan.changes), key=lambda item: (PHASE[item[1].kind], item[0])
        )
        phases: dict[int, list[Change]] = {}
        for _, change in ordered:
            phases.setdefault(PHASE[change.kind], []).append(change)

        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="apply")
        try:
            for phase in sorted(phases):
                self._run_phase(pool, phases[phase])
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            for change in self.plan.changes:
                if change.id not in self.done:
                    self._record(ChangeResult(change, "skipped", detail="not started: interrupted"))
            raise
        finally:
            pool.shutdown(wait=True)

    def _run_phase(self, pool: ThreadPoolExecutor, changes: Sequence[Change]) -> None:
        pending = list(changes)
        while pending:
            # A dependency inside the same phase runs in an earlier wave (check_structure
            # guarantees it is never in a later phase).
            ready: list[Change] = []
            waiting: list[Change] = []
            for change in pending:
                free = change.depends_on is None or change.depends_on in self.done
                (ready if free else waiting).append(change)
            if not ready:  # cannot happen after check_structure; never spin
                for change in waiting:
                    detail = f"waits on {change.depends_on}, which never ran"
                    self._record(ChangeResult(change, "skipped", detail=detail))
                return
            futures: list[Future[ChangeResult]] = []
            for change in ready:
                blocker = self._blocker(change)
                if blocker is not None:
                    self._record(blocker)
                else:
                    futures.append(pool.submit(self._perform_and_record, change))
            for future in as_completed(futures):
                completed = future.result()
                if self.progress is not None:
                    self.progress(completed)
            pending = waiting

    def _blocker(self, change: Change) -> ChangeResult | None:
        """A skipped result when the change's dependency did not succeed."""
        if change.depends_on is None:
            return None
        dependency = self.done[change.depends_on]
        if dependency.outcome == "ok":
            return None
        dep = dependency.change
        return ChangeResult(
            change,
            "skipped",
            detail=(
                f"depends on {dep.id} ({dep.kind.value} {dep.email}), "
                f"which {'failed' if dependency.outcome == 'failed' else 'was skipped'}"
            ),
        )

    def _user_id(self, change: Change) -> str | None:
        if change.user_id:
            return change.user_id
        if change.depends_on is not None:
            return self.done[change.depends_on].user_id
        return None

    def _perform_and_record(self, change: Change) -> ChangeResult:
        started = time.monotonic()
        user_id = self._user_id(change)
        try:
            user_id = _perform(self.backend, change, user_id)
            outcome = ChangeResult(change, "ok", user_id=user_id)
        except ApiError as exc:
            outcome = ChangeResult(
                change,
                "failed",
                user_id=user_id,
                status=exc.status,
                code=exc.code,
                detail=redact(exc.detail or str(exc)),
            )
        except ReconcilerError as exc:
            outcome = ChangeResult(change, "failed", user_id=user_id, detail=redact(str(exc)))
        except Exception as exc:  # a bug in one change must not abandon the others
            detail = redact(f"internal error: {type(exc).__name__}: {exc}")
            outcome = ChangeResult(change, "failed", user_id=user_id, detail=detail)
        completed = replace(outcome, duration=time.monotonic() - started)
        self._record(completed, report=False)
        return completed

    def _record(self, outcome: ChangeResult, *, report: bool = True) -> None:
        # Journal first: if the process dies now, the line is already on disk.
        if self.journal is not None:
            self.journal.write(self._journal_line(outcome))
        with self._lock:
            self.done[outcome.change.id] = outcome
            self.result.results.append(outcome)
        if report and self.progress is not None:
            self.progress(outcome)

    def _journal_line(self, outcome: ChangeResult) -> dict[str, object]:
        change = outcome.change
        return {
            "time": utc_now(),
            "plan_digest": self.digest,
            "target": self.plan.target,
            "change_id": change.id,
            "kind": change.kind.value,
            "email": change.email,
            "user_id": outcome.user_id,
            "product": change.product,
            "product_id": change.product_id,
            "outcome": outcome.outcome,
            "status": outcome.status,
            "code": outcome.code,
            "detail": outcome.detail,
            "duration_s": round(outcome.duration, 3),
        }


def _perform(backend: Backend, change: Change, user_id: str | None) -> str | None:
    """Make one change; returns the id of the user it acted on."""
    kind = change.kind
    after = change.after or {}
    if kind is ChangeKind.CREATE:
        fields = {name: after[name] for name in MANAGED_FIELDS if name in after}
        created = backend.create_user(NewUser(email=change.email, **fields))
        return created.id
    if user_id is None:  # check_structure refuses such plans; a dependency gave no id
        raise ReconcilerError(f"no user id for {kind.value} {change.email}")
    if kind is ChangeKind.UPDATE:
        backend.update_user(user_id, {n: after[n] for n in MANAGED_FIELDS if n in after})
    elif kind is ChangeKind.DEACTIVATE:
        backend.deactivate_user(user_id)
    elif kind is ChangeKind.REACTIVATE:
        backend.reactivate_user(user_id)
    elif kind is ChangeKind.DELETE:
        backend.delete_user(user_id)
    elif kind is ChangeKind.GRANT:
        backend.grant(str(change.product_id), user_id)
    elif kind is ChangeKind.REVOKE:
        backend.revoke(str(change.product_id), user_id)
    return user_id
