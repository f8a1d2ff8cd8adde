"""The gate on a fake clock: one limiter per (endpoint, model), what 429s and headers teach,
a first wave and slow start when nothing is known, a refused request vs a refused rate."""

from __future__ import annotations

import pytest

from surge import _constants as C
from surge._limits.gate import FLEX_UNAVAILABLE, Lease, LocalGate
from surge._limits.limiter import AdaptiveLimiter
from surge.config import Limits
from surge.models import Request
from test_limiter import START, FakeTime, gaps

URL = "/v1/chat/completions"


def request(model: str, text: str = "x" * 400, max_tokens: int = 100) -> Request:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    body["max_tokens"] = max_tokens  # type: ignore[assignment]
    return Request(custom_id=f"{model}-{text[:3]}", body=body, url=URL)


def make_gate(time: FakeTime, limits: Limits) -> LocalGate:
    def factory(key: tuple[str, str]) -> AdaptiveLimiter:
        return AdaptiveLimiter(
            rpm=limits.rpm,
            tpm=limits.tpm,
            clock=time,
            sleep=time.sleep,
            probe_first=limits.rpm is None and limits.tpm is None,
            max_in_flight=limits.concurrency,
        )

    return LocalGate(limits, limiter_factory=factory)


def limiter_of(gate: LocalGate, model: str) -> AdaptiveLimiter:
    limiter = gate.state((URL, model)).limiter
    assert isinstance(limiter, AdaptiveLimiter)
    return limiter


async def test_each_model_has_its_own_limiter_and_learns_its_own_headers() -> None:
    time = FakeTime()
    gate = make_gate(time, Limits(rpm=6000))
    a, b = request("a"), request("b")
    lease_a = await gate.acquire(a, a.body)
    lease_b = await gate.acquire(b, b.body)
    gate.complete(lease_a, status=200, headers={"x-ratelimit-limit-requests": "60"}, body={})
    gate.complete(lease_b, status=200, headers={"x-ratelimit-limit-requests": "600"}, body={})
    assert limiter_of(gate, "a").ceiling("requests") == pytest.approx(1.0 * C.LIMIT_HEADROOM)
    assert limiter_of(gate, "b").ceiling("requests") == pytest.approx(10.0 * C.LIMIT_HEADROOM)


async def test_a_waiting_model_does_not_hold_another() -> None:
    time = FakeTime()
    gate = make_gate(time, Limits(rpm=60))  # one per second, per model
    starts: dict[str, list[float]] = {"a": [], "b": []}

    async def send(model: str) -> None:
        r = request(model)
        await gate.acquire(r, r.body)
        starts[model].append(time.now)

    await time.run(*(send("a") for _ in range(3)), *(send("b") for _ in range(3)))
    # Interleaved in one FIFO, b would wait behind a's queue; here both run side by side.
    assert starts["a"] == pytest.approx([START, START + 1 / C.LIMIT_HEADROOM, START + 2 / 0.99])
    assert starts["b"] == pytest.approx(starts["a"])


async def test_a_429_cuts_the_pace_and_a_flex_429_does_not() -> None:
    time = FakeTime()
    gate = make_gate(time, Limits(rpm=600))
    r = request("m")
    lease = await gate.acquire(r, r.body)
    flex = {"error": {"code": FLEX_UNAVAILABLE, "type": "resource_unavailable", "message": ""}}
    gate.complete(lease, status=429, headers={}, body=flex, error_code=FLEX_UNAVAILABLE)
    cell = limiter_of(gate, "m").requests
    assert cell is not None and cell.rate == pytest.approx(10 * C.LIMIT_HEADROOM)
    lease = await gate.acquire(r, r.body)
    limited = {"error": {"code": "rate_limit_exceeded", "type": "requests", "message": ""}}
    gate.complete(lease, status=429, headers={}, body=limited, error_code="rate_limit_exceeded")
    assert cell.rate == pytest.approx(10 * C.LIMIT_HEADROOM * C.DECREASE)


