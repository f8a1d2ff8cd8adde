"""Counters and the per-request log behind ``GET /stats``.

Example::

    stats = SimStats(log_requests=True)
    stats.enter()
    stats.record(path="/v1/chat/completions", status=200, arrival=0.01,
                 client_request_id="row-1", digest="8f434346648f", model="gpt-4o-mini")
    stats.leave()
    stats.snapshot()["by_status"]      # {"200": 1}

Log entries are appended when a request's outcome is known (so in completion order) and
carry the arrival time in seconds since the server started. ``status`` is the HTTP status,
or ``"reset"`` / ``"hang"`` for attempts that never got one, or 499 when the client left
first. Entries are tuples until someone asks, to keep a million-request log cheap.
"""

from __future__ import annotations

import time
from typing import Any

from .config import FAULT_KINDS

FAULT_COUNTERS: tuple[str, ...] = (*FAULT_KINDS, "fail_first")
_LOG_FIELDS = ("t", "path", "status", "client_request_id", "digest", "model", "attempt")


class SimStats:
    """Live counters of one simulator (not thread-safe: touch it from the server's loop)."""

    def __init__(self, *, log_requests: bool = True) -> None:
        self.log_requests = log_requests
        self.started = time.monotonic()
        self.in_flight = 0
        self.reset()

    def __repr__(self) -> str:
        return f"SimStats(received={self.received}, in_flight={self.in_flight}, by_status={self.by_status})"

    def reset(self) -> None:
        """Zero the counters and the log (requests still in flight stay counted as such)."""
        self.received = 0
        self.max_in_flight = self.in_flight
        self.by_status: dict[str, int] = {}
        self.faults = dict.fromkeys(FAULT_COUNTERS, 0)
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.charged_tokens = 0  # what admitted requests cost the tokens limit
        self.flex_unavailable = 0
        self.by_model: dict[str, dict[str, int]] = {}
        self.log: list[tuple[Any, ...]] = []

    def now(self) -> float:
        """Seconds since the server started (monotonic)."""
        return time.monotonic() - self.started

    def enter(self) -> None:
        self.received += 1
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def leave(self) -> None:
        self.in_flight -= 1

    def fault(self, kind: str) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + 1

    def usage(self, prompt: int, completion: int) -> None:
        self.prompt_tokens += prompt
        self.completion_tokens += completion

    def record(
        self,
        *,
        path: str,
        status: int | str,
        arrival: float,
        client_request_id: str | None = None,
        digest: str | None = None,
        model: str | None = None,
        attempt: int | None = None,
    ) -> None:
        if isinstance(status, int):
            key = str(status)
            self.by_status[key] = self.by_status.get(key, 0) + 1
            if model is not None:
                per_model = self.by_model.setdefault(model, {})
                per_model[key] = per_model.get(key, 0) + 1
        if self.log_requests:
            self.log.append(
                (round(arrival, 6), path, status, client_request_id, digest, model, attempt)
            )

    def snapshot(self, *, log: bool = True) -> dict[str, Any]:
        """The ``GET /stats`` document."""
        out: dict[str, Any] = {
            "received": self.received,
            "by_status": dict(sorted(self.by_status.items())),
            "faults": dict(self.faults),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "total": self.prompt_tokens + self.completion_tokens,
                "rate_limit_charged": self.charged_tokens,
            },
            "by_model": {m: dict(sorted(c.items())) for m, c in sorted(self.by_model.items())},
            "flex_unavailable": self.flex_unavailable,
            "uptime": round(self.now(), 3),
            "log_requests": self.log_requests,
        }
        if log:
            out["requests"] = [dict(zip(_LOG_FIELDS, entry, strict=True)) for entry in self.log]
        return out
