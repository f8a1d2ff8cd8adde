"""A shared budget for the processes of one machine, served on a Unix socket.

    server = BudgetServer("/tmp/surge-123.sock")
    await server.start()                        # in the parent of `surge run --workers N`
    backend = SocketBackend("/tmp/surge-123.sock")   # in each worker
    ...
    await server.stop()

The server holds one :class:`Budget` and answers one JSON line per request
(``[id, op, key, ...]`` in, ``[id, result]`` out) on its monotonic clock; every request is
handled whole before the next, so each is atomic as a Redis script is. Clients pipeline
requests over one connection. It needs nothing installed, which is why ``--workers``
uses it when no ``--limiter`` is given (a Redis server is not on every machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from typing import Any

import orjson

from .budget import Budget, Grant
from .shared_gate import BudgetUnavailable

__all__ = ["BudgetServer", "SocketBackend"]

log = logging.getLogger(__name__)


class BudgetServer:
    """Serves one :class:`Budget` on a Unix socket until stopped."""

    def __init__(self, path: str, budget: Budget | None = None) -> None:
        self.path = path
        self.budget = budget or Budget()
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._server = await asyncio.start_unix_server(self._serve, path=self.path)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(orjson.dumps(self._handle(orjson.loads(line))) + b"\n")
        except (ConnectionError, orjson.JSONDecodeError, ValueError, TypeError) as err:
            log.debug("budget server: client dropped (%s)", err)
        finally:
            writer.close()

    def _handle(self, message: list[Any]) -> list[Any]:
        ident, op, key, args = message
        budget = self.budget
        now = time.monotonic()
        if op == "reserve":
            grants = budget.reserve_many(key, now=now, **args)
            return [ident, [[g.granted, g.wait, g.rpm, g.tpm, g.paused] for g in grants]]
        if op == "refund":
            budget.refund(key, **args)
        elif op == "pause":
            budget.pause(key, args["seconds"], now=now)
        elif op == "learn":
            budget.learn(key, **args)
        elif op != "ping":
            raise ValueError(f"unknown operation {op!r}")
        return [ident, None]


class SocketBackend:
    """A :class:`BudgetBackend` talking to a :class:`BudgetServer`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.description = f"the limiter of the parent process ({path})"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count()
        self._pump: asyncio.Task[None] | None = None
        self._lost: BaseException | None = None

    async def open(self) -> None:
        try:
            self._reader, self._writer = await asyncio.open_unix_connection(self.path)
        except OSError as err:
            raise BudgetUnavailable(err.strerror or str(err)) from err
        self._pump = asyncio.get_running_loop().create_task(self._read_replies())
        await self._ask("ping", "", {})

    async def _read_replies(self) -> None:
        assert self._reader is not None
        error: BaseException = ConnectionResetError("the limiter server closed the connection")
        try:
            while line := await self._reader.readline():
                ident, result = orjson.loads(line)
                future = self._pending.pop(ident, None)
                if future is not None and not future.done():
                    future.set_result(result)
        except (OSError, orjson.JSONDecodeError) as err:
            error = err
        self._lost = error
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BudgetUnavailable(str(error)))
        self._pending.clear()

    async def _ask(self, op: str, key: str, args: dict[str, Any]) -> Any:
        if self._lost is not None or self._writer is None:
            raise BudgetUnavailable(str(self._lost or "not connected"))
        ident = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        try:
            self._writer.write(orjson.dumps([ident, op, key, args]) + b"\n")
        except OSError as err:
            self._pending.pop(ident, None)
            raise BudgetUnavailable(str(err)) from err
        return await future

    async def reserve_many(
        self,
        key: str,
        *,
        tokens: list[int],
        rpm: float | None,
        tpm: float | None,
        horizon: float,
    ) -> list[Grant]:
        args = {"tokens": tokens, "rpm": rpm, "tpm": tpm, "horizon": horizon}
        rows = await self._ask("reserve", key, args)
        return [Grant(bool(g), float(w), float(r), float(t), float(p)) for g, w, r, t, p in rows]

    async def refund(
        self, key: str, *, requests: int, tokens: int, rpm: float | None, tpm: float | None
    ) -> None:
        args = {"requests": requests, "tokens": tokens, "rpm": rpm, "tpm": tpm}
        await self._ask("refund", key, args)

    async def pause(self, key: str, seconds: float) -> None:
        await self._ask("pause", key, {"seconds": seconds})

    async def learn(self, key: str, *, rpm: float | None, tpm: float | None) -> None:
        await self._ask("learn", key, {"rpm": rpm, "tpm": tpm})

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(BaseException):
                await self._pump
