"""The rate limiter: GCRA cells with an explicit ``now``, and the adaptive limiter on a fake clock.

The fake clock never sleeps for real: ``FakeTime.sleep`` parks the caller on a timer and
``FakeTime.run`` jumps the clock to the earliest timer, so a minute of limiting takes
microseconds and every start time is exact.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from typing import Any

import pytest

from surge import _constants as C
from surge._limits.limiter import AdaptiveLimiter, Cell

START = 1000.0
HEADROOM = C.LIMIT_HEADROOM


class FakeTime:
    """A clock plus a ``sleep`` that advances it; records every sleep."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + seconds, next(self._seq), fut))
        await fut

    async def _settle(self) -> None:
        for _ in range(10):  # let woken tasks run up to their next sleep
            await asyncio.sleep(0)

    async def run(self, *coros: Awaitable[Any]) -> list[Any]:
        tasks = [asyncio.ensure_future(c) for c in coros]
        await self._settle()
        while not all(t.done() for t in tasks):
            assert self._timers, "tasks blocked on something other than the fake clock"
            when, _, fut = heapq.heappop(self._timers)
            if fut.done():  # a sleep that was cancelled (woken early): no time passes
                continue
            self.now = max(self.now, when)
            fut.set_result(None)
            await self._settle()
        return [t.result() for t in tasks]

    def advance(self, seconds: float) -> None:
        assert not self._timers
        self.now += seconds


def make(time: FakeTime, rpm: float | None = None, tpm: float | None = None) -> AdaptiveLimiter:
    return AdaptiveLimiter(rpm=rpm, tpm=tpm, clock=time, sleep=time.sleep)


async def start_times(
    time: FakeTime, limiter: AdaptiveLimiter, n: int, tokens: int = 0
) -> list[float]:
    """``n`` concurrent acquires; the (sorted) times at which each got its slot."""
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire(tokens)
        starts.append(time.now)

    await time.run(*(one() for _ in range(n)))
    return sorted(starts)


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


# -- Cell: pure bookkeeping with an explicit now ---------------------------------------


def test_cell_reserve_spacing_is_one_over_rate() -> None:
    cell = Cell(rate=10.0, burst_seconds=0.0)
    waits = [cell.reserve(1, now=0.0) for _ in range(6)]
    assert waits[0] == 0.0  # an idle cell lets the first one go at once
    assert gaps(waits) == pytest.approx([0.1] * 5)


@pytest.mark.parametrize(
    ("rate", "burst"),
    [(10.0, 0.25), (100.0, 0.25), (1.0, 0.25), (0.5, 0.25), (40.0, 0.5), (10.0, 0.0)],
)
def test_cell_burst_tolerance(rate: float, burst: float) -> None:
    cell = Cell(rate=rate, burst_seconds=burst)
    waits = [cell.reserve(1, now=0.0) for _ in range(int(rate * burst) + 5)]
    immediate = sum(1 for w in waits if w < 1e-9)
    # About burst_seconds of rate goes at once (give or take the unit being reserved)...
    assert int(rate * burst) <= immediate <= int(rate * burst) + 1
    assert immediate >= 1
    # ...and after the burst, one unit per 1/rate.
    assert gaps(waits[immediate:]) == pytest.approx([1 / rate] * (len(waits) - immediate - 1))


def test_cell_idle_time_does_not_accumulate_credit() -> None:
    fresh = Cell(rate=10.0, burst_seconds=0.25)
    expected = [fresh.reserve(1, now=100.0) for _ in range(5)]
    cell = Cell(rate=10.0, burst_seconds=0.25)
    cell.reserve(1, now=0.0)
    assert [cell.reserve(1, now=100.0) for _ in range(5)] == pytest.approx(expected)


