"""Rate limits as providers apply them: pure state machines that take ``now`` as an argument.

Example::

    limits = RateLimits.build(rpm=600, tpm=None, mode="rolling", window_seconds=60, now=0.0)
    rejection = limits.admit(tokens=120, now=0.5)   # None: admitted, quota consumed
    headers = limits.headers(now=0.5)                # x-ratelimit-* as OpenAI sends them
    format_duration(90.5)                            # "1m30.5s"

Three algorithms: :class:`TokenBucket` (capacity = limit, refilled continuously at
limit/60 per second, what OpenAI calls a rolling limit), :class:`SlidingWindow` (a log of
what was admitted during the last ``window_seconds``) and :class:`QuantizedWindow` (the
per-minute limit enforced per short fixed window, "60,000 RPM enforced as 1,000 per
second", while the headers show the per-minute bucket). Nothing here reads a clock or does
I/O, so tests drive them with plain numbers.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol

LimitKind = Literal["requests", "tokens"]


def format_duration(seconds: float) -> str:
    """Format a duration like OpenAI's ``x-ratelimit-reset-*`` headers (Go style).

    Example::

        >>> [format_duration(s) for s in (0, 0.006, 1, 1.5, 360, 90.5, 3725)]
        ['0s', '6ms', '1s', '1.5s', '6m0s', '1m30.5s', '1h2m5s']

    Sub-second values are rounded up to whole milliseconds, so a client that waits the
    announced time never arrives early.
    """
    if seconds <= 0:
        return "0s"
    ms = math.ceil(seconds * 1000 - 1e-6)
    if ms < 1000:
        return f"{ms}ms"
    hours, rest_ms = divmod(ms, 3_600_000)
    minutes, rest_ms = divmod(rest_ms, 60_000)
    secs = f"{rest_ms / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


class Limiter(Protocol):
    """What :class:`RateLimits` needs from one limit (requests or tokens)."""

    limit: int

    def wait_for(self, amount: float, now: float) -> float: ...
    def take(self, amount: float, now: float) -> None: ...
    def remaining(self, now: float) -> float: ...
    def reset_after(self, now: float) -> float: ...


class TokenBucket:
    """A bucket of ``limit`` units refilled at ``limit / period`` per second.

    Example::

        bucket = TokenBucket(600, now=0.0)        # 600/min -> 10 per second
        bucket.take(600, now=0.0)
        bucket.wait_for(1, now=0.0)               # 0.1: one unit is back after 100 ms
    """

    def __init__(self, limit: int, *, now: float, period: float = 60.0) -> None:
        self.limit = limit
        self.rate = limit / period
        self._level = float(limit)
        self._last = now

    def __repr__(self) -> str:
        return f"TokenBucket(limit={self.limit}, level={self._level:.2f}, rate={self.rate:.3f}/s)"

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._level = min(float(self.limit), self._level + (now - self._last) * self.rate)
            self._last = now

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` fits (0 if it fits now, inf if it never can)."""
        if amount > self.limit:
            return math.inf
        self._refill(now)
        missing = amount - self._level
        return 0.0 if missing <= 1e-9 else missing / self.rate

    def take(self, amount: float, now: float) -> None:
        self._refill(now)
        self._level -= amount

    def remaining(self, now: float) -> float:
        self._refill(now)
        return max(self._level, 0.0)

    def reset_after(self, now: float) -> float:
        """Seconds until the bucket is full again."""
        self._refill(now)
        return (self.limit - self._level) / self.rate


class SlidingWindow:
    """At most ``limit`` units admitted in any ``window`` seconds (a sliding log).

    Example::

        win = SlidingWindow(10, window=1.0, now=0.0)
        for _ in range(10):
            win.take(1, now=0.0)
        win.wait_for(1, now=0.25)                 # 0.75: the oldest entry leaves at t=1.0
    """

    def __init__(self, limit: int, *, window: float, now: float = 0.0) -> None:
        self.limit = limit
        self.window = window
        self._log: deque[tuple[float, float]] = deque()
        self._total = 0.0

    def __repr__(self) -> str:
        return f"SlidingWindow(limit={self.limit}, used={self._total:g}, window={self.window}s)"

    def _expire(self, now: float) -> None:
        log = self._log
        horizon = now - self.window
        while log and log[0][0] <= horizon:
            self._total -= log.popleft()[1]

    def wait_for(self, amount: float, now: float) -> float:
        if amount > self.limit:
            return math.inf
        self._expire(now)
        excess = self._total + amount - self.limit
        if excess <= 1e-9:
            return 0.0
        freed = 0.0
        for stamp, used in self._log:
            freed += used
            if freed >= excess - 1e-9:
                return stamp + self.window - now
        return self.window  # unreachable: the whole log frees everything

    def take(self, amount: float, now: float) -> None:
        self._expire(now)
        self._log.append((now, amount))
        self._total += amount

    def remaining(self, now: float) -> float:
        self._expire(now)
        return max(self.limit - self._total, 0.0)

    def reset_after(self, now: float) -> float:
        self._expire(now)
        return self._log[-1][0] + self.window - now if self._log else 0.0


