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
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ._engine.attempt import Step
from ._engine.engine import Engine, EngineSettings
from ._http.transport import Transport
from ._limits.gate import Gate
from ._limits.remote import shared_gate
from ._limits.shared_gate import SharedGate
from ._sync import run_sync
from .config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
from .errors import InputError
from .events import Listener, RunStats
from .io.formats import RequestBuilder
from .io.source import InputFormat, iter_items, read_lines
from .io.store import JsonlStore, MemoryStore, ResultStore, read_results
from .models import Request, Result

__all__ = ["amap", "as_completed", "map", "run_file"]

Items = Iterable[Any] | AsyncIterable[Any]
#: ``limiter=``: a shared limiter's address (``"redis://host:6379/0"``) or a Gate object.
Limiter = str | Gate | None


def _settings(
    endpoint: Endpoint | str | None,
    limits: Limits | None,
    retry: RetryPolicy | None,
    timeout: Timeout | float | None,
    options: RunOptions | None,
    model: str | None,
) -> EngineSettings:
    if isinstance(endpoint, str):
        endpoint = Endpoint(base_url=endpoint)
    options = options or RunOptions()
    if model is not None:
        options = replace(options, model=model)
    return EngineSettings(
        endpoint=endpoint or Endpoint(),
        limits=limits or Limits(),
        retry=retry or RetryPolicy(),
        timeout=Timeout.coerce(timeout) if timeout is not None else Timeout(),
        options=options,
    )


def _store(output: str | Path | None, options: RunOptions) -> ResultStore:
    if output is None:
        return MemoryStore()
    return JsonlStore(output, retry_failed=options.retry_failed)


async def _run(
    source: AsyncIterable[Request | InputError],
    settings: EngineSettings,
    store: ResultStore,
    *,
    on_result: Any = None,
    on_event: Listener | None = None,
    stats: RunStats | None = None,
    transport: Transport | None = None,
    engine_hook: Any = None,
    limiter: Limiter = None,
    steps: Sequence[Step] = (),
) -> RunStats:
    gate: Gate | None
    if isinstance(limiter, str):
        gate = shared_gate(limiter, settings.limits, settings.endpoint)
        try:
            await gate.open()  # unreachable at the start: fail before anything is sent
        except BaseException:
            await gate.aclose()
            raise
    else:
        gate = limiter
    engine = Engine(
        settings,
        transport=transport,
        gate=gate,
        steps=steps,
        listeners=(on_event,) if on_event is not None else (),
        stats=stats,
    )
    if engine_hook is not None:
        engine_hook(engine)
    # A shared limiter that becomes unreachable stops launching; the run then drains and
    # the failure is raised once every request in flight is recorded.
    unsubscribe = gate.on_failure(engine.request_stop) if isinstance(gate, SharedGate) else None
    try:
        stats = await engine.run(source, store, on_result=on_result)
    finally:
        if unsubscribe is not None:
            unsubscribe()
        if isinstance(limiter, str) and isinstance(gate, SharedGate):
            await gate.aclose()
    if isinstance(gate, SharedGate):
        gate.raise_if_failed()
    return stats


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
    limiter: Limiter = None,
) -> list[Result]:
    """Run every request; return one :class:`Result` per request, in input order.

    With ``output``, requests already finished in that file are not sent again and are
    returned from the file. ``limiter="redis://host:6379/0"`` shares the rate limits with
    every other process pointed at the same Redis.
    """
    settings = _settings(endpoint, limits, retry, timeout, options, model)
    store = _store(output, settings.options)
    collected: dict[int, Result] = {}

    def keep(result: Result) -> None:
        collected[result.line or 0] = result

    builder = RequestBuilder(settings.options)
    await _run(
        iter_items(requests, builder),
        settings,
        store,
        on_result=keep,
        on_event=on_event,
        stats=stats,
        transport=transport,
        limiter=limiter,
    )
    if output is not None and Path(output).exists():
        # Results finished by an earlier run come back from the file.
        for result in read_results(output):
            if result.line is not None and result.line not in collected:
                collected[result.line] = result
    return [collected[k] for k in sorted(collected)]


def map(requests: Items, **kwargs: Any) -> list[Result]:
    """Synchronous :func:`amap`. Works inside a running event loop (Jupyter) too."""
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
    limiter: Limiter = None,
) -> AsyncIterator[Result]:
    """Yield each :class:`Result` as soon as it is finished (completion order)."""
    settings = _settings(endpoint, limits, retry, timeout, options, model)
    settings = replace(settings, options=replace(settings.options, ordered=False))
    store = _store(output, settings.options)
    queue: asyncio.Queue[Result | None] = asyncio.Queue()
    builder = RequestBuilder(settings.options)
    task = asyncio.create_task(
        _run(
            iter_items(requests, builder),
            settings,
            store,
            on_result=queue.put_nowait,
            on_event=on_event,
            stats=stats,
            transport=transport,
            limiter=limiter,
        )
    )
    task.add_done_callback(lambda _: queue.put_nowait(None))
    try:
        while True:
            result = await queue.get()
            if result is None:
                break
            yield result
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
    engine_hook: Any = None,
    limiter: Limiter = None,
    steps: Sequence[Step] = (),
) -> RunStats:
    """Stream ``input_path`` (``-`` for stdin) through the engine into ``output``.

    ``steps`` are extra attempt steps (a response cache, a budget), outermost first.
    """
    settings = _settings(endpoint, limits, retry, timeout, options, None)
    builder = RequestBuilder(settings.options)
    return await _run(
        read_lines(input_path, builder, input_format=input_format),
        settings,
        JsonlStore(output, retry_failed=settings.options.retry_failed),
        on_event=on_event,
        stats=stats,
        transport=transport,
        engine_hook=engine_hook,
        limiter=limiter,
        steps=steps,
    )
