"""HTTP behaviour schemathesis caught the emulator getting wrong, pinned one by one."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Callable

import pytest
from emulator_http import Api, error_of

from reconciler.emulator import Emulator

TOKEN = "/io/v1/oauth2/token"
USERS = "/public/v1/user"


def _raw(emulator: Emulator, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; (status, headers, body) of the answer, read until the server closes."""
    with socket.create_connection((emulator.host, emulator.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers, body


def _token_request(emulator: Emulator, framing: str, body: bytes) -> bytes:
    basic = base64.b64encode(f"{emulator.client_id}:{emulator.client_secret}".encode()).decode()
    return (
        f"POST {TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Authorization: Basic {basic}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n{framing}\r\n"
    ).encode() + body


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", TOKEN, "POST"),
        ("PUT", USERS, "GET, POST"),
        ("PUT", f"{USERS}/u-1", "DELETE, GET, PATCH"),
        ("GET", f"{USERS}/u-1/deactivate", "POST"),
        ("TRACE", "/public/v1/product/p-1/user/u-1", "DELETE"),
    ],
)
def test_405_names_the_allowed_methods(
    emulator: Emulator, method: str, path: str, allowed: str
) -> None:
    api = Api(emulator)
    reply = api.request(method, path)
    assert reply.status_code == 405
    assert reply.headers["Allow"] == allowed
    if path != TOKEN:
        assert error_of(reply) == (405, "MethodNotAllowed")


def test_a_chunked_token_request_is_read(emulator: Emulator) -> None:
    body = b"grant_type=client_credentials"
    chunked = f"{len(body) - 5:x}\r\n".encode() + body[:-5] + b"\r\n5;ext=1\r\n"
    chunked += body[-5:] + b"\r\n0\r\n\r\n"
    status, _, answer = _raw(
        emulator, _token_request(emulator, "Transfer-Encoding: chunked\r\n", chunked)
    )
    assert status == 200, answer
    assert json.loads(answer)["token_type"] == "Bearer"


def test_an_empty_chunked_token_request_is_a_bad_grant_not_411(emulator: Emulator) -> None:
    status, _, answer = _raw(
        emulator, _token_request(emulator, "Transfer-Encoding: chunked\r\n", b"0\r\n\r\n")
    )
    assert (status, json.loads(answer)) == (400, {"error": "unsupported_grant_type"})


@pytest.mark.parametrize(
    ("framing", "body", "status"),
    [
        ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n", 400),
        ("Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n", 501),
        ("Transfer-Encoding: chunked\r\n", b"zz\r\n\r\n", 400),
        ("Content-Length: +5\r\n", b"aaaaa", 400),
    ],
)
def test_ambiguous_or_unknown_framing_is_refused_and_the_connection_closed(
    emulator: Emulator, framing: str, body: bytes, status: int
) -> None:
    # _raw reads until the server closes, so a kept-open connection would time out here.
    answer_status, headers, _ = _raw(emulator, _token_request(emulator, framing, body))
    assert answer_status == status
    assert headers.get("connection") == "close"


def test_the_email_filter_reads_the_escapes_the_client_writes(
    emulator_factory: Callable[..., Emulator],
) -> None:
    api = Api(emulator_factory(users=3, products=1))
    made = api.create_user("back\\slash@example.com")
    escaped = made["email"].replace("\\", "\\\\").replace('"', '\\"')
    found = api.get(USERS, filter=f'email eq "{escaped}"').json()["Resources"]
    assert [user["id"] for user in found] == [made["id"]]
    assert api.get(USERS, filter='EMAIL EQ "nobody@example.com"').json()["Resources"] == []


@pytest.mark.parametrize(
    "expression",
    ["", ' email eq "a@b.c"', 'email eq "a@b.c"\n', 'email eq "a"b@c.d"', "email\teq \"a@b.c\""],
)
def test_filters_outside_the_declared_grammar_are_refused(
    emulator: Emulator, expression: str
) -> None:
    api = Api(emulator)
    assert error_of(api.get(USERS, filter=expression)) == (400, "ValidationError")


@pytest.mark.parametrize("count", ["+5", " 5", "1_0", "\u0665", "5.0"])
def test_paging_numbers_are_plain_decimal_integers(emulator: Emulator, count: str) -> None:
    api = Api(emulator)
    assert error_of(api.get(USERS, count=count)) == (400, "ValidationError")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "ctrl\x1d@example.com"),
        ("email", "tab\t@example.com"),
        ("email", "nbsp\xa0@example.com"),
        ("email", "newline@example.com\n"),
        ("firstName", "\x1d\u3000"),
    ],
)
def test_values_outside_the_declared_patterns_are_refused(
    emulator: Emulator, field: str, value: str
) -> None:
    api = Api(emulator)
    body = {"email": "fine@example.com", "firstName": "A", "lastName": "B", field: value}
    assert error_of(api.post(USERS, body)) == (400, "ValidationError")
