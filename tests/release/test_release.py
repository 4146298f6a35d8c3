"""A release as PyPI would get it: `python -m build`, `twine check --strict`, and the
wheel alone in a fresh virtualenv running `reconciler demo` with the schemas it ships.

The build runs in a clone of the committed HEAD (never in the working tree, which it
would litter), tagged v9.8.7 there, so it also shows that the version comes from the
git tag and reaches `reconciler --version`. The fresh virtualenv gets the wheel's
dependencies from the package index, as a user's `pip install` would.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TAG_VERSION = "9.8.7"

pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETUPTOOLS_SCM")}
    env["NO_COLOR"] = "1"
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


def need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed; install the test extra (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone and tag")
    src = tmp_path_factory.mktemp("release") / "src"
    run("git", "clone", "--quiet", "--no-tags", ROOT, src, cwd=ROOT)
    return src


@pytest.fixture(scope="module")
def dist(clone: Path) -> Path:
    need("build")
    run("git", "-c", "user.name=t", "-c", "user.email=t@t", "tag", f"v{TAG_VERSION}", cwd=clone)
    out = clone.parent / "dist"
    # The default: an sdist first, then the wheel built from that sdist, so the sdist
    # alone is shown to build.
    run(sys.executable, "-m", "build", "--outdir", out, clone, cwd=clone)
    return out


def test_the_version_comes_from_the_tag(dist: Path) -> None:
    names = sorted(p.name for p in dist.iterdir())
    assert names == [
        f"planview_admin_reconciler-{TAG_VERSION}-py3-none-any.whl",
        f"planview_admin_reconciler-{TAG_VERSION}.tar.gz",
    ], names


def test_twine_check_strict_passes(dist: Path) -> None:
    need("twine")
    files = sorted(dist.iterdir())
    result = run(sys.executable, "-m", "twine", "check", "--strict", *files, cwd=dist)
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_the_wheel_ships_the_schemas(dist: Path) -> None:
    wheel = next(dist.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for schema in (
        "desired-state.schema.json",
        "plan.schema.json",
        "planview-admin-api.openapi.yaml",
    ):
        assert f"reconciler/schemas/{schema}" in names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_the_wheel_alone_runs_the_demo_in_a_fresh_virtualenv(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    wheel = next(dist.glob("*.whl"))
    pip = (python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check")
    run(*pip, wheel, cwd=tmp_path)
    work = tmp_path / "elsewhere"  # far from the source tree: only the wheel's files count
    work.mkdir()
    version = run(bindir / "reconciler", "--version", cwd=work)
    assert version.stdout.strip() == f"reconciler, version {TAG_VERSION}"
    attribute = run(python, "-c", "import reconciler; print(reconciler.__version__)", cwd=work)
    assert attribute.stdout.strip() == TAG_VERSION
    demo = run(bindir / "reconciler", "demo", "--users", "10", cwd=work)
    assert "Traceback" not in demo.stdout + demo.stderr


def test_a_clone_without_tags_still_has_a_version(clone: Path, tmp_path: Path) -> None:
    """No tag yet (a fork, a shallow CI checkout): a development version, not a failure."""
    need("setuptools_scm")
    untagged = tmp_path / "untagged"
    run("git", "clone", "--quiet", "--no-tags", clone, untagged, cwd=tmp_path)
    head = run("git", "rev-parse", "--short", "HEAD", cwd=untagged).stdout.strip()
    result = run(sys.executable, "-m", "setuptools_scm", cwd=untagged)
    version = result.stdout.strip()
    assert ".dev" in version and f"g{head}" in version, version
