"""How fast is the emulator? Prints figures; asserts nothing.

    python bench/bench_emulator.py [--clients 4] [--requests 5000] [--users 50000]

The server runs in this process on its own thread; the clients are separate
processes holding one keep-alive connection each and speaking raw HTTP/1.1, so the
figure is the server's, not an HTTP client library's. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import time
from typing import Any

from reconciler.emulator import Emulator, EmulatorConfig
from reconciler.emulator.generate import generate


def _read_reply(sock: socket.socket, buffer: bytearray) -> tuple[int, bytes]:
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
            status = int(head[0].split(" ")[1])
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            total = end + 4 + length
            while len(buffer) < total:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                buffer += chunk
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            return status, body
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk


def _client(args: tuple[int, list[bytes], int]) -> tuple[int, int]:
    port, requests, count = args
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray()
    ok = 0
    for i in range(count):
        sock.sendall(requests[i % len(requests)])
        status, _ = _read_reply(sock, buffer)
        ok += status < 300
    sock.close()
    return ok, count


def _get(path: str, token: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\nUser-Agent: bench\r\n\r\n"
    ).encode()


def _patch(path: str, token: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    return (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data


def _token(port: int, emulator: Emulator) -> str:
    import base64

    credentials = base64.b64encode(f"{emulator.client_id}:{emulator.client_secret}".encode())
    body = b"grant_type=client_credentials"
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /io/v1/oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Authorization: Basic " + credentials + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        status, reply = _read_reply(sock, bytearray())
    assert status == 200, reply
    return str(json.loads(reply)["id_token"])


def run(label: str, port: int, requests: list[bytes], clients: int, total: int) -> None:
    per_client = max(1, total // clients)
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        pool.map(_client, [(port, requests, 10) for _ in range(clients)])  # warm up
        started = time.perf_counter()
        results = pool.map(_client, [(port, requests, per_client) for _ in range(clients)])
        elapsed = time.perf_counter() - started
    ok = sum(r[0] for r in results)
    sent = sum(r[1] for r in results)
    print(
        f"{label:<44} {sent / elapsed:>8.0f} req/s  "
        f"({sent} requests, {clients} keep-alive connections, {ok} ok, {elapsed:.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--users", type=int, default=50_000)
    options = parser.parse_args()

    started = time.perf_counter()
    tenant = generate(options.users, 12, 1)
    print(
        f"generate {options.users} users: {time.perf_counter() - started:.2f} s "
        f"({len(tenant.audit)} audit events)"
    )
    state: dict[str, Any] = tenant.to_state()
    started = time.perf_counter()
    config = EmulatorConfig(state=state, rate_limit_points=10**9, rate_limit_window=60)
    with Emulator(config) as emulator:
        print(f"load a {options.users}-user state: {time.perf_counter() - started:.2f} s")
        port = emulator.port
        token = _token(port, emulator)
        ids = [user["id"] for user in state["users"][:: max(1, options.users // 500)]]
        n, total = options.clients, options.requests
        reads = [_get(f"/public/v1/user/{user_id}", token) for user_id in ids]
        run("GET /public/v1/user/{id}", port, reads, n, total)
        run("GET /public/v1/product", port, [_get("/public/v1/product", token)], n, total)
        writes = [
            _patch(f"/public/v1/user/{user_id}", token, {"lastName": name})
            for user_id in ids
            for name in ("Bench", "Mark")
        ]
        run("PATCH /public/v1/user/{id} (audited writes)", port, writes, n, total // 2)
        last = max(1, options.users - 499)
        pages = [
            _get(f"/public/v1/user?startIndex={s}&count=500", token)
            for s in (1, options.users // 2, last)
        ]
        run("GET /public/v1/user count=500 (pages of 500)", port, pages, n, max(n, total // 20))
        stats = emulator.stats()
        print(f"server counted {stats['requests_total']} requests, responses {stats['responses']}")


if __name__ == "__main__":
    main()