@pytest.mark.parametrize(("amount", "wait"), [(1, 0.001), (200, 0.2), (500, 0.5), (3000, 3.0)])
def test_cell_weighted_reservation_pushes_later_ones_back(amount: int, wait: float) -> None:
    cell = Cell(rate=1000.0, burst_seconds=0.0)  # 60k tokens/min
    assert cell.reserve(amount, now=0.0) >= 0.0
    assert cell.reserve(1, now=0.0) == pytest.approx(wait)


@pytest.mark.parametrize(
    ("refund", "wait"),
    [(0, 0.5), (300, 0.2), (500, 0.0), (-200, 0.7)],  # negative: it cost more than reserved
)
def test_cell_refund(refund: int, wait: float) -> None:
    cell = Cell(rate=1000.0, burst_seconds=0.0)
    cell.reserve(500, now=0.0)
    cell.refund(refund)
    assert cell.reserve(1, now=0.0) == pytest.approx(wait, abs=1e-9)


def test_cell_refund_of_idle_cell_grants_no_extra_burst() -> None:
    fresh = Cell(rate=10.0, burst_seconds=0.25)
    expected = [fresh.reserve(1, now=0.0) for _ in range(5)]
    cell = Cell(rate=10.0, burst_seconds=0.25)
    cell.refund(100)
    assert [cell.reserve(1, now=0.0) for _ in range(5)] == pytest.approx(expected)


def test_cell_hold_until_delays_the_schedule() -> None:
    cell = Cell(rate=10.0, burst_seconds=0.0)
    cell.reserve(1, now=0.0)
    cell.hold_until(2.0)
    assert cell.reserve(1, now=0.0) == pytest.approx(2.0)
    assert cell.reserve(1, now=0.0) == pytest.approx(2.1)  # spaced out after the hold


@pytest.mark.parametrize(
    ("units", "available"),
    [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (-5.0, 0.0), (100.0, 3.5)],  # never raises it
)
def test_cell_cap_available(units: float, available: float) -> None:
    cell = Cell(rate=10.0, burst_seconds=0.25)
    cell.cap_available(units, now=5.0)
    assert cell.available(now=5.0) == pytest.approx(available)


def test_cell_cap_available_lets_exactly_that_many_go() -> None:
    for units in (0, 1, 2):
        cell = Cell(rate=10.0, burst_seconds=0.25)
        cell.cap_available(units, now=5.0)
        immediate = sum(1 for _ in range(10) if cell.reserve(1, now=5.0) < 1e-9)
        assert immediate == units, units


def test_cell_set_rate_keeps_backlog_in_units() -> None:
    cell = Cell(rate=10.0, burst_seconds=0.0)
    for _ in range(10):
        cell.reserve(1, now=0.0)  # 10 units booked: tat = 1.0
    cell.set_rate(5.0, now=0.0)
    assert cell.tat == pytest.approx(2.0)  # the same 10 units at the new rate
    assert cell.reserve(1, now=0.0) == pytest.approx(2.0)


def test_cell_set_rate_on_idle_cell() -> None:
    cell = Cell(rate=10.0, burst_seconds=0.0)
    cell.set_rate(1.0, now=50.0)
    assert cell.rate == 1.0
    assert [cell.reserve(1, now=50.0) for _ in range(3)] == pytest.approx([0.0, 1.0, 2.0])


def test_cell_repr_is_per_minute() -> None:
    assert repr(Cell(rate=10.0)) == "Cell(rate=600/min)"


# -- AdaptiveLimiter on a fake clock -------------------------------------------------------


async def test_no_limits_never_sleeps() -> None:
    time = FakeTime()
    limiter = make(time)
    starts = await start_times(time, limiter, 500, tokens=10_000)
    assert time.sleeps == []
    assert starts == [START] * 500
    assert limiter.waits == 0
    assert not limiter.tracks_tokens


