"""Client-side rate limiting: requests/min and tokens/min, adapting to the server.

    limiter = AdaptiveLimiter(rpm=1200, tpm=400_000)
    ticket = await limiter.acquire(tokens=850)  # waits for a slot, no polling
    limiter.observe(response_headers, ticket)   # learn the server's limits and remaining quota
    limiter.answered(ticket, 850)               # an admitted answer (measures, slow start)
    limiter.settle(reserved=850, actual=612)    # correct the token estimate with real usage
    limiter.limited("tokens", ticket)           # a 429 on tokens: slow down in proportion
    limiter.pause(2.5)                          # the server said "retry after 2.5 s"

Each limit is a GCRA ("virtual scheduling") cell: a reservation moves a theoretical
arrival time forward by ``amount / rate``; a waiter sleeps exactly until its slot, so no
task polls. Emission is smooth (a burst of only ``LIMIT_BURST_SECONDS`` of rate): no burst
by default, since a burst is exactly what 429s a server whose quota is already spent or
that enforces its per-minute limit per second. Where whole requests still overflow such a
short window, the one refusal sets the pace below it (:mod:`.control`).

One limiter serves one (endpoint, model): providers limit each model separately, and one
model's queue must not hold another's requests. It sits behind the :class:`RateLimiter`
protocol (``seam.py``) so that a shared (multi-process or cluster) implementation can replace it without
touching the engine; the pace after a 429 is the pure :class:`~.control.RateControl`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

from .. import _constants as C
from .cell import Cell
from .control import RateControl
from .headers import RateLimitSnapshot, parse_headers
from .seam import KINDS, Kind, RateLimiter, Ticket

__all__ = ["AdaptiveLimiter", "Cell", "Kind", "RateLimiter", "Ticket"]

log = logging.getLogger(__name__)

Clock = Callable[[], float]


# "Wait until woken": a request held by the in-flight cap waits for an answer, not a time.
_BLOCKED = 3600.0


class AdaptiveLimiter:
    """RPM and TPM limits of one (endpoint, model), from configuration and from the server.

    The ceiling per resource is the lower of the configured limit and the one the server
    announces (``x-ratelimit-limit-*``), times ``headroom``. A rate-limit 429 lowers the
    pace below it in proportion (:class:`~.control.RateControl`); with no ceiling at all
    (no headers, nothing configured) the first 429 starts a pace from what the server
    admitted over the last second. The server's ``x-ratelimit-remaining-*``, brought up
    to date with what was sent since (see :class:`Ticket`), slows the schedule down when
    less remains than surge believes (another client shares the key); the room it reports
    is never spent at once, since providers enforce per-minute limits over short windows.

    Until a server has said anything (``probe_first``: nothing configured), a first wave
    of ``first_wave`` requests goes alone: a small job is done in one round trip, a big one
    hears the server's limits before its crowd goes. If the answers name no limits, the
    number in flight grows by half a request per answer (by half per round trip, a gentle
    TCP slow start) until a 429 sets a pace or ``max_in_flight`` is reached.
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        headroom: float = C.LIMIT_HEADROOM,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        probe_first: bool = False,
        first_wave: int = C.FIRST_WAVE,
        max_in_flight: int | None = None,
    ) -> None:
        self._configured: dict[str, float | None] = {"requests": rpm, "tokens": tpm}
        self._learned: dict[str, float | None] = {"requests": None, "tokens": None}
        self._controls = {kind: RateControl() for kind in KINDS}
        self._headroom = headroom
        self._clock = clock
        self._sleep = sleep
        self.requests: Cell | None = None
        self.tokens: Cell | None = None
        self._paused_until = 0.0
        self._waiters: deque[asyncio.Event] = deque()
        self._admitted: deque[tuple[float, int]] = deque()  # (answered at, tokens)
        # Slow start: how many may be in flight (None: as many as the pace allows).
        self._window: float | None = float(max(first_wave, 1)) if probe_first else None
        self._max_in_flight = max_in_flight
        self._blind = 0  # requests up to this number left before any pace existed
        self._charged = 0  # ...and up to this one were charged to a limit learned later
        self.in_flight = 0
        self.in_flight_tokens = 0
        self.sent_requests = 0
        self.sent_tokens = 0
        self.waits = 0
        self.token_scale = 1.0  # what the server charges per estimated token
        self._refresh(self._clock())

    # -- the pace --------------------------------------------------------------------
    def ceiling(self, kind: str) -> float | None:
        """The known limit in units per second (configured or announced, with headroom)."""
        values = [v for v in (self._configured[kind], self._learned[kind]) if v]
        return min(values) * self._headroom / 60.0 if values else None

    def _refresh(self, now: float) -> None:
        for kind in KINDS:
            rate = self._controls[kind].rate(now, self.ceiling(kind))
            cell: Cell | None = getattr(self, kind)
            if rate is None or rate <= 0:
                setattr(self, kind, None)
            elif cell is None:
                setattr(self, kind, Cell(rate))
            elif abs(cell.rate - rate) > 1e-4 * rate:
                cell.set_rate(rate, now)

    @property
    def tracks_tokens(self) -> bool:
        """Whether token estimates matter (a TPM limit is configured, announced or found)."""
        return self.tokens is not None

    # -- the hot path --------------------------------------------------------------
    def _cost(self, tokens: int) -> int:
        return math.ceil(tokens * self.token_scale) if tokens > 0 else 0

    def _delay(self, tokens: int, now: float) -> float:
        if self._window is not None and self.in_flight >= self._window:
            return _BLOCKED
        self._refresh(now)
        delay = self._paused_until - now
        if self.requests is not None:
            delay = max(delay, self.requests.wait(1, now))
        if self.tokens is not None and tokens > 0:
            delay = max(delay, self.tokens.wait(self._cost(tokens), now))
        return delay

    def _take(self, tokens: int, now: float, slack: float = 0.0) -> Ticket:
        tokens = self._cost(tokens)
        if self.requests is not None:
            self.requests.reserve(1, now, slack)
        if self.tokens is not None and tokens > 0:
            self.tokens.reserve(tokens, now, slack)
        self.in_flight += 1
        self.in_flight_tokens += tokens
        self.sent_requests += 1
        self.sent_tokens += tokens
        if self.requests is None and self.tokens is None:
            self._blind = self.sent_requests  # sent with no pace at all
        return Ticket(self.sent_requests, self.sent_tokens, now, tokens)

    async def acquire(self, tokens: int) -> Ticket:
        """Wait for this request's turn, then record it as sent.

        ``tokens`` is the request's estimate; it reserves ``tokens * token_scale`` (see
        :meth:`scale_tokens`), scaled as it leaves the queue so that a correction learned
        meanwhile applies to every request still waiting.

        Waiters queue in FIFO order and only the head sleeps: until its computed start, or
        until the schedule changes (a refund, the server's word, a pause, an answer that
        frees an in-flight slot), whichever comes first. Nothing is reserved while
        waiting, so a correction speeds every waiter up at once instead of leaving them
        asleep on stale slots.
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
                        return self._take(tokens, now, C.TIMER_SLACK)  # woken late: no loss
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
        if self._window is not None:
            self._changed()

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
        """Stop every new request of this limiter for ``seconds`` (a 429's Retry-After)."""
        if not seconds > 0:
            return
        now = self._clock()
        until = now + seconds
        if until <= self._paused_until:
            return
        self._paused_until = until
        for cell in (self.requests, self.tokens):
            if cell is not None:
                cell.hold_until(until)
        self._changed()
        log.debug("limiter: paused for %.3fs", seconds)

    # -- learning from the server ----------------------------------------------------
    def answered(self, ticket: Ticket, tokens: int) -> None:
        """The request of ``ticket`` was not refused for its rate (any outcome but a 429)."""
        now = self._clock()
        admitted = self._admitted
        admitted.append((now, tokens))  # answer times: they follow the server's pace
        horizon = now - C.MEASURE_WINDOW
        while admitted and admitted[0][0] < horizon:
            admitted.popleft()
        if self._window is None:
            return
        if self.requests is not None or self.tokens is not None:
            self._window = None  # the server named its limits: the pace rules from now on
        else:
            self._window += C.SLOW_START_GROWTH
            if self._max_in_flight is not None and self._window >= self._max_in_flight:
                self._window = None
        self._changed()

    def limited(self, kind: Kind | None, ticket: Ticket) -> None:
        """The server refused ``ticket``'s request for its rate (``kind``: which limit).

        With no pace at all (nothing configured, announced or found), one refusal alone
        sets none: it may be one request the server keeps refusing (see
        :mod:`.refusals`). A second refusal within ``CORROBORATE_SECONDS`` sets the pace
        from what the server admitted over the last second (:class:`~.control.RateControl`).
        A request that left before any pace existed (the first wave) and is refused under
        a limit known by now cuts nothing: the pace never sent it (a busy key's empty
        quota refuses a first wave; the announced limit, not a cut, is the answer).
        """
        now = self._clock()
        if kind is not None:
            kinds: tuple[Kind, ...] = (kind,)
        else:
            kinds = tuple(k for k in KINDS if getattr(self, k) is not None) or ("requests",)
        horizon = now - C.MEASURE_WINDOW
        recent = [(at, tokens) for at, tokens in self._admitted if at >= horizon]
        hold = 0.0
        blind = ticket.requests <= self._blind
        for k in kinds:
            cell: Cell | None = getattr(self, k)
            if blind and self.ceiling(k) is not None:
                if cell is not None and ticket.requests <= self._charged:
                    cell.refund(1 if k == "requests" else ticket.cost)  # it used no quota
                continue
            if k == "requests":
                measured = len(recent) / C.MEASURE_WINDOW
            else:
                measured = sum(tokens for _, tokens in recent) / C.MEASURE_WINDOW
            cut = self._controls[k].limited(
                now=now,
                current=cell.rate if cell is not None else None,
                measured=measured if self.ceiling(k) is None else None,
                sent=self.sent_requests,
                mark=ticket.requests,
            )
            if cut:
                log.debug("limiter: 429 on %s; pace now %s", k, self._controls[k])
            if cut and cell is None and recent:
                # Nothing was known: take what the server admitted as its quota for one
                # window; send nothing more until the oldest of it has left the window.
                hold = recent[0][0] + C.MEASURE_WINDOW
        self._refresh(now)
        if self.requests is not None or self.tokens is not None:
            self._window = None  # a pace takes over from the slow start
        if hold > now:
            for c in (self.requests, self.tokens):
                if c is not None:
                    c.hold_until(hold)
        self._changed()

    def scale_tokens(self, scale: float) -> None:
        """The server charges ``scale`` tokens per estimated one: reserve that from now on.

        A pace learned from refusals was measured in the old units: it is converted, so
        the pace in the server's units stays the same.
        """
        if scale <= 0 or abs(scale - self.token_scale) <= 1e-4 * self.token_scale:
            return  # nothing worth waking anyone for (the hot path calls this per answer)
        self._controls["tokens"].scale(scale / self.token_scale)
        self.token_scale = scale
        if self.tokens is not None:
            self._refresh(self._clock())
            self._changed()

    def observe(
        self, headers: Mapping[str, str], ticket: Ticket | None = None
    ) -> RateLimitSnapshot | None:
        """Learn limits and remaining quota from a response's headers (returned parsed)."""
        snapshot = parse_headers(headers)
        if snapshot is None:
            return None
        now = self._clock()
        changed = False
        for kind, state in (("requests", snapshot.requests), ("tokens", snapshot.tokens)):
            if state is None or state.limit is None or state.limit <= 0:
                continue
            if self._learned[kind] != state.limit:
                self._learned[kind] = state.limit
                changed = True
        if changed:
            before = (self.requests, self.tokens)
            self._refresh(now)
            self._charge_unpaced(before, ticket, now)
            self._changed()
            log.debug("limiter: server limits rpm=%s tpm=%s", *self._learned.values())
        if now < self._paused_until:
            return snapshot  # a 429 said wait; a stale "remaining" must not undo that
        if ticket is None:  # without one, assume everything in flight is unaccounted
            since_requests, since_tokens = float(self.in_flight), float(self.in_flight_tokens)
            elapsed = 0.0
        else:
            since_requests = self.sent_requests - ticket.requests
            since_tokens = self.sent_tokens - ticket.tokens
            elapsed = max(0.0, now - ticket.at)
        for kind, state, since in (
            ("requests", snapshot.requests, since_requests),
            ("tokens", snapshot.tokens, since_tokens),
        ):
            cell: Cell | None = getattr(self, kind)
            usable = state.usable(elapsed=elapsed, sent_since=since) if state else None
            if cell is not None and usable is not None and usable < cell.available(now):
                log.debug("limiter: server has %.0f %s left; slowing down", usable, kind)
                cell.cap_available(usable, now)
        self._changed()
        return snapshot

    def _charge_unpaced(
        self, before: tuple[Cell | None, Cell | None], ticket: Ticket | None, now: float
    ) -> None:
        """A limit just learned counts what already went without it (the first wave).

        Those requests used the server's current window: the pace starts after them, not
        on top of them (a per-second window would refuse the overlap).
        """
        horizon = now - C.MEASURE_WINDOW
        recent = [tokens for at, tokens in self._admitted if at >= horizon]
        start = ticket.at if ticket is not None else now
        self._charged = self.sent_requests
        for old, kind in zip(before, KINDS, strict=True):
            cell: Cell | None = getattr(self, kind)
            if old is not None or cell is None:
                continue
            if kind == "requests":
                units = float(self.in_flight + len(recent))
            else:
                units = float(self.in_flight_tokens + sum(recent))
            if units > 0:
                cell.reserve(units, start)

    def __repr__(self) -> str:
        paused = max(0.0, self._paused_until - self._clock())
        return (
            f"AdaptiveLimiter(requests={self.requests!r}, tokens={self.tokens!r}, "
            f"in_flight={self.in_flight}, paused={paused:.2f}s)"
        )
