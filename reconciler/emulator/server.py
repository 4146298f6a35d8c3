"""`Emulator`: the server on its own event-loop thread, and a handle to administer it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import dataclasses
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from reconciler.emulator.api import Application
from reconciler.emulator.config import EmulatorConfig
from reconciler.emulator.httpserver import HttpProtocol
from reconciler.emulator.tenant import ApiFailure

T = TypeVar("T")


class Emulator:
    """A Planview Admin API emulator serving real HTTP on `config.host` (loopback).

    >>> with Emulator(EmulatorConfig(users=10)) as emu:
    ...     emu.url, emu.client_id, emu.client_secret

    Admin methods (`state`, `out_of_band`, `configure`, ...) run on the server's own
    thread, so they are safe to call while clients are talking to it.
    """

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any) -> None:
        config = config or EmulatorConfig()
        if overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = config
        self.app = Application(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[HttpProtocol] = set()
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def client_id(self) -> str:
        return self.config.client_id

    @property
    def client_secret(self) -> str:
        return self.config.client_secret

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._port

    @property
    def url(self) -> str:
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Emulator:
        if self.running:
            return self
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="planview-emulator", daemon=True
        )
        self._thread.start()
        try:
            self._port = ready.result(timeout=30)
        except BaseException:
            self._thread.join(timeout=5)
            self._thread = None
            raise
        return self

    def _serve(self, ready: concurrent.futures.Future[int]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            server = loop.run_until_complete(
                loop.create_server(
                    lambda: HttpProtocol(lambda: self.app, loop, self._connections),
                    self.config.host,
                    self.config.port,
                    reuse_address=True,
                    backlog=1024,
                )
            )
        except BaseException as exc:
            loop.close()
            self._loop = None
            ready.set_exception(exc)
            return
        self._server = server
        ready.set_result(server.sockets[0].getsockname()[1])
        try:
            loop.run_forever()
        finally:
            server.close()
            for connection in list(self._connections):
                if connection.transport is not None:
                    connection.transport.abort()
            loop.run_until_complete(server.wait_closed())
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()
            self._loop = None

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
        self._thread = None
        self._port = None

    def wait(self, timeout: float | None = None) -> None:
        """Block until the server stops (for the command line)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ admin

    def _call(self, fn: Callable[[], T]) -> T:
        loop = self._loop
        if loop is None or not self.running or threading.current_thread() is self._thread:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=60)

    def state(self) -> dict[str, Any]:
        """The whole tenant, as GET /_emulator/state returns it."""
        return self._call(lambda: self.app.tenant.to_state())

    def load_state(self, state: dict[str, Any]) -> None:
        """Replace the tenant (a full state, or a seed spec {"users", "products", "seed"}).

        Raises `EmulatorError` (status 400) naming what is wrong with `state`.
        """
        self._call(lambda: self.app.load_state(state))

    def out_of_band(self, op: str, **kwargs: Any) -> dict[str, Any]:
        """Change the tenant as a person in the web UI would (audit actor type `user`),
        or, with `actor={"kind": "api_client" | "system", "name": ...}`, as another
        integration or the service's own product sync would.

        ops: create, update, deactivate, reactivate, delete, provision, deprovision,
        sign-in. Users are named by `userId` or `email`, products by `productId`
        (snake_case names work too). Raises `EmulatorError` as the API would refuse.
        """
        # A copy: the live record belongs to the server thread.
        return self._call(lambda: copy.deepcopy(self.app.out_of_band({"op": op, **kwargs})))

    def stats(self) -> dict[str, Any]:
        return self._call(lambda: self.app.stats.to_dict())

    def reset_stats(self) -> None:
        self._call(self.app.stats.reset)

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change rate limit, page maxima, latency, token lifetime or faults now.

        Raises ValueError for an unknown setting or a value that cannot work.
        """
        return self._call(lambda: self.app.configure(settings))

    def settings(self) -> dict[str, Any]:
        return self._call(self.app.settings)

    def revoke_tokens(self) -> None:
        """Make every token issued so far unknown (the next call with one gets 401)."""
        self._call(self.app.tokens.rotate)


EmulatorError = ApiFailure