@pytest.mark.parametrize("rpm", [60, 600, 6000])
async def test_configured_rpm_spaces_requests(rpm: int) -> None:
    time = FakeTime()
    limiter = make(time, rpm=rpm)
    starts = await start_times(time, limiter, 40)
    spacing = 60.0 / rpm / HEADROOM
    immediate = starts.count(START)
    burst = C.LIMIT_BURST_SECONDS / spacing
    assert 1 <= immediate <= int(burst) + 1  # at most the configured burst at once
    # After the burst, requests come exactly one spacing apart.
    assert gaps(starts[immediate:]) == pytest.approx([spacing] * (40 - immediate - 1))
    assert starts[-1] - START <= 40 * spacing


async def test_tpm_spaces_by_tokens() -> None:
    time = FakeTime()
    limiter = make(time, tpm=60_000)
    assert limiter.tracks_tokens
    starts = await start_times(time, limiter, 10, tokens=100)
    rate = 60_000 / 60 * HEADROOM  # tokens per second
    assert gaps(starts[3:]) == pytest.approx([100 / rate] * 6)


async def test_zero_tokens_skip_the_token_limit() -> None:
    time = FakeTime()
    limiter = make(time, tpm=60)
    await start_times(time, limiter, 20, tokens=0)
    assert time.sleeps == []


async def test_learned_limit_lowers_the_rate() -> None:
    time = FakeTime()
    limiter = make(time, rpm=6000)
    # Little room left, so nothing is granted at once: the learned pace shows alone.
    limiter.observe({"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "1"})
    starts = await start_times(time, limiter, 5)
    assert gaps(starts) == pytest.approx([1 / HEADROOM] * 4)


async def test_learned_limit_above_configured_changes_nothing() -> None:
    time = FakeTime()
    limiter = make(time, rpm=60)
    limiter.observe(
        {"x-ratelimit-limit-requests": "6000", "x-ratelimit-remaining-requests": "5999"}
    )
    starts = await start_times(time, limiter, 5)
    assert gaps(starts) == pytest.approx([1 / HEADROOM] * 4)


async def test_learned_limit_without_configuration_creates_limits() -> None:
    time = FakeTime()
    limiter = make(time)
    limiter.observe({"x-ratelimit-limit-tokens": "6000", "x-ratelimit-remaining-tokens": "100"})
    assert limiter.tracks_tokens
    assert limiter.requests is None
    starts = await start_times(time, limiter, 4, tokens=100)
    assert gaps(starts[1:]) == pytest.approx([1 / HEADROOM] * 2)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-ratelimit-limit-requests": "0", "x-ratelimit-remaining-requests": "0"},
        {"x-ratelimit-limit-requests": "garbage"},
    ],
)
async def test_useless_headers_change_nothing(headers: dict[str, str]) -> None:
    time = FakeTime()
    limiter = make(time)
    limiter.observe(headers)
    assert limiter.requests is None and limiter.tokens is None
    await start_times(time, limiter, 50)
    assert time.sleeps == []


async def test_pause_delays_the_next_acquire() -> None:
    time = FakeTime()
    limiter = make(time)
    limiter.pause(2.5)
    starts = await start_times(time, limiter, 1)
    assert starts == [START + 2.5]
    # Once the pause is over, nothing waits.
    time.sleeps.clear()
    assert await start_times(time, limiter, 3) == [START + 2.5] * 3
    assert time.sleeps == []


async def test_shorter_pause_does_not_cut_a_longer_one() -> None:
    time = FakeTime()
    limiter = make(time)
    limiter.pause(5.0)
    limiter.pause(1.0)
    assert await start_times(time, limiter, 1) == [START + 5.0]


async def test_pause_holds_waiters_already_waiting() -> None:
    time = FakeTime()
    limiter = make(time, rpm=60)  # one per ~1.01 s
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire(0)
        starts.append(time.now)

    async def pauser() -> None:
        await time.sleep(0.5)
        limiter.pause(3.0)  # a 429 at t+0.5: nothing until t+3.5, then spaced out again

    await time.run(one(), one(), one(), pauser())
    spacing = 1 / HEADROOM
    assert sorted(starts) == pytest.approx([START, START + 3.5, START + 3.5 + spacing])


