"""A loopback HTTP proxy in front of scim2-server that loses the answer of chosen requests.

For CLI runs, which build their own HTTP client (so no fault-injecting transport can be
slipped in): the proxy forwards every request to the real server and relays its answer,
except for the first `times` requests matching a method and a path ending, whose answer
it reads and then throws away, closing the connection. The write has taken effect on
the server; the client only sees the connection drop, as after a network failure.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

# hop-by-hop headers (RFC 9110 §7.6.1) and the ones httpx recomputes
_SKIPPED = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"}
)


class DroppingProxy:
    def __init__(self, upstream: str, method: str, path_end: str, times: int = 1) -> None:
        self.upstream = upstream.rstrip("/")
        self._method, self._path_end, self._left = method, path_end, times
        self._lock = threading.Lock()
        self.dropped = 0
        self.seen: list[tuple[str, str]] = []  # (method, path) of every request forwarded
        self._client = httpx.Client(timeout=30.0)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url_for(self, server_url: str) -> str:
        """`server_url` (a tenant of the upstream server) as reached through the proxy."""
        assert server_url.startswith(self.upstream), server_url
        return self.root + server_url[len(self.upstream) :]

    def count(self, method: str, path_end: str) -> int:
        with self._lock:
            return sum(1 for m, p in self.seen if m == method and p.endswith(path_end))

    def _drop(self, method: str, path: str) -> bool:
        with self._lock:
            self.seen.append((method, path))
            hit = self._left > 0 and method == self._method and path.endswith(self._path_end)
            if hit:
                self._left -= 1
                self.dropped += 1
            return hit

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _SKIPPED}
                answer = proxy._client.request(
                    self.command, proxy.upstream + self.path, headers=headers, content=body
                )
                if proxy._drop(self.command, urlsplit(self.path).path):
                    # the server has done it; the client never hears so
                    self.close_connection = True
                    return
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in _SKIPPED and name.lower() != "content-encoding":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        return _Handler

    def start(self) -> DroppingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()


@contextmanager
def dropping_proxy(
    upstream: str, method: str, path_end: str, times: int = 1
) -> Iterator[DroppingProxy]:
    proxy = DroppingProxy(upstream, method, path_end, times).start()
    try:
        yield proxy
    finally:
        proxy.stop()