class QuantizedWindow:
    """A per-minute ``limit`` enforced per fixed window of ``quantum`` seconds.

    Example::

        q = QuantizedWindow(1200, quantum=1.0, now=0.0)   # at most 20 per second
        for _ in range(20):
            q.take(1, now=0.5)
        q.wait_for(1, now=0.5)                 # 0.5: the next window starts at t=1.0
        q.remaining(now=0.5)                   # ~1180: the per-minute view has room

    Windows are aligned to multiples of ``quantum`` on the server's clock. A request larger
    than one window's share still fits an empty window (it would never fit otherwise).
    ``remaining``/``reset_after`` describe a token bucket fed the same admissions: the
    per-minute picture a provider's headers give, which is no promise for this second.
    """

    def __init__(self, limit: int, *, quantum: float, now: float, period: float = 60.0) -> None:
        self.limit = limit
        self.quantum = quantum
        self.capacity = limit * quantum / period
        self._window = math.floor(now / quantum)
        self._used = 0.0
        self._view = TokenBucket(limit, now=now, period=period)

    def __repr__(self) -> str:
        return (
            f"QuantizedWindow(limit={self.limit}, used={self._used:g}/{self.capacity:g} "
            f"per {self.quantum}s)"
        )

    def _roll(self, now: float) -> None:
        window = math.floor(now / self.quantum)
        if window != self._window:
            self._window = window
            self._used = 0.0

    def wait_for(self, amount: float, now: float) -> float:
        if amount > self.limit:
            return math.inf
        self._roll(now)
        if self._used + amount <= self.capacity + 1e-9 or self._used == 0.0:
            return 0.0
        return (self._window + 1) * self.quantum - now

    def take(self, amount: float, now: float) -> None:
        self._roll(now)
        self._used += amount
        self._view.take(amount, now)

    def remaining(self, now: float) -> float:
        return self._view.remaining(now)

    def reset_after(self, now: float) -> float:
        return self._view.reset_after(now)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request got a 429: which limit, and when it would fit."""

    kind: LimitKind
    wait: float  # seconds; inf when the request is larger than the limit itself
    limit: int
    used: int
    requested: int


class RateLimits:
    """The requests and tokens limits of one server, checked and consumed together.

    Example::

        limits = RateLimits.build(rpm=60, tpm=1000, mode="window", window_seconds=60, now=0)
        limits.admit(tokens=10, now=0.0)   # None
    """

    def __init__(self, requests: Limiter | None, tokens: Limiter | None) -> None:
        self.requests = requests
        self.tokens = tokens

    @classmethod
    def build(
        cls,
        *,
        rpm: int | None,
        tpm: int | None,
        mode: str,
        window_seconds: float,
        now: float,
        quantum: float = 0.0,
    ) -> RateLimits:
        def make(limit: int | None) -> Limiter | None:
            if limit is None:
                return None
            if quantum > 0:
                return QuantizedWindow(limit, quantum=quantum, now=now)
            if mode == "window":
                return SlidingWindow(limit, window=window_seconds, now=now)
            return TokenBucket(limit, now=now)

        return cls(make(rpm), make(tpm))

    @property
    def active(self) -> bool:
        return self.requests is not None or self.tokens is not None

    def admit(self, tokens: int, now: float) -> Rejection | None:
        """Consume one request and ``tokens`` tokens, or say why not (consuming nothing)."""
        wait_r = self.requests.wait_for(1, now) if self.requests else 0.0
        wait_t = self.tokens.wait_for(tokens, now) if self.tokens else 0.0
        if wait_r <= 0.0 and wait_t <= 0.0:
            if self.requests:
                self.requests.take(1, now)
            if self.tokens:
                self.tokens.take(tokens, now)
            return None
        # Report the limit that keeps the request out longest: waiting that long suffices.
        if wait_t > wait_r and self.tokens is not None:
            lim, kind, requested, wait = self.tokens, "tokens", tokens, wait_t
        else:
            assert self.requests is not None
            lim, kind, requested, wait = self.requests, "requests", 1, wait_r
        used = round(lim.limit - lim.remaining(now))
        return Rejection(kind, wait, lim.limit, used, requested)  # type: ignore[arg-type]

    def headers(self, now: float) -> dict[str, str]:
        """``x-ratelimit-*`` headers for the limits that are configured."""
        out: dict[str, str] = {}
        for kind, lim in (("requests", self.requests), ("tokens", self.tokens)):
            if lim is None:
                continue
            out[f"x-ratelimit-limit-{kind}"] = str(lim.limit)
            out[f"x-ratelimit-remaining-{kind}"] = str(math.floor(lim.remaining(now)))
            out[f"x-ratelimit-reset-{kind}"] = format_duration(lim.reset_after(now))
        return out
