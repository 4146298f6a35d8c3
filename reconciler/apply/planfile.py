"""Saved plans: written by `plan --out`, read back by `apply --plan`.

A saved plan is `Plan.to_dict()` as JSON. It is written atomically (temp file in the
same directory, then rename) with owner-only permissions, so a reader never sees half a
plan and the tenant's user list is not left readable by everyone on a CI runner.

The file carries the digest of its own content. A file whose content no longer matches
it was edited after it was made, and is refused. That catches accidental edits only:
whoever edits deliberately can write a new digest too. What catches a deliberate edit
is a digest pinned from outside the file (`apply --expect-digest`), and the safety
limit is never taken from the file alone (`reconciler.apply.gate`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path

from reconciler.errors import ConfigError
from reconciler.plan.model import (
    DIGEST_PREFIX,
    PHASE,
    ChangeKind,
    Plan,
    PlanFormatError,
    content_digest,
)

_DIGEST = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def plan_digest(plan: Plan) -> str:
    """`sha256:<hex>` of the plan's canonical JSON: names the plan in journals, in
    messages and in the pull-request comment."""
    return plan.digest


def normalise_digest(text: str) -> str:
    """A digest as a user may paste it (with or without `sha256:`, any case), in the
    form the plan shows; `ConfigError` for anything else."""
    match = _DIGEST.fullmatch(text.strip())
    if match is None:
        raise ConfigError(
            f"--expect-digest {text.strip()!r} is not a plan digest: expected sha256: "
            "and 64 hex digits, as `reconciler plan` prints it. Nothing was changed."
        )
    return DIGEST_PREFIX + match.group(1).lower()


def _check_expected_digest(actual: str, expected: str, source: Path) -> None:
    wanted = normalise_digest(expected)
    if actual != wanted:
        raise ConfigError(
            f"{source} is not the plan that was reviewed: its digest is {actual}, "
            f"but --expect-digest asks for {wanted}. Nothing was changed."
        )


def save_plan(plan: Plan, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ConfigError(f"cannot write the plan to {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(plan_json(plan))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise ConfigError(f"cannot write the plan to {target}: {exc.strerror or exc}") from None
    return target


def load_plan(path: str | os.PathLike[str], *, expect_digest: str | None = None) -> Plan:
    """Read a saved plan; refuse anything that is not a complete plan this version reads,
    a file edited since it was made, and (given `expect_digest`) any plan but that one."""
    source = Path(path)
    if expect_digest is not None:
        normalise_digest(expect_digest)  # a mistyped pin fails before the file is read
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot read the saved plan {source}: {reason}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFormatError(
            f"{source} is not a saved plan: invalid JSON at line {exc.lineno}, "
            f"column {exc.colno} ({exc.msg}); create one with `reconciler plan --out FILE`"
        ) from None
    if not isinstance(data, dict):
        raise PlanFormatError(
            f"{source} is not a saved plan (expected a JSON object); "
            "create one with `reconciler plan --out FILE`"
        )
    try:
        plan = Plan.from_dict(data)
    except PlanFormatError as exc:
        raise PlanFormatError(f"{source}: {exc}") from None
    # Over the file's own fields, not the plan read from them, so that no edit (a
    # derived count, a field this version ignores) goes unnoticed.
    stored = data.get("digest")
    if stored != content_digest(data):
        what = "has no digest" if stored is None else "does not match the digest it carries"
        raise PlanFormatError(
            f"{source} was changed after it was made: its content {what}. Nothing was "
            "changed. Make a new plan with `reconciler plan --out FILE` and review it."
        )
    if expect_digest is not None:
        _check_expected_digest(stored, expect_digest, source)
    try:
        check_structure(plan)
    except PlanFormatError as exc:
        raise PlanFormatError(f"{source}: {exc}") from None
    return plan


def check_structure(plan: Plan) -> None:
    """Refuse a plan the executor could not run faithfully, before anything is written.

    A plan made by this tool always passes; this guards against hand-edited or
    truncated files.
    """
    problems: list[str] = []
    phase_of: dict[str, int] = {}
    for change in plan.changes:
        if change.id in phase_of:
            problems.append(f"change id {change.id!r} appears more than once")
        phase_of[change.id] = PHASE[change.kind]
    for change in plan.changes:
        label = f"change {change.id} ({change.kind.value} {change.email})"
        if change.depends_on is not None:
            if change.depends_on not in phase_of:
                problems.append(f"{label} depends on unknown change {change.depends_on!r}")
            elif phase_of[change.depends_on] > PHASE[change.kind]:
                problems.append(f"{label} depends on {change.depends_on}, which runs after it")
        elif change.kind is not ChangeKind.CREATE and not change.user_id:
            problems.append(f"{label} names no user id")
        if change.kind in (ChangeKind.GRANT, ChangeKind.REVOKE) and not change.product_id:
            problems.append(f"{label} names no product id")
        if change.kind is ChangeKind.CREATE and not change.after:
            problems.append(f"{label} has no user fields to create")
    if problems:
        raise PlanFormatError("the saved plan is malformed: " + "; ".join(problems))