async def test_token_estimates_are_scaled_by_what_the_server_charges() -> None:
    """The server charges 1.3x surge's estimate: its remaining-tokens readings say so."""
    time = FakeTime()
    limit = 600_000  # 10,000 per second
    gate = make_gate(time, Limits(tpm=limit))
    charged = 0.0
    reserved = []
    for _ in range(60):
        r = request("m")
        [lease] = await time.run(gate.acquire(r, r.body))
        reserved.append(lease.tokens)
        charged += lease.estimate * 1.3  # what the server charged this one
        refilled = (time.now - START) * limit / 60
        headers = {
            "x-ratelimit-limit-tokens": str(limit),
            "x-ratelimit-remaining-tokens": str(int(limit / 2 - charged + refilled)),
        }
        gate.complete(lease, status=200, headers=headers, body={"usage": {}})
    estimate = 100 + 100  # 400 characters / 4 + max_tokens
    assert reserved[0] == estimate
    assert reserved[-1] == pytest.approx(estimate * 1.3, rel=0.02)


async def test_usage_corrects_the_estimate_when_the_server_sends_no_token_headers() -> None:
    time = FakeTime()
    gate = make_gate(time, Limits(tpm=600_000))
    reserved = []
    for _ in range(150):
        r = request("m")
        [lease] = await time.run(gate.acquire(r, r.body))
        reserved.append(lease.tokens)
        usage = {"usage": {"prompt_tokens": 60, "completion_tokens": 5}}
        gate.complete(lease, status=200, headers={}, body=usage)
    assert reserved[0] == 200
    # The server (by usage) charges 60 + max_tokens 100 = 160 per request.
    assert reserved[-1] == pytest.approx(160, rel=0.03)


async def test_a_first_wave_then_slow_start_when_the_server_says_nothing() -> None:
    time = FakeTime()
    gate = make_gate(time, Limits(concurrency=50))
    limiter = limiter_of(gate, "m")
    r = request("m")
    wave = [await gate.acquire(r, r.body) for _ in range(C.FIRST_WAVE)]
    assert time.now == START  # the first wave goes at once...
    assert limiter._delay(0, time.now) > 1  # ...the next waits for the server's first word
    gate.complete(wave.pop(), status=200, headers={}, body={})
    # No limits named: slow start from the wave, growing by half a request per answer
    # (a window of FIRST_WAVE + 0.5 lets FIRST_WAVE + 1 be in flight)...
    wave.append(await gate.acquire(r, r.body))
    wave.append(await gate.acquire(r, r.body))
    assert limiter.in_flight == C.FIRST_WAVE + 1
    assert limiter._delay(0, time.now) > 1
    gate.complete(wave.pop(), status=200, headers={}, body={})
    wave.append(await gate.acquire(r, r.body))  # ...one more per answer: half per RTT
    assert limiter.in_flight == C.FIRST_WAVE + 1
    assert limiter._delay(0, time.now) > 1


async def test_after_the_first_wave_the_announced_limit_paces_the_crowd() -> None:
    time = FakeTime()
    gate = make_gate(time, Limits(concurrency=50))
    limiter = limiter_of(gate, "m")
    r = request("m")
    wave = [await gate.acquire(r, r.body) for _ in range(C.FIRST_WAVE)]
    gate.complete(wave.pop(), status=200, headers={"x-ratelimit-limit-requests": "600"}, body={})
    starts: list[float] = []

    async def one() -> None:
        await gate.acquire(r, r.body)
        starts.append(time.now)

    await time.run(*(one() for _ in range(20)))  # more than the window: the pace rules
    assert limiter.in_flight == C.FIRST_WAVE - 1 + 20
    # The wave used the server's current window: the pace starts after it.
    assert starts[0] == pytest.approx(START + C.FIRST_WAVE * 0.1 / C.LIMIT_HEADROOM)
    assert all(g == pytest.approx(0.1 / C.LIMIT_HEADROOM) for g in gaps(starts))


REFUSED = {"error": {"code": "rate_limit_exceeded", "type": "requests", "message": "busy"}}


def refuse(gate: LocalGate, lease: Lease, headers: dict[str, str] | None = None) -> None:
    gate.complete(
        lease,
        status=429,
        headers=headers or {},
        body=REFUSED,
        pause=1.0 if headers else None,
        error_code="rate_limit_exceeded",
    )


