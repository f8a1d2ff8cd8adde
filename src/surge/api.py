"""The library API: ``amap``, ``map``, ``as_completed`` and ``run_file``.

    import surge

    results = await surge.amap(["Hello", "Bonjour"], model="gpt-4.1-mini")
    results = surge.map(prompts, model="gpt-4.1-mini", limits=surge.Limits(rpm=500))
    async for r in surge.as_completed(prompts, model="gpt-4.1-mini"):
        print(r.custom_id, r.text)

Requests may be prompt strings, dicts (a Batch API request line or a ``prompt``/``messages``
row) or :class:`surge.Request` objects. Options are typed config objects; ``timeout=30``
and ``model="..."`` are accepted as shortcuts. Pass ``output="results.jsonl"`` to write
every result as it finishes and make the call resumable.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import _constants as C
from ._engine.attempt import Step
from ._engine.engine import Engine, EngineSettings
from ._engine.structured import ValidateStep
from ._http.transport import Transport
from ._limits.gate import Gate
from ._limits.remote import guarded, opened_gate
from ._schema import OutputSchema
from ._sync import run_sync
from .config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
from .errors import ConfigError, InputError
from .events import Listener, RunStats
from .io.formats import RequestBuilder
from .io.source import InputFormat, iter_items, read_lines
from .io.store import JsonlStore, ResultStore, latest_results, open_store
from .models import Request, Result

__all__ = ["amap", "as_completed", "map", "run_file", "run_source"]

Items = Iterable[Any] | AsyncIterable[Any]
#: ``limiter=``: a shared limiter's address (``"redis://host:6379/0"``) or a Gate object.
Limiter = str | Gate | None

# as_completed: results waiting for the caller, at most (the input is read no further).
_AS_COMPLETED_BUFFER = 1_000


def _expect(name: str, value: object, types: tuple[type, ...], expected: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
        raise ConfigError(f"{name} must be {expected}, got {type(value).__name__} {value!r:.60}")


def _settings(
    endpoint: Endpoint | str | None,
    limits: Limits | None,
    retry: RetryPolicy | None,
    timeout: Timeout | float | None,
    options: RunOptions | None,
    model: str | None,
) -> EngineSettings:
    _expect("endpoint", endpoint, (Endpoint, str), "a surge.Endpoint or a base URL string")
    _expect("limits", limits, (Limits,), "a surge.Limits")
    _expect("retry", retry, (RetryPolicy,), "a surge.RetryPolicy")
    _expect("timeout", timeout, (Timeout, int, float), "a surge.Timeout or seconds")
    _expect("options", options, (RunOptions,), "a surge.RunOptions")
    _expect("model", model, (str,), "a model name (str)")
    if isinstance(endpoint, str):
        endpoint = Endpoint(base_url=endpoint)
    options = options or RunOptions()
    if model is not None:
        options = replace(options, model=model)
    settings = EngineSettings(
        endpoint=endpoint or Endpoint(),
        limits=limits or Limits(),
        retry=retry or RetryPolicy(),
        timeout=Timeout.coerce(timeout) if timeout is not None else Timeout(),
        options=options,
    )
    settings.endpoint.resolved_base_url()  # a malformed URL is a ConfigError, raised now
    return settings


def _check_requests(requests: object) -> None:
    if isinstance(requests, str | bytes | Request) or not isinstance(
        requests, Iterable | AsyncIterable
    ):
        raise ConfigError(
            "requests must be an iterable (a list of prompts, dicts or surge.Request), "
            f"got {type(requests).__name__}"
        )


def _steps(schema: Any, validation_retries: int, extra: Sequence[Step] = ()) -> tuple[Step, ...]:
    """The attempt steps of a call: validation (``schema=``) outermost, then ``extra``.

    Validation comes first because it puts the schema's field into the body: a cache step
    inside it keys on the body that is really sent, and a re-ask passes through the budget
    and the cost steps like any attempt.
    """
    if schema is None:
        return tuple(extra)
    return (ValidateStep(OutputSchema.coerce(schema), retries=validation_retries), *extra)


def _rehydrate(result: Result, schema: Any) -> Result:
    """A result read back from a file carries plain data: make it the model again."""
    model = OutputSchema.coerce(schema).model if schema is not None else None
    if model is not None and isinstance(result.parsed, dict):
        result.parsed = model.model_validate(result.parsed)
    return result


def _asked_for(store: ResultStore, collected: dict[str, Result]) -> list[Result] | None:
    """With an output file: one result per input passed, in input order.

    The ledger remembers the final custom_id of every input (in order); results finished
    in this call were collected, the others (skipped: answered by an earlier run) come
    from the file, last line winning. ``None`` when there is no such file.
    """
    if not isinstance(store, JsonlStore) or store.ledger is None or store.ledger.order is None:
        return None
    order = store.ledger.order
    missing = {cid for cid in order if cid not in collected}
    if missing:
        collected = {**collected, **latest_results(store.path, missing)}
    return [collected[cid] for cid in order if cid in collected]


def _positioned(item: object, position: int) -> object:
    """The caller's Request is never touched: the engine gets a copy carrying its position."""
    return replace(item, line=position) if isinstance(item, Request) else item


