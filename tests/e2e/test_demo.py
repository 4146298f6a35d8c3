"""`reconciler demo`, the README's first command: it runs, tells the story, cleans up."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli.main import main


def run_demo(*args: str) -> tuple[int, str, str]:
    with CliRunner().isolation(env={"NO_COLOR": "1"}) as streams:
        try:
            main(["demo", *args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        stdout, stderr = streams[0].getvalue().decode(), streams[1].getvalue().decode()
    assert "Traceback" not in stdout + stderr
    return code, stdout, stderr


def test_demo_walks_through_the_whole_workflow_and_cleans_up() -> None:
    code, out, err = run_demo("--users", "30")
    assert code == 0, out + err
    assert "emu-" not in out + err  # the emulator's client secret is never shown
    for step in range(1, 11):
        assert f"== Step {step}/10:" in out
    commands = re.findall(r"^\$ reconciler (.*)$", out, flags=re.M)
    assert commands == [
        "export --out users/tenant.yaml",
        "validate users",
        "plan users",
        "apply users --auto-approve",
        "drift users",
        "apply users --auto-approve",
        "plan users --detailed-exitcode",
    ]
    # Drift names the person who made the web-UI changes, with the field's from -> to.
    admin = re.search(r"names (\S+) as their author", out)
    assert admin is not None
    drift_part = out.split("$ reconciler drift users", 1)[1].split("== Step", 1)[0]
    assert f"updated by {admin.group(1)}" in drift_part
    assert f"deprovisioned by {admin.group(1)}" in drift_part
    assert "created out of band" in drift_part
    assert "(exit code 2)" in drift_part
    final = out.split("$ reconciler plan users --detailed-exitcode", 1)[1]
    assert "No changes" in final
    assert "What next" in final
    workdir = Path(re.search(r"^Working directory: (.+)$", out, flags=re.M).group(1))  # type: ignore[union-attr]
    assert not workdir.exists()


def test_demo_keeps_its_files_when_asked(tmp_path: Path) -> None:
    keep = tmp_path / "tour"
    code, out, err = run_demo("--users", "12", "--keep-dir", str(keep))
    assert code == 0, out + err
    assert (keep / "users" / "tenant.yaml").is_file()
    assert (keep / "users" / "new-hires.yaml").is_file()
    assert f"kept in {keep}" in out
    # A non-empty directory is never written into.
    code, _, err = run_demo("--keep-dir", str(keep))
    assert code == 1 and "not empty" in err
