"""The Redis limiter against a real redis-server: the scripts, and gates sharing them.

The scripts run on Redis's clock, so waits are compared with a tolerance of a few
milliseconds (the time between two calls).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from surge._limits.redis_gate import RedisBackend
from surge._limits.remote import shared_gate
from surge._limits.shared_gate import SharedGate
from surge.config import Endpoint, Limits
from surge.errors import LimiterError
from surge.models import Request

from .conftest import RedisServer

KEY = "surge:test:gpt-4o-mini"
TOL = 0.02


def request(custom_id: str = "r1") -> Request:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
    return Request(custom_id=custom_id, body=body)


def gate(redis_server: RedisServer, limits: Limits, **kw: Any) -> SharedGate:
    endpoint = Endpoint(base_url="http://127.0.0.1:9/v1", api_key="sk-secret-key")
    return shared_gate(redis_server.url, limits, endpoint, **kw)


async def test_scripts_space_reserve_refund_pause_and_learn(redis_server: RedisServer) -> None:
    backend = RedisBackend.from_url(redis_server.url)
    await backend.open()
    try:
        waits = []
        for _ in range(4):
            g = await backend.reserve(KEY, tokens=0, rpm=600, tpm=None, horizon=0.25)
            if not g.granted:
                break
            waits.append(g.wait)
        # 600/min at 99% headroom: one every 0.101 s; the 4th is beyond the horizon.
        assert waits == pytest.approx([0.0, 0.101, 0.202], abs=TOL)
        refused = await backend.reserve(KEY, tokens=0, rpm=600, tpm=None, horizon=0.25)
        assert not refused.granted
        assert refused.wait == pytest.approx(0.303 - 0.25, abs=TOL)
        await backend.refund(KEY, requests=2, tokens=0, rpm=600, tpm=None)
        g = await backend.reserve(KEY, tokens=0, rpm=600, tpm=None, horizon=0.25)
        assert g.granted and g.wait == pytest.approx(0.101, abs=TOL)

        await backend.pause(KEY, 1.5)
        paused = await backend.reserve(KEY, tokens=0, rpm=600, tpm=None, horizon=0.1)
        assert not paused.granted
        assert paused.paused == pytest.approx(1.5, abs=TOL)
        assert paused.wait == pytest.approx(1.4, abs=TOL)

        await backend.learn("surge:test:other", rpm=120, tpm=30000)
        learned = await backend.reserve("surge:test:other", tokens=5, rpm=None, tpm=None, horizon=1)
        assert (learned.rpm, learned.tpm) == (120, 30000)
        nxt = await backend.reserve("surge:test:other", tokens=5, rpm=None, tpm=None, horizon=1)
        assert nxt.wait == pytest.approx(60 / 120 / 0.99, abs=TOL)  # the learned limit governs
    finally:
        await backend.close()


async def test_settling_with_real_usage_refunds_the_estimate(redis_server: RedisServer) -> None:
    g = gate(redis_server, Limits(tpm=6000))  # 100 tokens/s (at 99%)
    await g.open()
    try:
        lease = await g.acquire(request(), request().body)
        assert lease.tokens > 200  # prompt + the default expected output (256)
        usage = {"usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
        g.complete(lease, status=200, headers={}, body=usage)
        await asyncio.gather(*g._tasks)
        backend = RedisBackend.from_url(redis_server.url)
        grant = await backend.reserve(g._key(lease.key), tokens=1, rpm=None, tpm=6000, horizon=10)
        await backend.close()
        # Only the 15 charged tokens are spent: the next slot is <= 0.15 s out (minus the
        # time since the first reservation), not ~2.7 s.
        assert 0.05 < grant.wait <= 15 / (6000 * 0.99 / 60) + 0.001
    finally:
        await g.aclose()


async def test_a_429_pauses_every_process_sharing_the_key(redis_server: RedisServer) -> None:
    a = gate(redis_server, Limits(rpm=6000))
    b = gate(redis_server, Limits(rpm=6000))  # another process: its own client and queue
    await a.open()
    await b.open()
    try:
        lease = await a.acquire(request(), request().body)
        a.complete(lease, status=429, headers={}, body=None, pause=0.6)
        await asyncio.gather(*a._tasks)
        started = time.monotonic()
        await b.acquire(request("r2"), request("r2").body)
        assert time.monotonic() - started == pytest.approx(0.6, abs=0.05)
    finally:
        await a.aclose()
        await b.aclose()


async def test_learned_limits_reach_every_gate(redis_server: RedisServer) -> None:
    a = gate(redis_server, Limits())  # nothing configured: the server's word governs
    b = gate(redis_server, Limits())
    await a.open()
    await b.open()
    try:
        lease = await a.acquire(request(), request().body)
        headers = {"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "59"}
        a.complete(lease, status=200, headers=headers, body={"choices": []})
        await asyncio.gather(*a._tasks)
        await asyncio.sleep(0.3)  # b's idle sync interval
        await b.acquire(request("r2"), request("r2").body)  # learns 60/min from Redis
        started = time.monotonic()
        await b.acquire(request("r3"), request("r3").body)
        assert time.monotonic() - started == pytest.approx(60 / 60 / 0.99, abs=0.05)
    finally:
        await a.aclose()
        await b.aclose()


async def test_key_names_hold_no_secret(redis_server: RedisServer) -> None:
    g = gate(redis_server, Limits(rpm=600))
    await g.open()
    lease = await g.acquire(request(), request().body)
    await g.aclose()
    name = g._key(lease.key)  # the Redis key
    assert "secret" not in name and "127.0.0.1:9" not in name
    assert name.endswith(":gpt-4o-mini")


async def test_unreachable_at_start_is_a_clear_error(redis_server: RedisServer) -> None:
    redis_server.stop()
    g = gate(redis_server, Limits(rpm=600))
    with pytest.raises(LimiterError, match=r"cannot reach the shared limiter redis://127\.0\.0\.1"):
        await g.open()
    await g.aclose()


async def test_lost_mid_run_stops_or_falls_back(redis_server: RedisServer) -> None:
    stopped = []
    g = gate(redis_server, Limits(rpm=6000))
    g.on_failure(lambda: stopped.append(True))
    fb = gate(redis_server, Limits(rpm=6000), fallback=True)
    await g.open()
    await fb.open()
    await g.acquire(request(), request().body)
    redis_server.stop()
    lease = await g.acquire(request("r2"), request("r2").body)
    assert stopped == [True] and lease.tokens == 0
    with pytest.raises(LimiterError, match="became unreachable"):
        g.raise_if_failed()
    lease = await fb.acquire(request("r3"), request("r3").body)  # warns, goes on locally
    fb.complete(lease, status=200, headers={}, body={"choices": []})
    assert fb.failure is None and "local fallback" in repr(fb)
    await g.aclose()
    await fb.aclose()


@pytest.mark.parametrize("seed", range(4))
async def test_scripts_do_what_the_reference_model_does(
    redis_server: RedisServer, seed: int
) -> None:
    """Random operations on Redis (with a test clock) and on ``Budget`` give the same grants."""
    import random

    from surge._limits.budget import Budget

    rng = random.Random(seed)
    model = Budget()
    backend = RedisBackend.from_url(redis_server.url)
    await backend.open()
    now = 1000.0 + seed
    keys = [f"surge:model-test:{seed}:{k}" for k in ("a", "b")]
    try:
        for _ in range(150):
            now += rng.choice([0.0, rng.uniform(0, 0.3)])
            backend.clock = now
            key = rng.choice(keys)
            rpm = rng.choice([None, 600.0, 1200.0])
            tpm = rng.choice([None, 6000.0])
            op = rng.choices(["reserve", "refund", "pause", "learn"], weights=[8, 3, 1, 1])[0]
            if op == "reserve":
                costs = [rng.choice([0, rng.randint(1, 400)]) for _ in range(rng.randint(1, 6))]
                horizon = rng.choice([0.1, 0.5])
                got_all = await backend.reserve_many(
                    key, tokens=costs, rpm=rpm, tpm=tpm, horizon=horizon
                )
                want_all = model.reserve_many(
                    key, tokens=costs, rpm=rpm, tpm=tpm, now=now, horizon=horizon
                )
                assert len(got_all) == len(want_all)
                for got, want in zip(got_all, want_all, strict=True):
                    assert got.granted == want.granted
                    assert got.wait == pytest.approx(want.wait, abs=1e-4)
                    assert (got.rpm, got.tpm) == (want.rpm, want.tpm)
                    assert got.paused == pytest.approx(want.paused, abs=1e-4)
            elif op == "refund":
                requests, tokens = rng.choice([0, 1]), rng.randint(-100, 300)
                await backend.refund(key, requests=requests, tokens=tokens, rpm=rpm, tpm=tpm)
                model.refund(key, requests=requests, tokens=tokens, rpm=rpm, tpm=tpm)
            elif op == "pause":
                seconds = rng.uniform(0, 1.0)
                await backend.pause(key, seconds)
                model.pause(key, seconds, now=now)
            else:
                learned_rpm, learned_tpm = rng.choice([None, 300.0]), rng.choice([None, 3000.0])
                await backend.learn(key, rpm=learned_rpm, tpm=learned_tpm)
                model.learn(key, rpm=learned_rpm, tpm=learned_tpm)
    finally:
        await backend.close()


async def test_queued_requests_are_booked_in_slices(redis_server: RedisServer) -> None:
    """20 requests waiting at 6,000 rpm: a few round trips book them all, spaced 10 ms."""
    from surge._limits.shared_gate import SharedGate

    class Counting(RedisBackend):
        calls = 0

        async def reserve_many(self, key: str, **kw: Any) -> Any:
            Counting.calls += 1
            return await super().reserve_many(key, **kw)

    plain = RedisBackend.from_url(redis_server.url)
    backend = Counting(plain._client, "counting")
    g = SharedGate(Limits(rpm=6000), backend, endpoint=Endpoint(base_url="http://x/v1"))
    await g.open()
    started = time.monotonic()

    async def one(i: int) -> float:
        await g.acquire(request(f"r{i}"), request(f"r{i}").body)
        return time.monotonic() - started

    times = sorted(await asyncio.gather(*(one(i) for i in range(20))))
    await g.aclose()
    assert Counting.calls <= 6  # not one per request
    assert times[-1] == pytest.approx(19 * 60 / (6000 * 0.99), abs=0.05)