async def _own_items(requests: Items) -> AsyncIterator[object]:
    position = 0
    if isinstance(requests, AsyncIterable):
        async for item in requests:
            position += 1
            yield _positioned(item, position)
    else:
        for item in requests:
            position += 1
            yield _positioned(item, position)


@dataclass(frozen=True, slots=True)
class _Call:
    """One call's engine settings, attempt steps and wiring: what every entry point runs.

    The public functions keep their explicit keywords (IDE completion, ``help()``) and
    hand them over here once; everything after that is the same for all of them.
    """

    settings: EngineSettings
    steps: tuple[Step, ...]
    on_event: Listener | None
    stats: RunStats | None
    transport: Transport | None
    limiter: Limiter

    def __post_init__(self) -> None:
        if self.on_event is not None and not callable(self.on_event):
            raise ConfigError(f"on_event must be a callable, got {type(self.on_event).__name__}")

    @property
    def options(self) -> RunOptions:
        return self.settings.options

    def store(self, output: str | Path | None, *, remember_order: bool = False) -> ResultStore:
        """The sink for ``output`` (memory when ``None``), resuming what it already holds."""
        _expect("output", output, (str, Path), "a path (str or pathlib.Path)")
        return open_store(
            output,
            retry_failed=self.options.retry_failed,
            keep_stale=self.options.keep_stale,
            remember_order=remember_order,
        )

    async def run(
        self,
        source: AsyncIterable[Request | InputError],
        store: ResultStore,
        *,
        on_result: Any = None,
    ) -> RunStats:
        settings = self.settings
        async with opened_gate(self.limiter, settings.limits, settings.endpoint) as gate:
            engine = Engine(
                settings,
                transport=self.transport,
                gate=gate,
                steps=self.steps,
                listeners=(self.on_event,) if self.on_event is not None else (),
                stats=self.stats,
            )
            return await guarded(
                gate, engine.request_stop, engine.run(source, store, on_result=on_result)
            )


async def amap(
    requests: Items,
    *,
    endpoint: Endpoint | str | None = None,
    limits: Limits | None = None,
    retry: RetryPolicy | None = None,
    timeout: Timeout | float | None = None,
    options: RunOptions | None = None,
    model: str | None = None,
    output: str | Path | None = None,
    on_event: Listener | None = None,
    stats: RunStats | None = None,
    transport: Transport | None = None,
    schema: Any = None,
    validation_retries: int = C.DEFAULT_VALIDATION_RETRIES,
    limiter: Limiter = None,
) -> list[Result]:
    """Run every request; return one :class:`Result` per request, in input order.

    With ``output``, requests already finished in that file are not sent again and are
    returned from the file. The objects passed in are never modified. With ``schema`` (a
    pydantic model class or a JSON schema dict) every reply must match it:
    ``result.parsed`` holds the validated value, and a reply that does not match is asked
    again ``validation_retries`` times with the error.
    ``limiter="redis://host:6379/0"`` shares the rate limits with every other process
    pointed at the same Redis.
    """
    _check_requests(requests)
    settings = _settings(endpoint, limits, retry, timeout, options, model)
    steps = _steps(schema, validation_retries)
    call = _Call(settings, steps, on_event, stats, transport, limiter)
    store = call.store(output, remember_order=True)
    collected: dict[int, Result] = {}  # by position in ``requests`` (1-based)
    by_id: dict[str, Result] = {}  # with an output: by final custom_id (see _asked_for)

    def keep(result: Result) -> None:
        collected[result.line or 0] = result
        by_id[result.custom_id] = result

    source = iter_items(_own_items(requests), RequestBuilder(call.options))
    await call.run(source, store, on_result=keep)
    asked = _asked_for(store, by_id)
    if asked is not None:
        return [_rehydrate(result, schema) for result in asked]
    return [collected[k] for k in sorted(collected)]