async def test_pause_extended_while_waiting() -> None:
    time = FakeTime()
    limiter = make(time)
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire(0)
        starts.append(time.now)

    async def pauser() -> None:
        await time.sleep(1.0)
        limiter.pause(4.0)  # now paused until START + 5

    limiter.pause(2.0)
    await time.run(one(), pauser())
    assert starts == [pytest.approx(START + 5.0)]


async def test_pause_on_idle_limiter_resumes_at_the_configured_pace() -> None:
    fresh = FakeTime()
    expected = await start_times(fresh, make(fresh, rpm=600), 10)
    time = FakeTime()
    limiter = make(time, rpm=600)
    limiter.pause(5.0)
    starts = await start_times(time, limiter, 10)
    # A pause delays the schedule; it must not compress it.
    assert starts == pytest.approx([t + 5.0 for t in expected])


async def test_settle_refunds_unused_tokens() -> None:
    time = FakeTime()
    limiter = make(time, tpm=60_000)  # ~990 tokens/s
    await start_times(time, limiter, 1, tokens=5_000)
    t0 = time.now
    limiter.settle(reserved=5_000, actual=100)
    assert limiter.in_flight_tokens == 0
    starts = await start_times(time, limiter, 1, tokens=100)
    # With the refund the next request goes (almost) at once, not ~5 s later.
    assert starts[0] - t0 < 0.5


async def test_settle_charges_extra_when_actual_exceeds_reserved() -> None:
    time = FakeTime()
    limiter = make(time, tpm=60_000)
    await start_times(time, limiter, 1, tokens=100)
    limiter.settle(reserved=100, actual=3_100)
    t0 = time.now
    starts = await start_times(time, limiter, 1, tokens=100)
    assert starts[0] - t0 == pytest.approx(3_000 / (1000 * HEADROOM), abs=0.3)


async def test_in_flight_accounting() -> None:
    time = FakeTime()
    limiter = make(time, tpm=60_000)
    await start_times(time, limiter, 3, tokens=10)
    assert (limiter.in_flight, limiter.in_flight_tokens) == (3, 30)
    limiter.release()
    limiter.settle(10, 10)
    assert (limiter.in_flight, limiter.in_flight_tokens) == (2, 20)


async def test_exhausted_requests_quota_holds_the_next_request() -> None:
    time = FakeTime()
    limiter = make(time, rpm=600)
    limiter.observe(
        {
            "x-ratelimit-limit-requests": "600",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "6s",
        }
    )
    starts = await start_times(time, limiter, 3)
    # The server has nothing left: sending at once is a certain 429.
    assert starts[0] > START


async def test_low_remaining_requests_never_speeds_up() -> None:
    relaxed_time = FakeTime()
    relaxed_starts = await start_times(relaxed_time, make(relaxed_time, rpm=600), 5)
    for remaining in ("0", "1", "3", "29"):
        time = FakeTime()
        limiter = make(time, rpm=600)
        limiter.observe(
            {"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": remaining}
        )
        starts = await start_times(time, limiter, 5)
        assert all(s >= r - 1e-9 for s, r in zip(starts, relaxed_starts, strict=True)), remaining


