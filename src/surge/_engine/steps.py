"""The built-in attempt steps: the rate-limit step and the sender (see ``attempt.py``).

    sender = Sender(transport, endpoint, retry_policy, timeout=60, stats=stats)
    chain = compose([LimitStep(gate, stopping)], sender)

The sender makes one HTTP attempt and classifies it: a 2xx answer with a JSON body is
``ok``; a 200 whose body is not JSON (an HTML page from a proxy) is a retryable
``invalid_response``; a 3xx is a final ``redirect`` error naming the Location (redirects
are never followed: a custom auth header must not travel to another origin); other statuses and transport failures go to the pure retry policy
(:func:`surge._http.retry.decide`), which says whether and when this request tries again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from .._http.openai import error_from_response
from .._http.retry import decide
from .._http.transport import RawResponse, Transport
from .._limits.gate import Gate
from ..config import RetryPolicy
from ..errors import RequestError
from ..events import RunStats
from ..models import ErrorInfo
from .attempt import Attempt, Next, Outcome

__all__ = ["LimitStep", "Sender"]

log = logging.getLogger(__name__)


class LimitStep:
    """Wait for the rate limiter, let the attempt through, then settle what it cost."""

    def __init__(self, gate: Gate, stopping: asyncio.Event) -> None:
        self._gate = gate
        self._stopping = stopping

    async def __call__(self, attempt: Attempt, call_next: Next) -> Outcome:
        gate = self._gate
        lease = await gate.acquire(attempt.request, attempt.body)
        if self._stopping.is_set():
            gate.cancel(lease)
            return Outcome.abandon()
        try:
            outcome = await call_next(attempt)
        except BaseException:
            gate.cancel(lease)
            raise
        status = attempt.status
        pause = attempt.server_delay if status == 429 and outcome.kind == "retry" else None
        code = error_from_response(status, attempt.data).code if status == 429 else None
        gate.complete(
            lease,
            status=status,
            headers=attempt.headers,
            body=attempt.data,
            pause=pause,
            error_code=code,
        )
        return outcome


def _parse_json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


class Sender:
    """The innermost step: one HTTP attempt, classified."""

    def __init__(
        self,
        transport: Transport,
        url_for: Callable[[str], str],
        headers_for: Callable[[Attempt], Mapping[str, str]],
        policy: RetryPolicy,
        *,
        timeout: float | None,
        stats: RunStats,
        on_send: Callable[[Attempt], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._transport = transport
        self._url_for = url_for
        self._headers_for = headers_for
        self._policy = policy
        self._timeout = timeout
        self._stats = stats
        self._on_send = on_send
        self._rng = rng or random.Random()

    async def __call__(self, attempt: Attempt) -> Outcome:
        stats = self._stats
        request = attempt.request
        payload = orjson.dumps(attempt.body)
        attempt.sent_at = time.monotonic()
        stats.in_flight += 1
        stats.attempts += 1
        if self._on_send is not None:
            self._on_send(attempt)
        raw: RawResponse | None = None
        try:
            raw = await self._transport.send(
                request.method,
                self._url_for(request.url),
                payload,
                self._headers_for(attempt),
                timeout=self._timeout,
            )
        except RequestError as err:
            attempt.transport_error = err
            return self._transport_failure(attempt, err)
        finally:
            stats.in_flight -= 1
        return self._classify(attempt, raw)

    def _transport_failure(self, attempt: Attempt, err: RequestError) -> Outcome:
        decision = decide(
            self._policy, attempt=attempt.number, status=None, rand=self._rng.random()
        )
        if decision.retry:
            return Outcome("retry", delay=decision.delay, reason=err.code)
        n = attempt.number
        message = f"{err.message} (after {n} attempt{'s' if n > 1 else ''})"
        return Outcome("fail", error=ErrorInfo(err.code, message))

    def _classify(self, attempt: Attempt, raw: RawResponse) -> Outcome:
        attempt.status = raw.status
        attempt.headers = raw.headers
        attempt.request_id = raw.headers.get("x-request-id")
        data = _parse_json(raw.body)
        attempt.data = data if data is not None else raw.body.decode("utf-8", "replace")
        if raw.status < 300:
            if isinstance(data, dict):
                return Outcome.ok()
            # A 2xx that is not a JSON object (an HTML page from a proxy, a cut-off
            # body) is no answer: retry it like a transient failure.
            error = ErrorInfo(
                "invalid_response",
                f"HTTP {raw.status} with a body that is not a JSON object: "
                f"{raw.body[:120].decode('utf-8', 'replace')!r}",
            )
            decision = decide(
                self._policy, attempt=attempt.number, status=None, rand=self._rng.random()
            )
            if decision.retry:
                return Outcome("retry", delay=decision.delay, reason="invalid_response")
            return Outcome("fail", error=error)
        if 300 <= raw.status < 400:
            location = raw.headers.get("location") or "(no Location header)"
            return Outcome(
                "fail",
                error=ErrorInfo(
                    "redirect",
                    f"HTTP {raw.status}: redirected to {location}; redirects are not "
                    "followed (use the final URL as the base URL)",
                ),
            )
        if raw.status == 429:
            self._stats.rate_limited += 1
        error = error_from_response(raw.status, attempt.data)
        decision = decide(
            self._policy,
            attempt=attempt.number,
            status=raw.status,
            headers=raw.headers,
            rand=self._rng.random(),
            error_code=error.code,
            error_message=error.message,
        )
        attempt.server_delay = decision.server_delay
        if decision.retry:
            return Outcome("retry", delay=decision.delay, reason=f"HTTP {raw.status}")
        return Outcome("fail", error=error)
