"""The engine: a fixed pool of workers between a streaming source and a store.

    engine = Engine(EngineSettings(endpoint=Endpoint(base_url=url), limits=Limits(100)))
    stats = await engine.run(read_lines("in.jsonl", builder), JsonlStore("out.jsonl"))

One request travels one way: the *feeder* reads the source and asks the store's *ledger*
what to do with each item (send it, record it as an invalid line, or skip it as already
finished); requests go on a bounded queue; ``concurrency`` *workers* take them one at a
time and run each *attempt* through the step chain of ``attempt.py`` (cache, budget,
validation, rate limit, send); a retry waits its own delay, and the final result goes to
the *store* (through the reorder buffer when ``ordered``). Nothing else decides that a
request is finished.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import _constants as C
from .._http.transport import AiohttpTransport, Transport
from .._limits.gate import Gate, LocalGate
from ..config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
from ..errors import InputError
from ..events import Listener, RequestFinished, RequestRetrying, RequestStarted, RunStats
from ..io.ledger import Ledger, Skip
from ..io.store import ResultStore
from ..models import Request, Result
from .attempt import Attempt, Step, compose
from .ordering import Reorderer
from .steps import LimitStep, Sender

__all__ = ["Engine", "EngineSettings"]

log = logging.getLogger(__name__)

_STOP = object()


@dataclass(frozen=True, slots=True)
class EngineSettings:
    endpoint: Endpoint = field(default_factory=Endpoint)
    limits: Limits = field(default_factory=Limits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: Timeout = field(default_factory=Timeout)
    options: RunOptions = field(default_factory=RunOptions)


class Engine:
    """Runs requests through limiter, transport and retry policy into a store."""

    def __init__(
        self,
        settings: EngineSettings,
        *,
        transport: Transport | None = None,
        gate: Gate | None = None,
        steps: Sequence[Step] = (),
        listeners: tuple[Listener, ...] = (),
        stats: RunStats | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        limits = settings.limits
        self.transport: Transport = transport or AiohttpTransport(
            concurrency=limits.concurrency, connect_timeout=settings.timeout.connect
        )
        self._owns_transport = transport is None
        self.gate: Gate = gate or LocalGate(limits)
        self.listeners = listeners
        self.stats = stats or RunStats()
        self._stopping = asyncio.Event()
        self._headers = self._base_headers()
        self._urls: dict[str, str] = {}
        self._feeder: asyncio.Task[None] | None = None
        self._reorder: Reorderer | None = None
        sender = Sender(
            self.transport,
            self._url,
            self._headers_for,
            settings.retry,
            timeout=settings.timeout.total,
            stats=self.stats,
            on_send=self._on_send,
            rng=rng,
        )
        self._chain = compose([*steps, LimitStep(self.gate, self._stopping)], sender)

    # -- set-up ------------------------------------------------------------------
    def _base_headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self.settings.endpoint.resolved_api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        headers.update(dict(self.settings.endpoint.headers))
        return headers

    def _url(self, path: str) -> str:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = self.settings.endpoint.url_for(path)
        return url

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def flush_pending(self) -> None:
        """Write finished results held for ordering now (before an immediate exit)."""
        if self._reorder is not None:
            self._reorder.flush_partial()

    def request_stop(self) -> None:
        """Graceful stop: launch nothing new; in-flight requests may finish."""
        self._stopping.set()
        if self._feeder is not None:
            # The feeder may be blocked on a full queue or reorder buffer: stop it there.
            self._feeder.cancel()

    # -- the run -------------------------------------------------------------------
    async def run(
        self,
        source: AsyncIterable[Request | InputError],
        store: ResultStore,
        *,
        on_result: Callable[[Result], None] | None = None,
        grace: float = C.SHUTDOWN_GRACE,
    ) -> RunStats:
        """Process every item of ``source``; return the run's statistics."""
        ledger = store.open()
        self.gate.warm()

        def deliver(result: Result) -> None:
            store.write(result)
            self.stats.record(result)
            if on_result is not None:
                on_result(result)
            if self.listeners:
                self._emit(RequestFinished(result))

        reorder = self._reorder = Reorderer(
            deliver,
            ordered=self.settings.options.ordered,
            capacity=self.settings.options.reorder_buffer,
        )
        concurrency = self.settings.limits.concurrency
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=concurrency * 2)
        workers = [asyncio.create_task(self._worker(queue, reorder)) for _ in range(concurrency)]
        feeder = self._feeder = asyncio.create_task(self._feed(source, ledger, queue, reorder))
        try:
            await asyncio.wait({feeder})
            if not feeder.cancelled() and feeder.exception() is not None:
                raise feeder.exception()  # type: ignore[misc]
            if self._stopping.is_set():
                while not queue.empty():  # queued but never started: left for the resume
                    queue.get_nowait()
            for _ in workers:
                await queue.put(_STOP)
            await self._join(workers, grace)
        except BaseException:
            feeder.cancel()
            for task in workers:
                task.cancel()
            await asyncio.gather(feeder, *workers, return_exceptions=True)
            raise
        finally:
            reorder.flush_partial()
            self.stats.finished_at = time.monotonic()
            store.close()
            if self._owns_transport:
                await self.transport.close()
        return self.stats

    async def _join(self, workers: list[asyncio.Task[None]], grace: float) -> None:
        """Wait for workers; once a stop is requested, give in-flight work ``grace`` s."""
        pending: set[asyncio.Task[Any]] = set(workers)
        stop_wait: asyncio.Task[Any] = asyncio.create_task(self._stopping.wait())
        try:
            while pending:
                done, pending = await asyncio.wait(
                    pending | {stop_wait}, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(stop_wait)
                for task in done:
                    if task is not stop_wait and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                if stop_wait in done:
                    break
            if pending:
                _, late = await asyncio.wait(pending, timeout=grace)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
        finally:
            stop_wait.cancel()

    async def _feed(
        self,
        source: AsyncIterable[Request | InputError],
        ledger: Ledger,
        queue: asyncio.Queue[Any],
        reorder: Reorderer,
    ) -> None:
        index = 0
        async for item in source:
            if self._stopping.is_set():
                break
            work = ledger.admit(item)
            if isinstance(work, Skip):
                self.stats.skipped += 1
                if work.failed:
                    self.stats.skipped_failed += 1
                continue
            work.index = index
            index += 1
            await reorder.wait_for_room(work.index)
            await queue.put(work)

    async def _worker(self, queue: asyncio.Queue[Any], reorder: Reorderer) -> None:
        while True:
            work = await queue.get()
            if work is _STOP or self._stopping.is_set():
                return
            if isinstance(work, Result):
                reorder.push(work)
                continue
            result = await self._execute(work)
            if result is not None:
                reorder.push(result)

    # -- one request -------------------------------------------------------------
    def _emit(self, event: RequestStarted | RequestRetrying | RequestFinished) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a listener must never break the run
                log.exception("event listener failed")

    def _on_send(self, attempt: Attempt) -> None:
        if self.listeners:
            request = attempt.request
            self._emit(RequestStarted(request.custom_id, request.line, attempt.number))

    def _headers_for(self, attempt: Attempt) -> Mapping[str, str]:
        custom_id = attempt.request.custom_id
        if custom_id.isascii() and len(custom_id) <= 512:
            return {**self._headers, "X-Client-Request-Id": custom_id}
        return self._headers

    async def _execute(self, request: Request) -> Result | None:
        """All attempts for one request; ``None`` when abandoned by a shutdown."""
        body = request.body
        number = 0
        first_sent: float | None = None
        while True:
            number += 1
            attempt = Attempt(request, number, body)
            outcome = await self._chain(attempt)
            if first_sent is None:
                first_sent = attempt.sent_at
            if outcome.kind == "abandon":
                return None
            if outcome.kind == "retry":
                if self._stopping.is_set():
                    return None  # would have retried: leave it for the resumed run
                self.stats.retries += 1
                log.debug(
                    "retry %s (attempt %d, %s) in %.2fs",
                    request.custom_id,
                    number,
                    outcome.reason,
                    outcome.delay,
                )
                if self.listeners:
                    self._emit(
                        RequestRetrying(
                            request.custom_id, request.line, number, outcome.reason, outcome.delay
                        )
                    )
                if await self._sleep_unless_stopping(outcome.delay):
                    return None
                if outcome.body is not None:
                    body = outcome.body
                continue
            latency = time.monotonic() - first_sent if first_sent is not None else None
            return Result(
                custom_id=request.custom_id,
                line=request.line,
                index=request.index,
                status_code=attempt.status,
                body=attempt.data,
                request_id=attempt.request_id,
                error=outcome.error,
                attempts=number,
                latency=latency,
                cached=attempt.cached,
                cost=attempt.cost,
            )

    async def _sleep_unless_stopping(self, delay: float) -> bool:
        """Sleep ``delay`` s; True if a stop was requested meanwhile."""
        if delay <= 0:
            return self._stopping.is_set()
        try:
            await asyncio.wait_for(self._stopping.wait(), delay)
        except TimeoutError:
            return False
        return True
