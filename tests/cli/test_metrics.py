"""--metrics-file: OpenMetrics text that prometheus_client's own parser reads, written
whatever the run's outcome."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from support.cli import emulator_env, run_against, run_inprocess
from support.e2e import FIXTURES

from reconciler.changes import ChangeKind
from reconciler.cli.metrics import escape_label

DESIRED = FIXTURES / "desired.yaml"
TENANT = json.loads((FIXTURES / "tenant.json").read_text())


def read_metrics(path: Path) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """sample name -> {sorted labels: value}, parsed by an independent parser."""
    text = path.read_text()
    assert text.endswith("# EOF\n")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        assert family.documentation, family.name  # every family has its HELP
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def value(samples: dict[str, Any], name: str, **labels: str) -> float:
    (found,) = [v for k, v in samples[name].items() if labels.items() <= dict(k).items()]
    return found


def last_run(samples: dict[str, Any]) -> dict[str, float]:
    """outcome -> timestamp."""
    return {
        dict(k)["outcome"]: v
        for k, v in samples["reconciler_last_run_timestamp_seconds"].items()
    }


@pytest.fixture
def tenant(emulator_factory: Any) -> Any:
    return emulator_factory(state=TENANT)


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_plan_with_changes(tenant: Any, tmp_path: Path) -> None:
    run = run_against(tenant, "plan", str(DESIRED), "--metrics-file", "plan.prom")
    assert run.code == 0
    metrics = read_metrics(tmp_path / "plan.prom")

    changes = {dict(k)["kind"]: v for k, v in metrics["reconciler_changes"].items()}
    assert changes == {
        "create": 1, "update": 1, "deactivate": 1, "reactivate": 1,
        "delete": 0, "grant": 3, "revoke": 1,
    }  # fmt: skip
    assert set(changes) == {kind.value for kind in ChangeKind}
    assert value(metrics, "reconciler_removals") == 2
    assert value(metrics, "reconciler_blocked") == 0
    stats = run.client_stats()
    assert value(metrics, "reconciler_api_requests_total") == stats["requests"] > 0
    assert value(metrics, "reconciler_api_rate_limited_total") == 0
    assert value(metrics, "reconciler_rate_budget_wait_seconds") >= 0
    assert value(metrics, "reconciler_run_duration_seconds") > 0
    assert list(last_run(metrics)) == ["changes"]
    assert all(dict(k)["command"] == "plan" for s in metrics.values() for k in s)
    assert "reconciler_drifted_users" not in metrics  # a plan does not look for drift
    mode = stat.S_IMODE((tmp_path / "plan.prom").stat().st_mode)
    assert mode == 0o644  # the node exporter runs as another user
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_blocked_plan_exit_3(tenant: Any, tmp_path: Path) -> None:
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        DESIRED.read_text().replace(
            "  unmanagedUsers: deactivate\n",
            "  unmanagedUsers: deactivate\n  safety:\n    maxRemovals: 1\n",
        )
    )
    run = run_against(tenant, "plan", str(strict), "--metrics-file", "plan.prom")
    assert run.code == 3
    metrics = read_metrics(tmp_path / "plan.prom")
    assert value(metrics, "reconciler_blocked") == 1
    assert value(metrics, "reconciler_removals") == 2
    assert list(last_run(metrics)) == ["blocked"]


def test_apply_with_a_failing_change(emulator_factory: Any, tmp_path: Path) -> None:
    # One AgilePlace seat fewer than the plan needs: one grant fails with 409.
    state = json.loads(json.dumps(TENANT))
    state["products"][0]["seats"] = 2
    state["provisioning"]["p-ap"] = ["u-ann", "u-bob"]
    tenant = emulator_factory(state=state)

    run = run_against(
        tenant, "apply", str(DESIRED), "--auto-approve", "--journal", "j.jsonl",
        "--metrics-file", "apply.prom",
    )  # fmt: skip
    assert run.code == 1
    assert "1 failed" in run.stdout
    metrics = read_metrics(tmp_path / "apply.prom")
    assert value(metrics, "reconciler_apply_failed_changes") == 1
    assert value(metrics, "reconciler_changes", kind="grant") == 3
    assert list(last_run(metrics)) == ["error"]


def test_apply_against_a_failing_server_is_an_error_run(
    emulator_factory: Any, tmp_path: Path
) -> None:
    tenant = emulator_factory(state=TENANT)
    run_against(tenant, "plan", str(DESIRED), "--out", "plan.json")
    tenant.configure(fault_5xx=1.0)  # every request from now on fails

    run = run_against(
        tenant, "apply", "--plan", "plan.json", str(DESIRED), "--journal", "j.jsonl",
        "--metrics-file", "apply.prom", "--max-wait", "1",
    )  # fmt: skip
    assert run.code == 1
    metrics = read_metrics(tmp_path / "apply.prom")
    assert list(last_run(metrics)) == ["error"]
    assert value(metrics, "reconciler_api_requests_total") == run.client_stats()["requests"]


def test_drift_run(tenant: Any, tmp_path: Path) -> None:
    run = run_against(tenant, "drift", str(DESIRED), "--metrics-file", "drift.prom")
    assert run.code == 2
    metrics = read_metrics(tmp_path / "drift.prom")
    assert value(metrics, "reconciler_drifted_users") == 5
    assert list(last_run(metrics)) == ["drift"]


def test_connection_failure_still_writes_the_file(emulator_factory: Any, tmp_path: Path) -> None:
    tenant = emulator_factory(state=TENANT)
    env = emulator_env(tenant)
    tenant.stop()
    run = run_inprocess(env, "drift", str(DESIRED), "--metrics-file", "drift.prom")
    assert run.code == 1
    metrics = read_metrics(tmp_path / "drift.prom")
    assert list(last_run(metrics)) == ["error"]
    # No plan was made: no figure pretends there was nothing to change.
    assert "reconciler_changes" not in metrics
    assert "reconciler_drifted_users" not in metrics
    assert tenant.client_secret not in (tmp_path / "drift.prom").read_text()


def test_an_error_run_keeps_when_the_last_good_run_was(tenant: Any, tmp_path: Path) -> None:
    # The "no successful run in 26 hours" alert needs the last good run's time even
    # after a failed run rewrote the file.
    assert run_against(tenant, "drift", str(DESIRED), "--metrics-file", "d.prom").code == 2
    good = last_run(read_metrics(tmp_path / "d.prom"))["drift"]
    failed = run_against(tenant, "drift", "missing.yaml", "--metrics-file", "d.prom")
    assert failed.code == 1
    stamps = last_run(read_metrics(tmp_path / "d.prom"))
    assert stamps["drift"] == good
    assert stamps["error"] >= good


def test_a_missing_directory_is_refused_before_the_run(tenant: Any) -> None:
    before = tenant.state()
    run = run_against(
        tenant, "apply", str(DESIRED), "--auto-approve", "--metrics-file", "nowhere/a.prom"
    )
    assert run.code == 1
    assert "does not exist" in run.stderr
    assert tenant.state() == before


def test_label_values_are_escaped() -> None:
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
