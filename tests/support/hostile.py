"""A tiny scripted HTTP server on 127.0.0.1 that plays a misbehaving Planview Admin.

By default it behaves: a token endpoint issuing JWTs with an `exp`, one product
(`p-ap`, no holders) and an empty user listing. A test replaces any route with a
function of the request, and reads back every request the server received, so it
can assert that nothing was written.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN_PATH = "/io/v1/oauth2/token"
USERS = "/public/v1/user"
PRODUCTS = "/public/v1/product"
PRODUCT_USERS = "/public/v1/product/p-ap/user"
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
CLIENT_ID = "hostile-client"
SECRET = "hostile-secret-value-0123456789"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def page_start(self) -> int:
        return int(self.query.get("startIndex", "1"))

    def page_count(self) -> int:
        return int(self.query.get("count", "50"))


@dataclass
class Response:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: seconds to sleep before answering (a server that hangs)
    delay: float = 0.0
    #: seconds between single bytes of the body (a server that dribbles its answer)
    dribble: float = 0.0

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


Handler = Callable[[Request], Response]


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def jwt(claims: dict[str, Any]) -> str:
    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims)}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk"


def page(records: list[dict[str, Any]], start: int = 1, per_page: int | None = None) -> Response:
    per_page = len(records) if per_page is None else per_page
    return Response(
        200,
        {"startIndex": start, "itemsPerPage": per_page, "Resources": records},
        {"X-Rate-Limit-Remaining": "500", "Content-Type": "application/json"},
    )


def listing(records: list[dict[str, Any]]) -> Handler:
    """A well-behaved paged listing of `records`."""

    def answer(request: Request) -> Response:
        start, count = request.page_start(), request.page_count()
        return page(records[start - 1 : start - 1 + count], start=start, per_page=count)

    return answer


def user(index: int, email: str | None = None) -> dict[str, Any]:
    return {
        "id": f"u-{index}",
        "email": email or f"person{index}@example.com",
        "firstName": "Person",
        "lastName": str(index),
        "role": "User",
        "passwordRequired": False,
        "status": "Active",
    }


PRODUCT = {
    "id": "p-ap",
    "name": "AgilePlace Production",
    "type": "AgilePlace",
    "environment": "Production",
    "seats": None,
}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client refusing our certificate, or hanging up: expected in these tests


class HostileServer:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tokens: list[str] = []
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self.routes: dict[tuple[str, str], Handler] = {
            ("POST", TOKEN_PATH): self._token,
            ("GET", PRODUCTS): listing([PRODUCT]),
            ("GET", PRODUCT_USERS): listing([]),
            ("GET", USERS): listing([]),
        }
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self.scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # a well-behaved token endpoint; tests replace it to misbehave
    def _token(self, request: Request) -> Response:
        token = jwt({"sub": CLIENT_ID, "exp": int(time.time()) + 3600})
        self.tokens.append(token)
        return Response(200, {"id_token": token, "token_type": "Bearer", "expires_in": 3600})

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}"

    def env(self) -> dict[str, str]:
        return {
            "PLANVIEW_ADMIN_URL": self.url,
            "PLANVIEW_ADMIN_CLIENT_ID": CLIENT_ID,
            "PLANVIEW_ADMIN_CLIENT_SECRET": SECRET,
        }

    def writes(self) -> list[str]:
        """API writes received (the token request is not one)."""
        with self._lock:
            return [
                f"{r.method} {r.path}"
                for r in self.requests
                if r.method in WRITE_METHODS and r.path != TOKEN_PATH
            ]

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if (r.method, r.path) == (method, path))

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in separate writes: without this, delayed ACKs
            # add 40 ms to every answer
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                request = Request(
                    self.command,
                    parts.path,
                    query,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with server._lock:
                    server.requests.append(request)
                handler = server.routes.get((self.command, parts.path))
                if handler is None:
                    response = Response(404, {"status": 404, "code": "NotFound", "detail": "no"})
                else:
                    response = handler(request)
                if response.delay:
                    time.sleep(response.delay)
                payload = response.encoded()
                try:
                    self.send_response(response.status)
                    headers = {"Content-Type": "application/json", **response.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if response.dribble:
                        for index in range(len(payload)):
                            self.wfile.write(payload[index : index + 1])
                            self.wfile.flush()
                            time.sleep(response.dribble)
                    else:
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first: fine

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        return _Handler


@contextmanager
def hostile_server(tls: ssl.SSLContext | None = None) -> Iterator[HostileServer]:
    server = HostileServer(tls).start()
    try:
        yield server
    finally:
        server.stop()


# A desired state that needs every kind of read and one create with a grant against
# the products the hostile server lists.
DESIRED = """\
version: 1
products:
  agileplace: {id: p-ap}
users:
  - email: new.person@example.com
    firstName: New
    lastName: Person
    products: [agileplace]
"""
