"""Probe an endpoint with one request before spending a whole run on it.

    report = await check_endpoint(endpoint, request)
    report.ok, report.message     # True, "http://.../v1 answered 200 in 0.31 s (model m)"

Used by ``surge run --check`` (:func:`check_run`: the first request of the input) and by
``surge demo`` /
``surge bench`` before they use a real endpoint. One attempt, no retries: a wrong URL, key
or model is reported in about a second, in the same words the engine uses when it stops a
run early (``surge._engine.failfast.explain``). A 429 passes: it proves URL and key right.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._engine.engine import Engine, EngineSettings
from .._engine.failfast import EndpointProblem, explain
from ..config import Endpoint, Limits, RetryPolicy, Timeout
from ..errors import SurgeError
from ..io.formats import RequestBuilder
from ..io.store import MemoryStore
from ..models import Request, Result
from .exits import ExitCode

if TYPE_CHECKING:
    from .run_request import RunRequest

__all__ = ["CheckReport", "check_endpoint", "check_run", "send_once"]


@dataclass(frozen=True, slots=True)
class CheckReport:
    ok: bool
    message: str
    result: Result


async def send_once(endpoint: Endpoint, request: Request, *, timeout: float = 60.0) -> Result:
    """One attempt of ``request``, no retries; the result whatever it is."""
    settings = EngineSettings(
        endpoint=endpoint,
        limits=Limits(concurrency=1),
        retry=RetryPolicy(max_retries=0),
        timeout=Timeout(total=timeout, connect=min(timeout, 10.0)),
        fail_fast=False,  # the answer itself is what the caller wants to see
    )
    results: list[Result] = []

    async def one() -> AsyncIterator[Request]:
        yield request

    await Engine(settings).run(one(), MemoryStore(), on_result=results.append)
    return results[0]


def _problem(result: Result, model: str | None) -> EndpointProblem:
    message = result.error.message if result.error is not None else "no answer"
    return EndpointProblem(result.status_code, message, model)


async def check_endpoint(endpoint: Endpoint, request: Request) -> CheckReport:
    """Send ``request`` once and say whether the endpoint works, in one sentence."""
    url = endpoint.resolved_base_url()
    model = request.body.get("model")
    model = model if isinstance(model, str) else None
    started = time.monotonic()
    result = await send_once(endpoint, request)
    took = time.monotonic() - started
    if result.ok or result.status_code == 429:
        busy = " (rate limited right now: surge waits those out)" if not result.ok else ""
        return CheckReport(
            True,
            f"{url} answered {result.status_code} in {took:.2f} s for {request.custom_id!r}"
            f"{f' (model {model})' if model else ''}{busy}",
            result,
        )
    return CheckReport(False, explain(_problem(result, model), url), result)


async def _first_request(request: RunRequest) -> Request | None:
    source = request.requests(RequestBuilder(request.options))
    try:
        async for item in source:
            if isinstance(item, Request):
                return item
    finally:
        await source.aclose()  # type: ignore[attr-defined]
    return None


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def check_run(request: RunRequest, *, run: Callable[[Coroutine[Any, Any, Any]], Any]) -> int:
    """``surge run --check``: send the input's first request once, say how it went."""

    async def probe() -> CheckReport | None:
        first = await _first_request(request)
        if first is None:
            return None
        return await check_endpoint(request.endpoint, first)

    try:
        report = run(probe())
    except SurgeError as err:
        _say(f"surge: error: {err}")
        return ExitCode.USAGE
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    if report is None:
        _say(f"surge: error: {request.input_path} holds no valid request to check with")
        return ExitCode.USAGE
    if not report.ok:
        _say(f"surge: check failed: {report.message}")
        return ExitCode.USAGE
    _say(f"surge: check passed: {report.message}")
    return ExitCode.OK