async def test_the_first_429_with_nothing_known_paces_at_what_was_admitted() -> None:
    time = FakeTime()
    gate = make_gate(time, Limits(concurrency=100))
    limiter = limiter_of(gate, "m")
    r = request("m")
    for _ in range(41):  # the slow start opens up
        lease = await gate.acquire(r, r.body)
        gate.complete(lease, status=200, headers={}, body={})
    time.advance(0.5)
    refused = [request("m", text) for text in ("a" * 400, "b" * 400)]
    leases = [await gate.acquire(q, q.body) for q in refused]
    refuse(gate, leases[0])
    assert limiter.requests is None  # one refusal alone: maybe one request, not the rate
    refuse(gate, leases[1])  # two requests refused at once: a rate
    cell = limiter.requests
    assert cell is not None
    assert cell.rate == pytest.approx(41 * C.DECREASE)  # 41 admitted within the last second
    starts = [START]

    async def one() -> None:
        await gate.acquire(r, r.body)
        starts.append(time.now)

    await time.run(*(one() for _ in range(3)))
    # Nothing goes until the oldest admission has left its one-second window.
    assert starts[1] >= START + C.MEASURE_WINDOW - 1e-9
    assert all(g > 0 for g in gaps(starts[1:]))


async def test_one_request_refused_first_and_again_sets_no_pace_and_no_window() -> None:
    """The probe-era failure: the very first request is the one the server keeps refusing."""
    time = FakeTime()
    gate = make_gate(time, Limits(concurrency=50))
    limiter = limiter_of(gate, "m")
    stuck, fine = request("m", "s" * 400), request("m")
    lease = await gate.acquire(stuck, stuck.body)
    others = [await gate.acquire(fine, fine.body) for _ in range(C.FIRST_WAVE - 1)]
    refuse(gate, lease)
    for i in range(200):  # the others flow; the slow start opens up to the concurrency
        gate.complete(others.pop(), status=200, headers={}, body={})
        others.append(await gate.acquire(fine, fine.body))
        time.advance(0.002)
        if i in (40, 90, 150):
            refuse(gate, await gate.acquire(stuck, stuck.body))  # its retries, refused too
    assert limiter.requests is None and limiter.tokens is None  # no pace was ever set
    assert limiter._window is None  # the slow start reached the concurrency
    assert limiter._delay(0, time.now) <= 0


async def test_a_request_refused_again_while_others_pass_cuts_no_pace_and_pauses_no_one() -> None:
    time = FakeTime()
    gate = make_gate(time, Limits(rpm=600))
    limiter = limiter_of(gate, "m")
    stuck, fine = request("m", "s" * 400), request("m")
    refuse(gate, (await time.run(gate.acquire(stuck, stuck.body)))[0])
    cell = limiter.requests
    assert cell is not None and cell.rate == pytest.approx(10 * C.LIMIT_HEADROOM * C.DECREASE)
    time.advance(30.0)  # recovered to just under the limit
    control = limiter._controls["requests"]
    cut_at = control.cut_at
    for _ in range(3):
        for _ in range(10):
            [lease] = await time.run(gate.acquire(fine, fine.body))
            gate.complete(lease, status=200, headers={}, body={})
        [lease] = await time.run(gate.acquire(stuck, stuck.body))
        refuse(gate, lease, {"retry-after": "1"})
        assert control.cut_at == cut_at and limiter._paused_until < time.now
    # Refused again with another refused since (a rate overshoot): the pace is cut.
    [other] = await time.run(gate.acquire(fine, fine.body))
    refuse(gate, other)
    [lease] = await time.run(gate.acquire(stuck, stuck.body))
    time.advance(1.5)
    refuse(gate, lease, {"retry-after": "1"})
    assert control.cut_at == time.now and limiter._paused_until > time.now


async def test_a_first_wave_refused_by_a_busy_key_cuts_no_pace() -> None:
    """Sent before anything was known, refused by an empty quota: the limit the 429 names
    paces the rest, at the limit (a cut would cost 20%, then 2% for a minute)."""
    time = FakeTime()
    gate = make_gate(time, Limits(concurrency=50))
    limiter = limiter_of(gate, "m")
    r = request("m")
    wave = [await gate.acquire(r, r.body) for _ in range(C.FIRST_WAVE)]
    headers = {"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "0"}
    for lease in wave:
        refuse(gate, lease, headers)
    cell = limiter.requests
    assert cell is not None
    cell_rate = limiter._controls["requests"].rate(time.now, limiter.ceiling("requests"))
    assert cell_rate == pytest.approx(10 * C.LIMIT_HEADROOM)
    # A request the pace sent, refused: that one cuts.
    [lease] = await time.run(gate.acquire(r, r.body))
    # It waited for the server's Retry-After only: the refused wave used no quota.
    assert time.now == pytest.approx(START + 1.0)
    refuse(gate, lease, headers)
    assert cell.rate == pytest.approx(10 * C.LIMIT_HEADROOM * C.DECREASE)
