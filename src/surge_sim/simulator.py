"""Start and stop a simulator: in the caller's event loop, or in a thread of its own.

Example::

    async with Simulator(SimConfig(latency=0.05)) as sim:
        url = sim.base_url                  # "http://127.0.0.1:PORT/v1"
        ...
        sim.stats()["by_status"]

    with Simulator(SimConfig(rpm=600)).run_in_thread() as sim:   # for sync callers
        subprocess.run(["surge", "run", "--base-url", sim.base_url, ...])
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from aiohttp import web

from .config import SimConfig
from .content import count_tokens
from .server import SimServer


class Simulator:
    """An OpenAI-compatible fake provider on loopback.

    Example::

        sim = Simulator(SimConfig(seed=1), port=0)   # port 0: any free port
        await sim.start(); ...; await sim.stop()
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        shutdown_timeout: float = 0.5,
    ) -> None:
        self.host = host
        self.port = port
        self.shutdown_timeout = shutdown_timeout
        self.server = SimServer(config or SimConfig())
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = f"url={self.url!r}" if self._runner else "stopped"
        return f"Simulator({self.config!r}, {state})"

    @property
    def config(self) -> SimConfig:
        return self.server.config

    @property
    def url(self) -> str:
        """Root URL, without ``/v1`` (``/stats`` and ``/admin/config`` live here)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url``."""
        return f"{self.url}/v1"

    # -- lifecycle in the current loop -----------------------------------------------------

    async def start(self) -> Simulator:
        if self._runner is not None:
            raise RuntimeError("this Simulator is already running")
        self._loop = asyncio.get_running_loop()
        # Load the vocabulary now (~0.4 s once per process), not inside the first request,
        # where it would block the server and look like provider latency.
        await asyncio.to_thread(count_tokens, "warm up")
        # A fresh event per start: an asyncio.Event belongs to the loop that first waits on it.
        self.server.stopping = asyncio.Event()
        runner = web.AppRunner(
            self.server.app(),
            handler_cancellation=True,  # a client that leaves frees its handler (hang, latency)
            access_log=None,
            shutdown_timeout=self.shutdown_timeout,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=4096, reuse_address=True)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or ()
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._runner = runner
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self.server.stopping.set()  # wakes hanging and sleeping handlers
        await self.server.batch.jobs.stop()
        await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        """Run until cancelled (used by the CLI)."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    # -- state, callable from any thread ---------------------------------------------------

    def _on_loop(self, fn: Any, *args: Any) -> Any:
        """Run ``fn`` on the server's loop when called from another thread (e.g. a test)."""
        loop = self._loop
        if self._thread is None or loop is None or threading.current_thread() is self._thread:
            return fn(*args)

        async def call() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=10)

    def stats(self, *, log: bool = True) -> dict[str, Any]:
        """The same document as ``GET /stats`` (``log=False`` leaves out the request log)."""
        return self._on_loop(lambda: self.server.stats.snapshot(log=log))  # type: ignore[no-any-return]

    def reset_stats(self) -> None:
        """Zero counters, the log and the per-request attempt numbers (``POST /stats/reset``)."""
        self._on_loop(self.server.reset_stats)

    def update_config(self, **changes: Any) -> SimConfig:
        """Change fault rates, latency or limits at run time (``POST /admin/config``)."""
        return self._on_loop(self.server.update, changes)  # type: ignore[no-any-return]

    # -- lifecycle in a thread -------------------------------------------------------------

    @contextmanager
    def run_in_thread(self, *, use_uvloop: bool = False) -> Iterator[Simulator]:
        """Serve from a daemon thread with its own event loop, for synchronous callers.

        Example::

            with Simulator().run_in_thread() as sim:
                requests.post(sim.base_url + "/chat/completions", json=...)
        """
        self.start_thread(use_uvloop=use_uvloop)
        try:
            yield self
        finally:
            self.stop_thread()

    def start_thread(self, *, use_uvloop: bool = False) -> Simulator:
        """Start serving from a daemon thread; pair with :meth:`stop_thread`."""
        if self._thread is not None:
            raise RuntimeError("this Simulator already runs in a thread")
        loop = _new_loop(use_uvloop)
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as err:  # reported to the starting thread below
                failure.append(err)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=main, name=f"surge-sim-{id(self):x}", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            raise RuntimeError(
                f"simulator failed to start on {self.host}:{self.port}"
            ) from failure[0]
        self._thread = thread
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        """Stop the thread started by :meth:`start_thread` (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return

        async def shutdown() -> None:
            await self.stop()
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(timeout)
        self._thread = None


def _new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()  # type: ignore[no-any-return]
    return asyncio.new_event_loop()
