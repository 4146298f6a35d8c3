"""A small HTTP/1.1 server on asyncio.Protocol: keep-alive, Content-Length bodies.

Chosen over http.server for speed (one event-loop thread parses a request in a few
microseconds) and because a transport can be aborted, which is what a connection
reset fault needs. Requests on one connection are answered in order; added latency
delays a connection's next answer without holding up other connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable
from http import HTTPStatus

from reconciler.emulator.api import Application, Reply, dump
from reconciler.emulator.stats import Stats

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
MAX_CHUNK_LINE = 4096
_HEX = b"0123456789abcdefABCDEF"
_REASONS = {status.value: status.phrase for status in HTTPStatus}


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


class HttpProtocol(asyncio.Protocol):
    def __init__(
        self,
        app: Callable[[], Application],
        loop: asyncio.AbstractEventLoop,
        connections: set[HttpProtocol],
    ) -> None:
        self._app = app
        self._loop = loop
        self._connections = connections
        self._buffer = bytearray()
        self._busy = False
        self._closed = False
        self.transport: asyncio.Transport | None = None
        self._loopback = False

    # ------------------------------------------------------------------ asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._connections.add(self)
        peer = transport.get_extra_info("peername")
        self._loopback = is_loopback(peer[0] if peer else None)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._busy:
            self._drain()

    # ------------------------------------------------------------------ requests

    def _drain(self) -> None:
        while not self._closed and not self._busy:
            request = self._parse()
            if request is None:
                return
            method, target, headers, body, keep_alive = request
            app = self._app()
            delay = app.delay_for(target)
            if delay > 0:
                self._busy = True
                # released on the same counters even if the state is replaced meanwhile
                stats = app.stats
                stats.held()
                self._loop.call_later(delay, self._delayed, request, stats)
                return
            self._answer(method, target, headers, body, keep_alive)

    def _delayed(self, request: tuple[str, str, dict[str, str], bytes, bool], stats: Stats) -> None:
        stats.released()
        self._busy = False
        if self._closed:
            return
        self._answer(*request)
        self._drain()

    def _parse(self) -> tuple[str, str, dict[str, str], bytes, bool] | None:
        buffer = self._buffer
        while buffer[:2] == b"\r\n":  # tolerated between pipelined requests
            del buffer[:2]
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD:
                self._fail(431, "The request head is too large.")
            return None
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._fail(400, "Malformed request line.")
            return None
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                self._fail(400, "Malformed header line.")
                return None
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if "transfer-encoding" in headers:
            framed = self._chunked(headers, start)
            if framed is None:
                return None
            body, consumed = framed
        else:
            text = headers.get("content-length", "0")
            length = int(text) if text.isascii() and text.isdigit() else -1
            if length < 0 or length > MAX_BODY:
                self._fail(400, "Invalid Content-Length.")
                return None
            if len(buffer) < start + length:
                return None
            body = bytes(buffer[start : start + length])
            consumed = start + length
        del buffer[:consumed]
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection and (
            version == "HTTP/1.1" or "keep-alive" in connection
        )
        return method, target, headers, body, keep_alive

    def _chunked(self, headers: dict[str, str], start: int) -> tuple[bytes, int] | None:
        """(body, bytes consumed) of a chunked body, or None while it is incomplete.

        HTTP/1.1 recipients must accept the chunked coding (RFC 9112, section 7), and
        clients use it for bodies of unknown length, even empty ones.
        """
        if "content-length" in headers:
            # Both framings at once is how requests are smuggled (RFC 9112, 6.3).
            self._fail(400, "Send either Content-Length or Transfer-Encoding, not both.")
            return None
        codings = [c.strip().lower() for c in headers["transfer-encoding"].split(",")]
        if codings != ["chunked"]:
            self._fail(501, "Only the chunked transfer coding is accepted.")
            return None
        buffer = self._buffer
        body = bytearray()
        at = start
        while True:
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                if len(buffer) - at > MAX_CHUNK_LINE:
                    self._fail(400, "Malformed chunk size line.")
                return None
            size_text = bytes(buffer[at:line_end]).split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 16 or size_text.strip(_HEX):
                self._fail(400, "Malformed chunk size line.")
                return None
            size = int(size_text, 16)
            at = line_end + 2
            if size == 0:
                break
            if len(body) + size > MAX_BODY:
                self._fail(400, "The request body is too large.")
                return None
            if len(buffer) < at + size + 2:
                return None
            if buffer[at + size : at + size + 2] != b"\r\n":
                self._fail(400, "A chunk is not followed by CRLF.")
                return None
            body += buffer[at : at + size]
            at += size + 2
        # Trailer fields, if any, end with an empty line; they carry nothing we use.
        if buffer[at : at + 2] == b"\r\n":
            return bytes(body), at + 2
        trailer_end = buffer.find(b"\r\n\r\n", at)
        if trailer_end < 0:
            if len(buffer) - at > MAX_HEAD:
                self._fail(431, "The trailer section is too large.")
            return None
        return bytes(body), trailer_end + 4

    def _answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes, keep_alive: bool
    ) -> None:
        try:
            reply = self._app().handle(method, target, headers, body, self._loopback)
        except Exception:  # a bug: answer 500 rather than hang the client
            log.exception("emulator failed on %s %s", method, target.partition("?")[0])
            reply = Reply(
                500, dump({"status": 500, "code": "ServerError", "detail": "Emulator bug."})
            )
        if log.isEnabledFor(logging.INFO):  # `reconciler -v emulator`: an access log
            outcome = f"connection reset ({reply.reset} commit)" if reply.reset else reply.status
            log.info("%s %s -> %s", method, target.partition("?")[0], outcome)
        if reply.reset is not None:
            self.reset()
            return
        self._write(reply, keep_alive)

    def _write(self, reply: Reply, keep_alive: bool) -> None:
        assert self.transport is not None
        head = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Unknown')}"]
        if reply.status != 204:
            head.append(f"Content-Length: {len(reply.body)}")
            if reply.body:
                head.append("Content-Type: application/json")
        for name, value in reply.headers:
            head.append(f"{name}: {value}")
        if not keep_alive:
            head.append("Connection: close")
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + reply.body)
        if not keep_alive:
            self._closed = True
            self.transport.close()

    def _fail(self, status: int, detail: str) -> None:
        payload = {"status": status, "code": "ValidationError", "detail": detail}
        self._write(Reply(status, dump(payload)), keep_alive=False)

    def reset(self) -> None:
        """Drop the connection with a TCP RST: the client sees 'connection reset'."""
        self._closed = True
        assert self.transport is not None
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()
