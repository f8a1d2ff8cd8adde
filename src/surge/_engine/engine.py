"""The engine: a fixed pool of workers between a streaming source and a store.

    engine = Engine(EngineSettings(endpoint=Endpoint(base_url=url), limits=Limits(100)))
    stats = await engine.run(read_lines("in.jsonl", builder), JsonlStore("out.jsonl"))

One request travels one way: the *feeder* reads the source, skips what the store says is
finished, and puts requests on a bounded queue; ``concurrency`` *workers* take them one
at a time, wait for the *limiter*, make one *transport* attempt, ask the *retry policy*
what to do with a failure, and hand the final result to the *store* (through the
reorder buffer when ``ordered``). Nothing else decides that a request is finished.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .. import _constants as C
from .._http.retry import decide
from .._http.transport import AiohttpTransport, RawResponse, Transport
from .._limits.limiter import AdaptiveLimiter, RateLimiter
from .._limits.tokens import TokenCounter, charged_tokens, estimate_cost
from ..config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
from ..errors import InputError, RequestError
from ..events import Listener, RequestFinished, RequestRetrying, RequestStarted, RunStats
from ..io.store import ResultStore
from ..models import ErrorInfo, Request, Result
from .ordering import Reorderer

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


def _error_from_response(raw: RawResponse, body: Any) -> ErrorInfo:
    """A short code and the server's own message, from an OpenAI-style error body."""
    message = ""
    code = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        message = str(err.get("message") or "")
        code = err.get("code") or err.get("type")
    elif isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
    elif isinstance(body, str):
        message = body[:500]
    code = (
        str(code)
        if code
        else ("rate_limit_exceeded" if raw.status == 429 else f"http_{raw.status}")
    )
    return ErrorInfo(code, f"HTTP {raw.status}: {message}".rstrip(": ") or f"HTTP {raw.status}")


