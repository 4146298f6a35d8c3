"""Faults on demand: 5xx, resets before and after the commit, latency; all from a seed."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest
from emulator_http import Api, error_of, token

from reconciler.emulator import Emulator

pytestmark = pytest.mark.chaos

USERS = "/public/v1/user"
NEW = {"email": "faulty@example.com", "firstName": "F", "lastName": "T"}


def _emails(emulator: Emulator) -> set[str]:
    return {u["email"] for u in emulator.state()["users"]}


def test_server_errors_change_nothing_and_cost_a_point(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emulator = emulator_factory(users=4, fault_5xx=1.0, rate_limit_points=50)
    api = Api(emulator)
    before = emulator.state()
    reply = api.post(USERS, NEW)
    assert error_of(reply) == (503, "ServerError")
    assert reply.headers["X-Rate-Limit-Remaining"] == "49"
    assert error_of(api.get(USERS)) == (503, "ServerError")
    assert emulator.state() == before
    assert emulator.stats()["faults"]["5xx"] == 2


def test_reset_before_commit_loses_the_write(emulator_factory: Callable[..., Emulator]) -> None:
    emulator = emulator_factory(users=4, fault_reset_before=1.0)
    api = Api(emulator)
    with pytest.raises(httpx.TransportError):
        api.post(USERS, NEW)
    assert "faulty@example.com" not in _emails(emulator)
    assert emulator.stats()["faults"]["reset_before"] == 1
    # Reads are never reset: a client can always find out what happened.
    assert api.get(USERS, filter='email eq "faulty@example.com"').json()["Resources"] == []


def test_reset_after_commit_keeps_the_write(emulator_factory: Callable[..., Emulator]) -> None:
    emulator = emulator_factory(users=4, fault_reset_after=1.0)
    api = Api(emulator)
    with pytest.raises(httpx.TransportError):
        api.post(USERS, NEW)
    assert "faulty@example.com" in _emails(emulator)
    found = api.get(USERS, filter='email eq "faulty@example.com"').json()["Resources"]
    assert len(found) == 1
    assert emulator.state()["audit"][-1]["action"] == "user.created"
    assert emulator.stats()["faults"]["reset_after"] == 1


def test_a_reset_is_a_real_tcp_reset(emulator_factory: Callable[..., Emulator]) -> None:
    emulator = emulator_factory(users=1, fault_reset_after=1.0)
    body = b'{"email":"raw@example.com","firstName":"R","lastName":"S"}'
    request = (
        f"POST {USERS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token(emulator)}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
        sock.sendall(request)
        with pytest.raises(ConnectionResetError):
            sock.recv(4096)


def _outcomes(emulator: Emulator, n: int) -> list[str]:
    api = Api(emulator)
    outcomes = []
    for i in range(n):
        try:
            reply = api.post(USERS, {**NEW, "email": f"f{i}@example.com"})
            outcomes.append(str(reply.status_code))
        except httpx.TransportError:
            outcomes.append("reset")  # the pool drops the dead connection by itself
    return outcomes


def test_faults_are_reproducible_from_the_seed(emulator_factory: Callable[..., Emulator]) -> None:
    rates = {"fault_5xx": 0.2, "fault_reset_before": 0.2, "fault_reset_after": 0.2}
    first = _outcomes(emulator_factory(users=0, fault_seed=7, **rates), 30)
    again = _outcomes(emulator_factory(users=0, fault_seed=7, **rates), 30)
    other = _outcomes(emulator_factory(users=0, fault_seed=8, **rates), 30)
    assert first == again
    assert first != other
    assert {"201", "503", "reset"} <= set(first)


def test_faults_can_be_switched_on_and_off_at_run_time(emulator: Emulator) -> None:
    api = Api(emulator)
    emulator.configure(fault_5xx=1.0)
    assert api.get(USERS).status_code == 503
    emulator.configure(fault_5xx=0.0)
    assert api.get(USERS).status_code == 200
    with pytest.raises(ValueError, match="between 0 and 1"):
        emulator.configure(fault_5xx=1.5)
    with pytest.raises(ValueError, match="cannot change"):
        emulator.configure(users=3)


def test_latency_keeps_pipelined_answers_in_order(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emulator = emulator_factory(users=3, latency=0.02, jitter=0.015)
    ids = [u["id"] for u in emulator.state()["users"]]
    auth = f"Authorization: Bearer {token(emulator)}\r\n"
    requests = b"".join(
        f"GET {USERS}/{user_id} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode() for user_id in ids
    )
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
        sock.sendall(requests)
        received = b""
        while received.count(b'"id":') < len(ids):
            chunk = sock.recv(65536)
            assert chunk
            received += chunk
    order = [received.index(f'"id":"{user_id}"'.encode()) for user_id in ids]
    assert order == sorted(order)
