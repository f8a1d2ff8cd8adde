"""Client-side rate limiting: requests/min and tokens/min, adapting to the server.

    limiter = AdaptiveLimiter(rpm=1200, tpm=400_000)
    await limiter.acquire(tokens=850)          # waits for a slot, no polling
    limiter.observe(response_headers)          # learn the server's limits and remaining quota
    limiter.settle(reserved=850, actual=612)   # correct the token estimate with real usage
    limiter.pause(2.5)                         # a 429 said "retry after 2.5 s": everyone waits

Each limit is a GCRA ("virtual scheduling") cell: a reservation moves a theoretical
arrival time forward by ``amount / rate``; a waiter sleeps exactly until its slot, so no
task polls. Emission is smooth (a burst of only ``LIMIT_BURST_SECONDS`` of rate), which
every server-side algorithm accepts: token buckets, rolling windows, per-second quanta.
(No burst by default: a burst is exactly what 429s a server whose quota is already spent.)

The limiter sits behind the :class:`RateLimiter` protocol so that a shared (multi-process
or cluster) implementation can replace it without touching the engine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from . import _constants as C
from .ratelimit_headers import LimitState, parse_headers

__all__ = ["AdaptiveLimiter", "Cell", "RateLimiter"]

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class RateLimiter(Protocol):
    """The seam between the engine and any limiter implementation."""

    async def acquire(self, tokens: int) -> None: ...

    def observe(self, headers: Mapping[str, str]) -> None: ...

    def settle(self, reserved: int, actual: int, *, refused: bool = False) -> None: ...

    def pause(self, seconds: float) -> None: ...

    def release(self) -> None: ...


class Cell:
    """One GCRA limit: ``rate`` units per second with a small burst allowance.

    Pure bookkeeping with an explicit ``now``: ``reserve`` returns how long the caller must
    wait (0 when it may go at once) and records the reservation.
    """

    __slots__ = ("burst", "rate", "tat")

    def __init__(self, rate: float, burst_seconds: float = C.LIMIT_BURST_SECONDS) -> None:
        self.rate = rate  # units per second
        self.burst = burst_seconds
        self.tat = 0.0  # theoretical arrival time of the next unit

    def tolerance(self) -> float:
        return self.burst

    def reserve(self, amount: float, now: float) -> float:
        # "Pay after": a request may start once the previous ones are paid for, then its
        # own cost pushes the next slot back. So the first request never waits for its
        # own tokens, and a large request delays the ones after it, not itself.
        start = max(self.tat, now)
        self.tat = start + amount / self.rate
        return max(0.0, start - self.tolerance() - now)

    def refund(self, amount: float) -> None:
        self.tat -= amount / self.rate

    def shift(self, seconds: float) -> None:
        self.tat += seconds

    def available(self, now: float) -> float:
        """Units that could be reserved right now without waiting."""
        return max(0.0, (now + self.tolerance() - max(self.tat, now)) * self.rate)

    def cap_available(self, units: float, now: float) -> None:
        """Make sure no more than ``units`` can go before the cell refills."""
        # Only ever later: moving the slot earlier would let queued waiters jump ahead.
        self.tat = max(self.tat, now + self.tolerance() - units / self.rate)

    def set_rate(self, rate: float, now: float) -> None:
        if rate == self.rate:
            return
        # Keep the backlog measured in units, not seconds, across the change.
        backlog_units = max(self.tat - now, 0.0) * self.rate
        self.rate = rate
        self.tat = now + backlog_units / rate if backlog_units else self.tat

    def __repr__(self) -> str:
        return f"Cell(rate={self.rate * 60:.0f}/min)"


class AdaptiveLimiter:
    """RPM and TPM limits, from configuration and from the server's headers.

    The effective limit per resource is the lower of the configured one and the one the
    server announces (``x-ratelimit-limit-*``), times ``headroom``. When the server says
    fewer units remain than surge believes it has (another client shares the key, or the
    server counts differently), surge takes the server's word. A 429 pauses everyone.
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        headroom: float = C.LIMIT_HEADROOM,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._configured = {"requests": rpm, "tokens": tpm}
        self._learned: dict[str, float | None] = {"requests": None, "tokens": None}
        self._headroom = headroom
        self._clock = clock
        self._sleep = sleep
        self.requests: Cell | None = None
        self.tokens: Cell | None = None
        self._paused_until = 0.0
        self._shift_total = 0.0  # sum of all pause extensions, for waiters already sleeping
        self.in_flight = 0
        self.in_flight_tokens = 0
        self.waits = 0
        self._apply_limits(self._clock())

    # -- configuration -------------------------------------------------------------
    def _effective(self, kind: str) -> float | None:
        values = [v for v in (self._configured[kind], self._learned[kind]) if v]
        return min(values) * self._headroom if values else None

    def _apply_limits(self, now: float) -> None:
        for kind in ("requests", "tokens"):
            per_minute = self._effective(kind)
            cell: Cell | None = getattr(self, kind)
            if per_minute is None:
                setattr(self, kind, None)
            elif cell is None:
                setattr(self, kind, Cell(per_minute / 60.0))
            else:
                cell.set_rate(per_minute / 60.0, now)

    @property
    def tracks_tokens(self) -> bool:
        """Whether token estimates matter (a TPM limit is configured or was announced)."""
        return self.tokens is not None

    # -- the hot path --------------------------------------------------------------
    async def acquire(self, tokens: int) -> None:
        now = self._clock()
        delay = 0.0
        if self.requests is not None:
            delay = self.requests.reserve(1, now)
        if self.tokens is not None and tokens > 0:
            delay = max(delay, self.tokens.reserve(tokens, now))
        if now < self._paused_until:
            delay = max(delay, self._paused_until - now)
        if delay > 0:
            self.waits += 1
            log.debug("limiter: waiting %.3fs (tokens=%d)", delay, tokens)
            seen_shift = self._shift_total
            await self._sleep(delay)
            # A pause that began while we slept pushes our slot back by as much.
            while self._shift_total > seen_shift or self._clock() < self._paused_until:
                extra = self._shift_total - seen_shift
                seen_shift = self._shift_total
                wait = max(extra, self._paused_until - self._clock())
                if wait > 0:
                    await self._sleep(wait)
        self.in_flight += 1
        self.in_flight_tokens += tokens

    def release(self) -> None:
        """The attempt holding a slot has its answer (or failed)."""
        self.in_flight -= 1

    def settle(self, reserved: int, actual: int, *, refused: bool = False) -> None:
        """Replace a token reservation with the real cost once usage is known.

        ``refused``: the server turned the request away (429) without counting it, so its
        request slot is handed back too; otherwise every refusal would leave a hole in
        the schedule and a burst of 429s would cost seconds of idle quota.
        """
        self.in_flight_tokens -= reserved
        if self.tokens is not None and actual != reserved:
            self.tokens.refund(reserved - actual)
        if refused and self.requests is not None:
            self.requests.refund(1)

    def pause(self, seconds: float) -> None:
        """Stop every new request for ``seconds`` (a 429 with Retry-After)."""
        now = self._clock()
        until = now + seconds
        if until <= self._paused_until:
            return
        extension = until - max(self._paused_until, now)
        self._paused_until = until
        self._shift_total += extension
        for cell in (self.requests, self.tokens):
            if cell is not None:
                cell.shift(extension)
        log.debug("limiter: paused for %.3fs", seconds)

    # -- learning from the server ----------------------------------------------------
    def observe(self, headers: Mapping[str, str]) -> None:
        snapshot = parse_headers(headers)
        if snapshot is None:
            return
        now = self._clock()
        changed = False
        for kind, state in (("requests", snapshot.requests), ("tokens", snapshot.tokens)):
            if state is None or state.limit is None or state.limit <= 0:
                continue
            if self._learned[kind] != state.limit:
                self._learned[kind] = state.limit
                changed = True
        if changed:
            self._apply_limits(now)
            log.debug("limiter: server limits rpm=%s tpm=%s", *self._learned.values())
        self._sync_remaining(self.requests, snapshot.requests, self.in_flight, now)
        self._sync_remaining(self.tokens, snapshot.tokens, self.in_flight_tokens, now)

    def _sync_remaining(
        self, cell: Cell | None, state: LimitState | None, in_flight: float, now: float
    ) -> None:
        if cell is None or state is None or state.remaining is None or state.limit is None:
            return
        # Only a low remaining quota matters; far from the edge, the local rate governs.
        if state.remaining > max(state.limit * C.LOW_REMAINING_FRACTION, in_flight + 1):
            return
        usable = state.remaining - in_flight
        if usable < cell.available(now):
            log.debug("limiter: server reports %.0f remaining; slowing down", state.remaining)
            cell.cap_available(usable, now)

    def __repr__(self) -> str:
        paused = max(0.0, self._paused_until - self._clock())
        return (
            f"AdaptiveLimiter(requests={self.requests!r}, tokens={self.tokens!r}, "
            f"in_flight={self.in_flight}, paused={paused:.2f}s)"
        )
