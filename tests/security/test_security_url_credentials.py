"""A user name or password written into --url / PLANVIEW_ADMIN_URL is never printed,
whatever else is wrong with the URL (scheme, host, port, syntax), and the URL is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import assert_clean_failure, run_subprocess
from support.hostile import CLIENT_ID, DESIRED, SECRET, hostile_server

from reconciler.backends.planview import ClientSettings
from reconciler.redact import redact, safe_url

# (URL, every spelling of its credential that must never be printed)
CASES = {
    "plain http": ("http://admin:hunter2secret@example.com", ["hunter2secret"]),
    "plain http to loopback": ("http://admin:hunter2secret@127.0.0.1:9", ["hunter2secret"]),
    "https": ("https://admin:hunter2secret@example.com", ["hunter2secret"]),
    "a port out of range": ("https://admin:hunter2secret@example.com:99999", ["hunter2secret"]),
    "a port that is not a number": ("http://admin:hunter2secret@example.com:x", ["hunter2secret"]),
    "ftp": ("ftp://user:hunter2secret@example.com/", ["hunter2secret"]),
    "a user name only": ("http://hunter2secret@example.com", ["hunter2secret"]),
    "a percent-encoded password": (
        "https://admin:hunter%32s%65cret@example.com",
        ["hunter%32s%65cret", "hunter2secret", "%32s%65cret"],
    ),
    "no scheme": ("admin:hunter2secret@example.com", ["hunter2secret"]),
    "an unclosed IPv6 host": ("https://admin:hunter2secret@[::1", ["hunter2secret"]),
    "a slash in the password": ("https://admin:hunter/2secret@example.com", ["2secret"]),
    "a space in the host": ("http://admin:hunter2secret@exa mple.com", ["hunter2secret"]),
}


@pytest.fixture
def desired(tmp_path: Path) -> Path:
    path = tmp_path / "users.yaml"
    path.write_text(DESIRED)
    return path


def env_with(url: str) -> dict[str, str]:
    return {
        "PLANVIEW_ADMIN_URL": url,
        "PLANVIEW_ADMIN_CLIENT_ID": CLIENT_ID,
        "PLANVIEW_ADMIN_CLIENT_SECRET": SECRET,
    }


@pytest.mark.parametrize(("url", "needles"), list(CASES.values()), ids=list(CASES))
def test_a_url_with_credentials_is_refused_without_printing_them(
    url: str, needles: list[str], desired: Path
) -> None:
    # 192.0.2.x / example.com are never contacted: a short guard shows no connection is tried
    run = run_subprocess(env_with(url), "-vv", "plan", str(desired), timeout=15)

    assert_clean_failure(run, "must not contain credentials")
    for needle in needles:
        assert needle not in run.output, run.output
    assert SECRET not in run.output
    assert "API:" not in run.stderr  # refused before any backend was opened


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "{desired}"),
        ("apply", "{desired}", "--auto-approve", "--journal", "{tmp}/journal.jsonl"),
        ("drift", "{desired}", "--format", "markdown"),
        ("export", "--out", "{tmp}/export.yaml"),
    ],
    ids=["plan", "apply", "drift", "export"],
)
def test_no_api_command_prints_url_credentials(
    args: tuple[str, ...], desired: Path, tmp_path: Path
) -> None:
    argv = [a.format(desired=desired, tmp=tmp_path) for a in args]

    run = run_subprocess(
        env_with("http://admin:hunter2secret@example.com"), "-vv", *argv, timeout=15
    )

    assert_clean_failure(run, "must not contain credentials")
    assert "hunter2secret" not in run.output
    written = [p.read_text() for p in tmp_path.iterdir() if p.is_file() and p != desired]
    assert not any("hunter2secret" in text for text in written)


def test_the_same_url_without_credentials_still_works(desired: Path) -> None:
    """The guard: credentials are what is refused, not the host or the scheme."""
    with hostile_server() as server:
        run = run_subprocess(server.env(), "plan", str(desired), timeout=60)

        assert run.code == 0, run.output
        assert f"Plan for {server.url}" in run.stdout


def test_the_emulator_does_not_print_credentials_given_as_its_host() -> None:
    run = run_subprocess({}, "emulator", "--host", "admin:hunter2secret@127.0.0.1", "--port", "0")

    assert_clean_failure(run, "--host")
    assert "hunter2secret" not in run.output


@pytest.mark.parametrize(("url", "needles"), list(CASES.values()), ids=list(CASES))
def test_a_url_shown_anywhere_has_no_credentials(url: str, needles: list[str]) -> None:
    shown = safe_url(url)
    settings = ClientSettings(url=url, client_id=CLIENT_ID, client_secret=SECRET)

    for needle in needles:
        assert needle not in shown
        assert needle not in repr(settings)  # what a -vv traceback would show


def test_a_url_password_is_masked_wherever_else_it_turns_up() -> None:
    safe_url("https://someone:pw-in-url-0451@example.com")

    assert redact("server said: bad password pw-in-url-0451") == "server said: bad password ***"


@pytest.mark.parametrize(
    "url",
    ["https://us.id.planview.com", "http://127.0.0.1:8080/base", "https://[::1]:443/x?q=1"],
)
def test_a_url_without_credentials_is_shown_unchanged(url: str) -> None:
    assert safe_url(url) == url
