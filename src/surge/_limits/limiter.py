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
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .. import _constants as C
from .headers import LimitState, parse_headers

__all__ = ["AdaptiveLimiter", "Cell", "RateLimiter", "Ticket"]

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Ticket:
    """What had been sent when a request left (its own cost included).

    A response's ``x-ratelimit-remaining-*`` counts everything the server admitted up to
    that request; what was sent *after* it is ``sent_now - ticket``, so the server's
    figure can be brought up to date exactly, however late the response arrives.
    """

    requests: int = 0
    tokens: int = 0
    at: float = 0.0  # when the request left (the limiter's clock)


class RateLimiter(Protocol):
    """The seam between the engine and any limiter implementation."""

    async def acquire(self, tokens: int) -> Ticket: ...

    def observe(self, headers: Mapping[str, str], ticket: Ticket | None = None) -> None: ...

    def settle(self, reserved: int, actual: int, *, refused: bool = False) -> None: ...

    def pause(self, seconds: float) -> None: ...

    def release(self) -> None: ...


class Cell:
    """One GCRA limit: ``rate`` units per second, plus credit the server vouched for.

    Pure bookkeeping with an explicit ``now``: ``reserve`` returns how long the caller must
    wait (0 when it may go at once) and records the reservation. ``credit`` is room the
    server reported on top of the schedule (see :meth:`grant`); it is spent first.
    """

    __slots__ = ("burst", "credit", "rate", "tat")

    def __init__(self, rate: float, burst_seconds: float = C.LIMIT_BURST_SECONDS) -> None:
        self.rate = rate  # units per second
        self.burst = burst_seconds
        self.tat = 0.0  # theoretical arrival time of the next unit
        self.credit = 0.0  # units that may start at once, beyond the schedule

    def tolerance(self) -> float:
        return self.burst

    def wait(self, amount: float, now: float) -> float:
        """How long a request of ``amount`` would wait if it asked now (nothing recorded)."""
        if self.credit > 0:
            return 0.0
        return max(0.0, max(self.tat, now) - self.tolerance() - now)

    def reserve(self, amount: float, now: float) -> float:
        if self.credit > 0:
            if self.credit >= amount:
                self.credit -= amount
                return 0.0
            amount -= self.credit  # the rest is paid on the schedule, after the fact
            self.credit = 0.0
            self.tat = max(self.tat, now) + amount / self.rate
            return 0.0
        # "Pay after": a request may start once the previous ones are paid for, then its
        # own cost pushes the next slot back. So the first request never waits for its
        # own tokens, and a large request delays the ones after it, not itself.
        start = max(self.tat, now)
        self.tat = start + amount / self.rate
        return max(0.0, start - self.tolerance() - now)

    def refund(self, amount: float) -> None:
        self.tat -= amount / self.rate

    def hold_until(self, until: float) -> None:
        """Nothing starts before ``until``; after it, the schedule goes on spaced out."""
        self.tat = max(self.tat, until + self.tolerance())

    def _scheduled(self, now: float) -> float:
        """Units the schedule alone lets start now (the credit aside)."""
        if self.tat - self.tolerance() > now:
            return 0.0
        return 1.0 + (now + self.tolerance() - max(self.tat, now)) * self.rate

    def available(self, now: float) -> float:
        """Units that could start right now without waiting."""
        return self.credit + self._scheduled(now)

    def cap_available(self, units: float, now: float) -> None:
        """At most ``units`` may start before the cell refills (0: the next one waits)."""
        if units >= self.available(now):
            return
        if units < 1:
            self.credit = 0.0
            # Only ever later: moving the slot earlier would let queued waiters jump ahead.
            self.tat = max(self.tat, now + self.tolerance() + (1.0 - units) / self.rate)
            return
        self.tat = max(self.tat, now + self.tolerance() - (units - 1.0) / self.rate)
        self.credit = max(0.0, min(self.credit, units - self._scheduled(now)))

    def grant(self, units: float, now: float) -> None:
        """Let up to ``units`` start at once (the server says it has that much room)."""
        self.credit = max(self.credit, units - self._scheduled(now))

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
    server announces (``x-ratelimit-limit-*``), times ``headroom``. The server's
    ``x-ratelimit-remaining-*``, brought up to date with what was sent since (see
    :class:`Ticket`), then adjusts the schedule both ways: when less remains than surge
    believes (another client shares the key, the server counts differently) surge slows
    down; when the limit is the server's (not configured) and more remains, surge may use
    it at once, as the server allows, instead of trickling it out, until the first 429
    (a server that enforces its limit in shorter quanta). A 429 pauses everyone.
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
        self._waiters: deque[asyncio.Event] = deque()
        self.in_flight = 0
        self.in_flight_tokens = 0
        self.sent_requests = 0
        self.sent_tokens = 0
        self._use_reported_room = True
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
    def _delay(self, tokens: int, now: float) -> float:
        delay = self._paused_until - now
        if self.requests is not None:
            delay = max(delay, self.requests.wait(1, now))
        if self.tokens is not None and tokens > 0:
            delay = max(delay, self.tokens.wait(tokens, now))
        return delay

    def _take(self, tokens: int, now: float) -> Ticket:
        if self.requests is not None:
            self.requests.reserve(1, now)
        if self.tokens is not None and tokens > 0:
            self.tokens.reserve(tokens, now)
        self.in_flight += 1
        self.in_flight_tokens += tokens
        self.sent_requests += 1
        self.sent_tokens += tokens
        return Ticket(self.sent_requests, self.sent_tokens, now)

    async def acquire(self, tokens: int) -> Ticket:
        """Wait for this request's turn, then record it as sent.

        Waiters queue in FIFO order and only the head sleeps: until its computed start, or
        until the schedule changes (a refund, the server's word, a pause), whichever comes
        first. Nothing is reserved while waiting, so a correction (real usage far below
        the estimate) speeds every waiter up at once instead of leaving them asleep on
        stale slots.
        """
        if not self._waiters and self._delay(tokens, self._clock()) <= 0:
            return self._take(tokens, self._clock())
        self.waits += 1
        me = asyncio.Event()
        self._waiters.append(me)
        try:
            while True:
                if self._waiters[0] is me:
                    now = self._clock()
                    delay = self._delay(tokens, now)
                    if delay <= 0:
                        return self._take(tokens, now)
                    log.debug("limiter: waiting %.3fs (tokens=%d)", delay, tokens)
                    await self._sleep_or_wake(me, delay)
                else:
                    await me.wait()
                    me.clear()
        finally:
            self._waiters.remove(me)
            if self._waiters:
                self._waiters[0].set()  # the next in line re-checks at once

    async def _sleep_or_wake(self, me: asyncio.Event, delay: float) -> None:
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waker = asyncio.ensure_future(me.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
            me.clear()

    def _changed(self) -> None:
        """The schedule moved: the head of the queue recomputes its wait."""
        if self._waiters:
            self._waiters[0].set()

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
            self._changed()
        if refused and self.requests is not None:
            self.requests.refund(1)
            self._changed()

    def pause(self, seconds: float) -> None:
        """Stop every new request for ``seconds`` (a 429 with Retry-After)."""
        if not seconds > 0:
            return
        now = self._clock()
        until = now + seconds
        if until <= self._paused_until:
            return
        self._paused_until = until
        # A server that 429s may enforce its per-minute limit per second ("quantised"):
        # the room it reports is then no promise, so surge stops spending it at once.
        self._use_reported_room = False
        for cell in (self.requests, self.tokens):
            if cell is not None:
                cell.hold_until(until)
                cell.credit = 0.0
        self._changed()
        log.debug("limiter: paused for %.3fs", seconds)

    # -- learning from the server ----------------------------------------------------
    def observe(self, headers: Mapping[str, str], ticket: Ticket | None = None) -> None:
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
            self._changed()
            log.debug("limiter: server limits rpm=%s tpm=%s", *self._learned.values())
        if now < self._paused_until:
            return  # a 429 said wait; a stale "remaining" must not undo that
        if ticket is None:  # without one, assume everything in flight is unaccounted
            since_requests, since_tokens = float(self.in_flight), float(self.in_flight_tokens)
            elapsed = 0.0
        else:
            since_requests = self.sent_requests - ticket.requests
            since_tokens = self.sent_tokens - ticket.tokens
            elapsed = max(0.0, now - ticket.at)
        self._sync("requests", self.requests, snapshot.requests, since_requests, elapsed, now)
        self._sync("tokens", self.tokens, snapshot.tokens, since_tokens, elapsed, now)
        self._changed()

    def _server_governs(self, kind: str) -> bool:
        # A configured limit is the user's word for the pace they want: keep it smooth.
        configured = self._configured[kind]
        learned = self._learned[kind]
        return learned is not None and (configured is None or learned < configured)

    def _sync(
        self,
        kind: str,
        cell: Cell | None,
        state: LimitState | None,
        sent_since: float,
        elapsed: float,
        now: float,
    ) -> None:
        if cell is None or state is None or state.remaining is None or state.limit is None:
            return
        # x-ratelimit-reset-* is deliberately not used to hold requests: for the token
        # buckets providers run, "reset" is the time to refill *completely*, while the next
        # unit is back after one spacing, which the cell already enforces. Fixed-window
        # servers are covered by the 429 + Retry-After pause instead.
        # The server's figure dates from when that request arrived: since then it has
        # refilled (limit/60 per second, as buckets do) and admitted what we sent after.
        usable = state.remaining + elapsed * state.limit / 60.0 - sent_since
        available = cell.available(now)
        if usable < available:
            log.debug("limiter: server has %.0f %s left; slowing down", usable, kind)
            cell.cap_available(usable, now)
        elif self._use_reported_room and self._server_governs(kind):
            # Keep a margin for what the server counts differently (token estimates,
            # other clients); spend the rest now rather than trickle it out.
            spare = usable - state.limit * C.REMAINING_MARGIN
            if spare > available:
                cell.grant(spare, now)

    def __repr__(self) -> str:
        paused = max(0.0, self._paused_until - self._clock())
        return (
            f"AdaptiveLimiter(requests={self.requests!r}, tokens={self.tokens!r}, "
            f"in_flight={self.in_flight}, paused={paused:.2f}s)"
        )
