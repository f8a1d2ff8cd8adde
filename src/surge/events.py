"""What the engine tells listeners, and the live counters progress displays read.

    def on_event(event: surge.Event) -> None:
        if isinstance(event, surge.RequestFinished):
            print(event.result.custom_id, event.result.ok)

    await surge.amap(prompts, on_event=on_event)

Listeners only *listen*: they never steer the engine. Progress displays usually do not
subscribe at all; they poll :class:`RunStats`, which the engine keeps current.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._http.openai import usage_counts
from ._sketch import LatencySketch

if TYPE_CHECKING:
    from .models import Result

__all__ = [
    "Event",
    "Listener",
    "RequestFinished",
    "RequestRetrying",
    "RequestStarted",
    "RunStats",
]


@dataclass(frozen=True, slots=True)
class RequestStarted:
    custom_id: str
    line: int | None
    attempt: int


@dataclass(frozen=True, slots=True)
class RequestRetrying:
    custom_id: str
    line: int | None
    attempt: int  # the attempt that failed (1-based)
    reason: str
    delay: float


@dataclass(frozen=True, slots=True)
class RequestFinished:
    result: Result


Event = RequestStarted | RequestRetrying | RequestFinished
Listener = Callable[[Event], None]


@dataclass(slots=True)
class RunStats:
    """Live counters for one run. The engine is the only writer.

    ``total`` is the number of input lines when known (counted without loading the file),
    else ``None``. ``skipped`` are lines already finished in the output (resume).
    """

    total: int | None = None
    skipped: int = 0
    skipped_failed: int = 0  # of the skipped, those recorded as errors by an earlier run
    skipped_failed_transient: int = 0  # ... of which could succeed if sent again
    resent_changed: int = 0  # answered before, but the request changed: sent again
    stale_removed: int = 0  # answers to lines no longer in the input, dropped from the output
    done: int = 0
    succeeded: int = 0
    failed: int = 0  # request errors (HTTP error, timeout, connection) after retries
    failed_transient: int = 0  # of the failed, those that could succeed if sent again
    invalid: int = 0  # input lines that could not become requests
    in_flight: int = 0
    attempts: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429 answers seen (every attempt)
    tokens_in: int = 0
    tokens_out: int = 0
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    errors_by_code: dict[str, int] = field(default_factory=dict)
    latencies: LatencySketch = field(default_factory=LatencySketch)  # constant memory

    @property
    def elapsed(self) -> float:
        end = self.finished_at if self.finished_at is not None else time.monotonic()
        return max(end - self.started_at, 1e-9)

    @property
    def rate(self) -> float:
        """Finished requests per second (this run; skipped lines excluded)."""
        return self.done / self.elapsed

    @property
    def remaining(self) -> int | None:
        if self.total is None:
            return None
        return max(self.total - self.skipped - self.done, 0)

    @property
    def eta(self) -> float | None:
        remaining = self.remaining
        if remaining is None or self.done == 0:
            return None
        return remaining / self.rate

    def latency_percentiles(self) -> dict[str, float]:
        """p50/p95/p99 in seconds, within 1% (a streaming sketch, not every latency)."""
        sketch = self.latencies
        return {
            "p50": sketch.quantile(0.50),
            "p95": sketch.quantile(0.95),
            "p99": sketch.quantile(0.99),
        }

    def record(self, result: Result) -> None:
        """Account one finished result (called by the engine)."""
        self.done += 1
        if result.ok:
            self.succeeded += 1
        else:
            code = result.error.code if result.error is not None else "unknown"
            self.errors_by_code[code] = self.errors_by_code.get(code, 0) + 1
            if code == "invalid_input" or result.line_error:
                self.invalid += 1
            else:
                self.failed += 1
                if result.failure == "transient":
                    self.failed_transient += 1
        if result.latency is not None:
            self.latencies.add(result.latency)
        usage = usage_counts(result.body)
        if usage is not None:
            self.tokens_in += usage.input
            self.tokens_out += usage.output