async def test_remaining_far_from_the_edge_is_ignored() -> None:
    fresh_time = FakeTime()
    expected = await start_times(fresh_time, make(fresh_time, rpm=600), 4)
    time = FakeTime()
    limiter = make(time, rpm=600)
    limiter.observe({"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "300"})
    assert await start_times(time, limiter, 4) == pytest.approx(expected)


async def test_low_remaining_tokens_counts_in_flight() -> None:
    time = FakeTime()
    limiter = make(time, tpm=600_000)
    await start_times(time, limiter, 1, tokens=1_000)  # 1000 tokens in flight
    limiter.observe({"x-ratelimit-limit-tokens": "600000", "x-ratelimit-remaining-tokens": "1500"})
    assert limiter.tokens is not None
    # 1500 remain on the server, 1000 of them are ours in flight: at most 500 usable.
    assert limiter.tokens.available(time.now) <= 500 + 1e-6
    t0 = time.now
    await start_times(time, limiter, 1, tokens=600)
    assert time.now > t0


def test_repr_shows_live_state() -> None:
    time = FakeTime()
    limiter = make(time, rpm=600)
    limiter.pause(1.5)
    text = repr(limiter)
    assert "Cell(rate=594/min)" in text
    assert "paused=1.50s" in text
    assert "tokens=None" in text


# -- the server's remaining quota, brought up to date with tickets ------------------------


def _headers(limit: int, remaining: int) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": str(remaining),
    }


async def test_server_room_is_never_spent_at_once() -> None:
    """A provider may enforce its per-minute limit per second: the room is no promise."""
    time = FakeTime()
    limiter = make(time)  # nothing configured: the server's limit governs
    ticket = await limiter.acquire(0)
    limiter.observe(_headers(600, 500), ticket)
    starts = await start_times(time, limiter, 20)
    assert gaps(starts) == pytest.approx([0.1 / HEADROOM] * 19)


async def test_configured_limit_stays_smooth_even_if_the_server_has_room() -> None:
    time = FakeTime()
    limiter = make(time, rpm=600)
    ticket = await limiter.acquire(0)
    limiter.observe(_headers(600, 500), ticket)
    starts = await start_times(time, limiter, 5)
    assert gaps(starts) == pytest.approx([0.1 / HEADROOM] * 4)


async def test_a_late_response_cannot_grant_quota_spent_since() -> None:
    time = FakeTime()
    limiter = make(time)
    old = await limiter.acquire(0)
    for _ in range(50):  # 50 more requests left after `old` was admitted
        await limiter.acquire(0)
    # The server said 60 remained when it admitted `old`: only ~10 are really left,
    # less than the margin, so nothing extra may go at once.
    limiter.observe(_headers(600, 60), old)
    starts = await start_times(time, limiter, 3)
    assert starts[-1] > starts[0]


async def test_without_a_ticket_everything_in_flight_counts_as_unaccounted() -> None:
    time = FakeTime()
    limiter = make(time, rpm=600)
    await start_times(time, limiter, 5)  # 5 in flight
    limiter.observe(_headers(600, 5))
    assert limiter.requests is not None
    assert limiter.requests.available(time.now) == 0.0


async def test_a_429_stops_spending_the_reported_room() -> None:
    time = FakeTime()
    limiter = make(time)
    ticket = await limiter.acquire(0)
    limiter.observe(_headers(600, 500), ticket)
    limiter.pause(1.0)  # the server 429'd despite the room it reported
    [ticket] = await time.run(limiter.acquire(0))
    limiter.observe(_headers(600, 400), ticket)
    starts = await start_times(time, limiter, 5)
    assert gaps(starts) == pytest.approx([0.1 / HEADROOM] * 4)  # paced, no burst


async def test_a_refund_wakes_waiters_early() -> None:
    time = FakeTime()
    limiter = make(time, tpm=60_000)  # ~990 tokens/s
    starts: list[float] = []

    async def first() -> None:
        await limiter.acquire(5_000)  # estimated 5,000 tokens: the next waits ~5 s...
        starts.append(time.now)
        await time.sleep(0.5)
        limiter.settle(reserved=5_000, actual=100)  # ...but it really cost 100

    async def second() -> None:
        await time.sleep(0.1)
        await limiter.acquire(100)
        starts.append(time.now)

    await time.run(first(), second())
    assert starts[1] - START == pytest.approx(0.5)  # woken by the refund, not at ~5 s
