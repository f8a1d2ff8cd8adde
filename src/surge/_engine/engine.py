"""The engine: a fixed pool of workers between a streaming source and a store.

    engine = Engine(EngineSettings(endpoint=Endpoint(base_url=url), limits=Limits(100)))
    stats = await engine.run(read_lines("in.jsonl", builder), JsonlStore("out.jsonl"))

One request travels one way::

    source ─▶ feeder ─▶ ledger.admit ─▶ work queue ─▶ worker ─▶ attempt steps ─▶ reorder ─▶ store
                                            ▲                      │ retry
                                            └──── delay queue ◀────┘

The *feeder* reads the source (a batch at a time when it can), asks the store's *ledger*
what to do with each item (send it, record it as an invalid line, skip it as finished) and
checks a request (``validate.py``) before it sends it; work goes on a bounded queue;
``concurrency`` *workers* run one *attempt* at a time through the steps of ``attempt.py``
(cache, budget, validation, rate limit, send). A retry
goes to the *delay queue* (``delays.py``) and gives its worker back while it waits; the
final result goes to the *store* (through the reorder buffer when ``ordered``). Nothing
else decides that a request is finished.

Failures: an unexpected exception inside one attempt becomes that request's
``internal_error`` result and the run goes on. A failure of the run itself (the store
cannot write, the source raises) cancels every task of the run's ``TaskGroup`` and is
raised from :meth:`Engine.run` as it is. An endpoint that is wrong for every request
(``failfast.py``, the outermost attempt step) stops the run and raises
:class:`~surge.ConfigError`; requests it refused are not written, so the same command
resumes once the option is fixed.
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
from ..errors import ConfigError, InputError, OutputError
from ..events import (
    Event,
    Listener,
    RequestFailed,
    RequestFinished,
    RequestRetrying,
    RequestStarted,
    RunStats,
)
from ..io.ledger import Ledger
from ..io.store import ResultStore
from ..models import ErrorInfo, Request, Result
from .attempt import Attempt, Outcome, Step, compose
from .delays import DelayQueue
from .failfast import EndpointProblem, FailFastStep, Tripwire, explain
from .feeder import Job as _Job
from .feeder import feed
from .flex import ServiceTierStep
from .ordering import Reorderer
from .steps import LimitStep, Sender

__all__ = ["Engine", "EngineSettings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineSettings:
    endpoint: Endpoint = field(default_factory=Endpoint)
    limits: Limits = field(default_factory=Limits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: Timeout = field(default_factory=Timeout)
    options: RunOptions = field(default_factory=RunOptions)
    fail_fast: bool = True  # stop the run when the endpoint itself is wrong (failfast.py)


class Engine:
    """Runs requests through the attempt steps into a store (see the module docstring)."""

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
        self._wake = asyncio.Event()  # the run is finished, or a stop was requested
        self._headers = self._base_headers()
        self._urls: dict[str, str] = {}
        self._feeder: asyncio.Task[None] | None = None
        self._reorder: Reorderer | None = None
        self._tripwire = Tripwire() if settings.fail_fast else None
        self._open = 0  # jobs fed and not yet finished (queued, in flight or waiting)
        self._fed_all = False
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
        first: list[Step] = []
        if self._tripwire is not None:
            first.append(FailFastStep(self._tripwire, on_trip=self.request_stop))
        options = settings.options
        if options.service_tier is not None or options.flex_fallback is not None:
            steps = [*steps, ServiceTierStep(options.service_tier, options.flex_fallback)]
        self._chain = compose([*first, *steps, LimitStep(self.gate, self._stopping)], sender)

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

    @property
    def endpoint_problem(self) -> EndpointProblem | None:
        """Why the run was stopped early, when the endpoint itself was wrong."""
        return self._tripwire.tripped if self._tripwire is not None else None

    def flush_pending(self) -> None:
        """Write finished results held for ordering now (before an immediate exit)."""
        if self._reorder is not None:
            self._reorder.flush_partial()

    def request_stop(self) -> None:
        """Graceful stop: launch nothing new; in-flight requests may finish."""
        self._stopping.set()
        self._wake.set()
        if self._feeder is not None:
            # The feeder may be blocked on a full queue, the reorder buffer or the input.
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
        ledger.attach(self.stats)
        self.gate.warm()

        def deliver(result: Result) -> None:
            try:
                store.write(result)
            except OSError as err:  # a store should say OutputError; be sure it does
                raise OutputError(f"cannot write a result: {err.strerror or err}") from err
            self.stats.record(result)
            if on_result is not None:
                on_result(result)
            if self.listeners:
                self._emit(RequestFinished(result))
                if not result.ok:
                    self._emit(RequestFailed(result))

        reorder = self._reorder = Reorderer(
            deliver,
            ordered=self.settings.options.ordered,
            capacity=self.settings.options.reorder_buffer,
        )
        concurrency = self.settings.limits.concurrency
        queue: asyncio.Queue[_Job | Result] = asyncio.Queue(maxsize=concurrency * 2)
        delays: DelayQueue[_Job] = DelayQueue(queue.put)
        failed = False
        try:
            async with asyncio.TaskGroup() as group:
                feeder = self._feeder = group.create_task(
                    self._feed(source, ledger, queue, reorder)
                )
                workers = [
                    group.create_task(self._worker(queue, delays, reorder))
                    for _ in range(concurrency)
                ]
                timer = group.create_task(delays.run())
                await self._wake.wait()
                if self._stopping.is_set():
                    timer.cancel()
                    await asyncio.gather(timer, return_exceptions=True)
                    await self._wind_down(queue, delays, grace)
                for task in (feeder, timer, *workers):
                    task.cancel()
        except BaseExceptionGroup as group_error:
            failed = True
            raise _first(group_error) from None
        except BaseException:
            failed = True
            raise
        finally:
            try:
                reorder.flush_partial()
            except Exception:
                if not failed:
                    raise
                log.debug("results held for ordering could not be written", exc_info=True)
            finally:
                self.stats.finished_at = time.monotonic()
                store.close()
                if self._owns_transport:
                    await self.transport.close()
        problem = self.endpoint_problem
        if problem is not None:
            model = f" (model {problem.model})" if problem.model else ""
            log.debug("run stopped: endpoint problem%s", model)
            raise ConfigError(explain(problem, self.settings.endpoint.resolved_base_url()))
        return self.stats

    async def _wind_down(
        self, queue: asyncio.Queue[_Job | Result], delays: DelayQueue[_Job], grace: float
    ) -> None:
        """A stop: drop what has not started (left for the resume), let in-flight finish."""
        while not queue.empty():
            queue.get_nowait()
            self._finish()
        for _ in delays.clear():
            self._finish()
        if self._open > 0:
            self._wake.clear()
            try:
                async with asyncio.timeout(grace):
                    await self._wake.wait()
            except TimeoutError:
                log.debug("%d requests still in flight after the grace period", self._open)

    def _finish(self) -> None:
        """One job is done (written, or left for the resume)."""
        self._open -= 1
        if self._open == 0 and (self._fed_all or self._stopping.is_set()):
            self._wake.set()

    async def _feed(
        self,
        source: AsyncIterable[Request | InputError],
        ledger: Ledger,
        queue: asyncio.Queue[_Job | Result],
        reorder: Reorderer,
    ) -> None:
        async def enqueue(job: _Job | Result) -> None:
            await reorder.wait_for_room(job.index)
            await queue.put(job)
            self._open += 1  # counted once queued: a stop may cancel the put above

        if await feed(source, ledger, self.stats, self._stopping.is_set, enqueue):
            ledger.end_of_input()  # read to the end: the store may drop stale answers
        self._fed_all = True
        if self._open == 0:
            self._wake.set()

    async def _worker(
        self, queue: asyncio.Queue[_Job | Result], delays: DelayQueue[_Job], reorder: Reorderer
    ) -> None:
        while True:
            job = await queue.get()
            if self._stopping.is_set():
                self._finish()  # not started: left for the resumed run
                continue
            if isinstance(job, Result):
                reorder.push(job)
                self._finish()
                continue
            result = await self._attempt(job, delays)
            if result is not None:
                reorder.push(result)  # a failing store raises here: the run stops
                self._finish()

    # -- one attempt ---------------------------------------------------------------
    def _emit(self, event: Event) -> None:
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
        if custom_id.isascii() and custom_id.isprintable() and len(custom_id) <= 512:
            return {**self._headers, "X-Client-Request-Id": custom_id}
        return self._headers

    async def _attempt(self, job: _Job, delays: DelayQueue[_Job]) -> Result | None:
        """One attempt of ``job``: its final result, or None (retry scheduled, or left)."""
        request = job.request
        job.number += 1
        attempt = Attempt(request, job.number, job.body)
        try:
            outcome = await self._chain(attempt)
        except Exception as err:  # a bug in a step must cost one request, not the run
            log.exception("internal error in request %r", request.custom_id)
            message = str(err) or type(err).__name__
            outcome = Outcome("fail", error=ErrorInfo("internal_error", message))
        if job.first_sent is None:
            job.first_sent = attempt.sent_at
        if outcome.kind == "abandon":
            self._finish()
            return None
        if outcome.kind == "retry":
            if self._stopping.is_set():
                self._finish()  # would have retried: leave it for the resumed run
                return None
            self.stats.retries += 1
            log.debug(
                "retry %s (attempt %d, %s) in %.2fs",
                request.custom_id,
                job.number,
                outcome.reason,
                outcome.delay,
            )
            if self.listeners:
                self._emit(
                    RequestRetrying(
                        request.custom_id, request.line, job.number, outcome.reason, outcome.delay
                    )
                )
            if outcome.body is not None:
                job.body = outcome.body
            delays.push(job, outcome.delay)
            return None
        latency = time.monotonic() - job.first_sent if job.first_sent is not None else None
        return Result(
            custom_id=request.custom_id,
            line=request.line,
            index=job.index,
            status_code=attempt.status,
            body=attempt.data,
            request_id=attempt.request_id,
            error=outcome.error,
            attempts=job.number,
            latency=latency,
            cached=attempt.cached,
            cost=attempt.cost,
            parsed=attempt.parsed,
            notes=attempt.notes or None,
            fingerprint=request.fingerprint,
            source=request.source,
        )


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    """The exception that failed the run (a TaskGroup wraps it in a group)."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