def map(requests: Items, **kwargs: Any) -> list[Result]:
    """Synchronous :func:`amap`. Works inside a running event loop (Jupyter) too.

    Ctrl-C (or Jupyter's stop button) cancels the run: nothing is sent after
    ``KeyboardInterrupt`` is raised.
    """
    return run_sync(amap(requests, **kwargs))


async def as_completed(
    requests: Items,
    *,
    endpoint: Endpoint | str | None = None,
    limits: Limits | None = None,
    retry: RetryPolicy | None = None,
    timeout: Timeout | float | None = None,
    options: RunOptions | None = None,
    model: str | None = None,
    output: str | Path | None = None,
    on_event: Listener | None = None,
    stats: RunStats | None = None,
    transport: Transport | None = None,
    schema: Any = None,
    validation_retries: int = C.DEFAULT_VALIDATION_RETRIES,
    limiter: Limiter = None,
) -> AsyncIterator[Result]:
    """Yield each :class:`Result` as soon as it is finished (completion order).

    A caller that reads slowly holds the run back: once about a thousand results wait,
    no further input is read (memory stays flat however long the input).
    """
    _check_requests(requests)
    settings = _settings(endpoint, limits, retry, timeout, options, model)
    settings = replace(settings, options=replace(settings.options, ordered=False))
    steps = _steps(schema, validation_retries)
    call = _Call(settings, steps, on_event, stats, transport, limiter)
    store = call.store(output)
    ready: deque[Result] = deque()
    changed = asyncio.Event()  # a result arrived, one was taken, or the run ended
    bound = max(_AS_COMPLETED_BUFFER, settings.limits.concurrency)

    def arrived(result: Result) -> None:
        ready.append(result)
        changed.set()

    async def throttled(items: AsyncIterable[Any]) -> AsyncIterator[Any]:
        async for item in items:
            while len(ready) >= bound:
                changed.clear()
                await changed.wait()
            yield item

    source = iter_items(throttled(_own_items(requests)), RequestBuilder(call.options))
    task = asyncio.create_task(call.run(source, store, on_result=arrived))
    task.add_done_callback(lambda _: changed.set())
    try:
        while True:
            if ready:
                yield ready.popleft()
                changed.set()
                continue
            if task.done():
                break
            changed.clear()
            await changed.wait()
        await task  # re-raise a failure of the run itself
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def run_file(
    input_path: str | Path,
    output: str | Path,
    *,
    endpoint: Endpoint | str | None = None,
    limits: Limits | None = None,
    retry: RetryPolicy | None = None,
    timeout: Timeout | float | None = None,
    options: RunOptions | None = None,
    input_format: InputFormat = "auto",
    on_event: Listener | None = None,
    stats: RunStats | None = None,
    transport: Transport | None = None,
    steps: Sequence[Step] = (),
    schema: Any = None,
    validation_retries: int = C.DEFAULT_VALIDATION_RETRIES,
    limiter: Limiter = None,
) -> RunStats:
    """Stream ``input_path`` (``-`` for stdin) through the engine into ``output``.

    ``steps`` are extra attempt steps (a response cache, a budget), outermost first;
    ``schema`` adds the validation step outside them (see :func:`_steps`).
    """
    _expect("input_path", input_path, (str, Path), "a path (str or pathlib.Path)")
    settings = _settings(endpoint, limits, retry, timeout, options, None)
    every = _steps(schema, validation_retries, steps)
    call = _Call(settings, every, on_event, stats, transport, limiter)
    store = call.store(output)
    source = read_lines(input_path, RequestBuilder(call.options), input_format=input_format)
    return await call.run(source, store)


async def run_source(
    source: AsyncIterable[Request | InputError],
    output: str | Path,
    *,
    endpoint: Endpoint | str | None = None,
    limits: Limits | None = None,
    retry: RetryPolicy | None = None,
    timeout: Timeout | float | None = None,
    options: RunOptions | None = None,
    on_event: Listener | None = None,
    stats: RunStats | None = None,
    transport: Transport | None = None,
    steps: Sequence[Step] = (),
    schema: Any = None,
    validation_retries: int = C.DEFAULT_VALIDATION_RETRIES,
    limiter: Limiter = None,
) -> RunStats:
    """Like :func:`run_file`, for requests already made (a table's rows, a workflow stage)."""
    settings = _settings(endpoint, limits, retry, timeout, options, None)
    every = _steps(schema, validation_retries, steps)
    call = _Call(settings, every, on_event, stats, transport, limiter)
    return await call.run(source, call.store(output))
