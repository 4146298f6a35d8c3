"""A server that echoes credentials back in its error messages (a debugging proxy, a
careless API) must not get them printed: not in the output, the journal or the plan."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.cli import run_subprocess
from support.hostile import (
    DESIRED,
    PRODUCTS,
    SECRET,
    TOKEN_PATH,
    USERS,
    HostileServer,
    Request,
    Response,
    hostile_server,
)


def echo(status: int, code: str) -> Callable[[Request], Response]:
    """An error whose detail quotes the request's Authorization header and token."""

    def answer(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        credential = header.partition(" ")[2]
        if header.lower().startswith("basic"):
            credential += " = " + base64.b64decode(credential).decode()
        detail = f"rejected {header!r}; credential was {credential}"
        body = {"status": status, "code": code, "detail": detail, "error_description": detail}
        return Response(status, body)

    return answer


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with hostile_server() as running:
        yield running


def scan(server: HostileServer, texts: list[str]) -> list[str]:
    needles = {"secret": SECRET, **{f"token {n}": t for n, t in enumerate(server.tokens)}}
    needles.update({f"signature {n}": t.rsplit(".", 1)[1] for n, t in enumerate(server.tokens)})
    return [name for name, value in needles.items() for text in texts if value in text]


@pytest.mark.parametrize(
    "route",
    [("POST", USERS), ("GET", USERS), ("GET", PRODUCTS)],
    ids=["a write", "the user listing", "the product listing"],
)
def test_an_error_echoing_the_bearer_token_is_not_printed_or_journaled(
    route: tuple[str, str], server: HostileServer, tmp_path: Path
) -> None:
    server.routes[route] = echo(400, "ValidationError")
    desired = tmp_path / "users.yaml"
    desired.write_text(DESIRED)

    run = run_subprocess(
        server.env(), "-vv", "apply", str(desired), "--auto-approve", "--journal", "j.jsonl",
        cwd=tmp_path, timeout=60,
    )  # fmt: skip

    assert run.code == 1 and "Traceback" not in run.output, run.output
    assert "rejected" in run.output  # the server's detail is shown, masked
    journal = tmp_path / "j.jsonl"
    files = [journal.read_text()] if journal.exists() else []
    assert server.tokens
    assert scan(server, [run.stdout, run.stderr, *files]) == []


def test_a_token_error_echoing_the_client_secret_is_not_printed(
    server: HostileServer, tmp_path: Path
) -> None:
    server.routes[("POST", TOKEN_PATH)] = echo(401, "invalid_client")
    desired = tmp_path / "users.yaml"
    desired.write_text(DESIRED)

    run = run_subprocess(server.env(), "-vv", "plan", str(desired), cwd=tmp_path, timeout=60)

    assert run.code == 1 and "Traceback" not in run.output, run.output
    basic = base64.b64encode(f"hostile-client:{SECRET}".encode()).decode()
    assert SECRET not in run.output and basic not in run.output
