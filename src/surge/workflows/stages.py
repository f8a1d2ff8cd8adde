"""Multi-stage work in two shapes: a *map* stage and a *reduce* stage. No DAG framework.

    runner = StageRunner(endpoint=url, model="gpt-4.1-mini", on_event=print)
    answers = await runner.map(MapStage("ask", lambda q: q), questions)        # concurrent
    summaries = await runner.map(MapStage("summarize", lambda r: f"Summarize: {r.text}"), answers)
    report = await runner.reduce(ReduceStage("report", lambda rs: join(rs)), summaries)

A :class:`MapStage` turns each item into one request and runs them all concurrently through
the engine; a :class:`ReduceStage` turns all its items into one request. A later stage
consumes an earlier stage's results, so map → reduce, map → map → reduce and reduce in
levels (map over groups, then reduce) are just calls in sequence, and ordinary Python
decides what feeds what. Each stage emits ``StageStarted``/``StageFinished`` to the same
listener that receives the engine's request events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from .. import _constants as C
from ..api import amap
from ..config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
from ..events import Event, Listener, StageFinished, StageStarted
from ..models import Request, Result

__all__ = ["MapStage", "ReduceStage", "StageRunner"]

T = TypeVar("T")

# What a stage's ``build`` may return: a prompt, a prompt row / Batch line dict, a Request.
Built = str | dict[str, Any] | Request


@dataclass(frozen=True, slots=True)
class MapStage(Generic[T]):
    """One request per item, all at once. ``build(item) -> prompt | dict | Request``."""

    name: str
    build: Callable[[T], Built]
    schema: Any = None  # a pydantic model or JSON schema for every answer of this stage


@dataclass(frozen=True, slots=True)
class ReduceStage(Generic[T]):
    """One request from all items. ``build(items) -> prompt | dict | Request``."""

    name: str
    build: Callable[[Sequence[T]], Built]
    schema: Any = None


def _request(built: Built, custom_id: str) -> Request | dict[str, Any]:
    if isinstance(built, Request):
        return replace(built, custom_id=custom_id, line=None)
    if isinstance(built, str):
        return {"custom_id": custom_id, "prompt": built}
    if "body" in built:
        return {**built, "custom_id": custom_id}
    return {**{k: v for k, v in built.items() if k != "id"}, "custom_id": custom_id}


class StageRunner:
    """Runs stages through the engine with one set of options (endpoint, model, limits...)."""

    def __init__(
        self,
        *,
        endpoint: Endpoint | str | None = None,
        limits: Limits | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | float | None = None,
        options: RunOptions | None = None,
        model: str | None = None,
        on_event: Listener | None = None,
        validation_retries: int = C.DEFAULT_VALIDATION_RETRIES,
        transport: Any = None,
    ) -> None:
        self._kwargs: dict[str, Any] = {
            "endpoint": endpoint,
            "limits": limits,
            "retry": retry,
            "timeout": timeout,
            "options": options,
            "model": model,
            "validation_retries": validation_retries,
            "transport": transport,
        }
        self.on_event = on_event

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    async def _run(self, name: str, requests: list[Any], schema: Any) -> list[Result]:
        self._emit(StageStarted(name, len(requests)))
        started = time.monotonic()
        results = await amap(requests, on_event=self.on_event, schema=schema, **self._kwargs)
        ok = sum(r.ok for r in results)
        self._emit(StageFinished(name, ok, len(results) - ok, time.monotonic() - started))
        return results

    async def map(self, stage: MapStage[T], items: Sequence[T]) -> list[Result]:
        """Every item's result, in item order (custom_ids ``<stage>-1``, ``<stage>-2``...)."""
        requests = [
            _request(stage.build(item), f"{stage.name}-{i}") for i, item in enumerate(items, 1)
        ]
        return await self._run(stage.name, requests, stage.schema)

    async def reduce(self, stage: ReduceStage[T], items: Sequence[T]) -> Result:
        """The one result of combining ``items`` (custom_id: the stage's name)."""
        [result] = await self._run(
            stage.name, [_request(stage.build(items), stage.name)], stage.schema
        )
        return result