def _usage_cost(body: Any, request_body: dict[str, Any]) -> tuple[int, int] | None:
    """(prompt tokens, completion tokens) from a response's usage, if present."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens", 0))
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return prompt, completion


class Engine:
    """Runs requests through limiter, transport and retry policy into a store."""

    def __init__(
        self,
        settings: EngineSettings,
        *,
        transport: Transport | None = None,
        limiter: RateLimiter | None = None,
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
        self.limiter: RateLimiter = limiter or AdaptiveLimiter(rpm=limits.rpm, tpm=limits.tpm)
        self.listeners = listeners
        self.stats = stats or RunStats()
        self._rng = rng or random.Random()
        self._tokens = TokenCounter()
        self._expected_output: float = C.DEFAULT_EXPECTED_OUTPUT_TOKENS
        self._stopping = asyncio.Event()
        self._headers = self._base_headers()
        self._urls: dict[str, str] = {}
        self._feeder: asyncio.Task[None] | None = None
        self._reorder: Reorderer | None = None
        self._failed_before: set[str] = set()

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
        finished = store.open()
        # Failures already recorded (not re-sent without --retry-failed) still count
        # against the run's outcome.
        self._failed_before = getattr(store, "failed_ids", set())
        if getattr(self.limiter, "tracks_tokens", False):
            self._tokens.warm()

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
        feeder = self._feeder = asyncio.create_task(self._feed(source, finished, queue, reorder))
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
        finished: set[str],
        queue: asyncio.Queue[Any],
        reorder: Reorderer,
    ) -> None:
        seen: set[str] = set()
        failed_before = self._failed_before
        index = 0
        async for item in source:
            if self._stopping.is_set():
                break
            if isinstance(item, InputError):
                custom_id = f"line-{item.line}"
                if custom_id in finished:
                    self._skip(custom_id, failed_before)
                    continue
                work: Request | Result = Result(
                    custom_id=custom_id,
                    line=item.line,
                    error=ErrorInfo(item.code, str(item)),
                    line_error=True,
                )
            elif item.custom_id in seen:
                # The error line gets its own id: sharing the original's would make a
                # resume believe the original finished (and each id stays unique).
                dup_id = f"{item.custom_id}#line-{item.line}"
                if dup_id in finished:
                    self._skip(dup_id, failed_before)
                    continue
                work = Result(
                    custom_id=dup_id,
                    line=item.line,
                    error=ErrorInfo(
                        "invalid_input",
                        f"line {item.line}: duplicate custom_id {item.custom_id!r} "
                        "(an earlier line has it); not sent",
                    ),
                    line_error=True,
                )
            else:
                seen.add(item.custom_id)
                if item.custom_id in finished:
                    self._skip(item.custom_id, failed_before)
                    continue
                work = item
            work.index = index
            index += 1
            await reorder.wait_for_room(work.index)
            await queue.put(work)

    def _skip(self, custom_id: str, failed_before: set[str]) -> None:
        """A line whose result is already in the output (resume)."""
        self.stats.skipped += 1
        if custom_id in failed_before:
            self.stats.skipped_failed += 1

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

    def _estimate(self, request: Request) -> int:
        prompt = self._tokens.prompt_tokens(request.body)
        return estimate_cost(request.body, prompt=prompt, expected_output=self._expected_output)

    def _learn_output(self, completion: int) -> None:
        # Exponential moving average: adapts within ~20 answers, cheap on the hot path.
        self._expected_output += (completion - self._expected_output) * 0.05

    async def _execute(self, request: Request) -> Result | None:
        """All attempts for one request; ``None`` when abandoned by a shutdown."""
        stats = self.stats
        limiter = self.limiter
        settings = self.settings
        body = orjson.dumps(request.body)
        headers = self._headers
        if request.custom_id.isascii() and len(request.custom_id) <= 512:
            headers = {**headers, "X-Client-Request-Id": request.custom_id}
        url = self._url(request.url)
        timeout = settings.timeout.total
        started = 0.0  # set when the first attempt leaves: limiter waits are not latency
        attempt = 0
        while True:
            attempt += 1
            tokens = self._estimate(request) if getattr(limiter, "tracks_tokens", True) else 0
            ticket = await limiter.acquire(tokens)
            if self._stopping.is_set():
                limiter.release()
                limiter.settle(tokens, 0)
                return None
            if attempt == 1:
                started = time.monotonic()
            stats.in_flight += 1
            stats.attempts += 1
            if self.listeners:
                self._emit(RequestStarted(request.custom_id, request.line, attempt))
            raw: RawResponse | None = None
            failure: RequestError | None = None
            try:
                raw = await self.transport.send(request.method, url, body, headers, timeout=timeout)
            except RequestError as err:
                failure = err
            finally:
                stats.in_flight -= 1
            if raw is not None:
                limiter.observe(raw.headers, ticket)
            limiter.release()

            if raw is not None and raw.status < 300:
                return self._success(request, raw, tokens, attempt, started)

            status = raw.status if raw is not None else None
            parsed = self._parse_body(raw.body) if raw is not None else None
            if status == 429:
                stats.rate_limited += 1
                limiter.settle(tokens, 0, refused=True)  # a refused request costs no quota
            else:
                limiter.settle(tokens, tokens)
            error = _error_from_response(raw, parsed) if raw is not None else None
            decision = decide(
                settings.retry,
                attempt=attempt,
                status=status,
                headers=raw.headers if raw is not None else None,
                rand=self._rng.random(),
                error_code=error.code if error else None,
                error_message=error.message if error else None,
            )
            if status == 429 and decision.retry:
                # One 429 means the quota is spent for everyone: stop all new requests
                # for as long as the server asked (or the backoff), not just this one.
                limiter.pause(decision.delay)
            reason = (
                f"HTTP {status}" if status is not None else (failure.code if failure else "error")
            )
            if decision.retry and not self._stopping.is_set():
                stats.retries += 1
                log.debug(
                    "retry %s (attempt %d, %s) in %.2fs",
                    request.custom_id,
                    attempt,
                    reason,
                    decision.delay,
                )
                if self.listeners:
                    self._emit(
                        RequestRetrying(
                            request.custom_id, request.line, attempt, reason, decision.delay
                        )
                    )
                if await self._sleep_unless_stopping(decision.delay):
                    return None
                continue
            if self._stopping.is_set() and decision.retry:
                return None  # would have retried: leave it for the resumed run
            latency = time.monotonic() - started
            if raw is not None:
                return Result(
                    custom_id=request.custom_id,
                    line=request.line,
                    index=request.index,
                    status_code=raw.status,
                    body=parsed,
                    request_id=raw.headers.get("x-request-id"),
                    error=error,
                    attempts=attempt,
                    latency=latency,
                )
            assert failure is not None
            return Result(
                custom_id=request.custom_id,
                line=request.line,
                index=request.index,
                error=ErrorInfo(
                    failure.code,
                    f"{failure.message} (after {attempt} attempt{'s' if attempt > 1 else ''})",
                ),
                attempts=attempt,
                latency=latency,
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

    @staticmethod
    def _parse_body(data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return data.decode("utf-8", "replace")

    def _success(
        self, request: Request, raw: RawResponse, tokens: int, attempt: int, started: float
    ) -> Result:
        body = self._parse_body(raw.body)
        cost = _usage_cost(body, request.body)
        if cost is not None:
            prompt, completion = cost
            self._learn_output(completion)
            charged = charged_tokens(request.body, prompt=prompt, completion=completion)
            self.limiter.settle(tokens, charged if tokens else 0)
        else:
            self.limiter.settle(tokens, tokens)
        return Result(
            custom_id=request.custom_id,
            line=request.line,
            index=request.index,
            status_code=raw.status,
            body=body,
            request_id=raw.headers.get("x-request-id"),
            attempts=attempt,
            latency=time.monotonic() - started,
        )
