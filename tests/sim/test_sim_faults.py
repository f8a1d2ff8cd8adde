"""Faults over HTTP: server errors, resets, hangs, slow starts, latency, seeded determinism."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from surge_sim import SimConfig, Simulator
from surge_sim.faults import answer_delay

from .helpers import chat, post


@pytest.mark.parametrize(
    ("fault", "status"), [("error_500", 500), ("error_502", 502), ("error_503", 503)]
)
async def test_server_errors(sim_factory: Any, fault: str, status: int) -> None:
    sim = sim_factory(**{fault: 1.0})
    got, body, headers = await post(sim, "/chat/completions", chat())
    assert got == status
    assert body["error"]["type"] == "server_error"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert headers["x-request-id"].startswith("req_")
    stats = sim.stats()
    assert stats["faults"][fault] == 1 and stats["by_status"] == {str(status): 1}


async def test_reset_is_a_disconnect(sim_factory: Any) -> None:
    sim = sim_factory(reset=1.0)
    async with aiohttp.ClientSession() as session:
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            await session.post(sim.base_url + "/chat/completions", json=chat())
    stats = sim.stats()
    assert stats["faults"]["reset"] == 1
    assert stats["requests"][0]["status"] == "reset"


async def test_hang_is_a_client_timeout_and_frees_on_disconnect(sim_factory: Any) -> None:
    sim = sim_factory(hang=1.0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2)) as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.post(sim.base_url + "/chat/completions", json=chat())
    for _ in range(50):  # the server notices the client left
        if sim.stats(log=False)["in_flight"] == 0:
            break
        await asyncio.sleep(0.01)
    stats = sim.stats()
    assert stats["in_flight"] == 0 and stats["faults"]["hang"] == 1
    assert stats["requests"][0]["status"] == "hang"


def test_hang_does_not_block_shutdown() -> None:
    sim = Simulator(SimConfig(hang=1.0)).start_thread()

    async def call() -> None:
        async with aiohttp.ClientSession() as session:
            await session.post(sim.base_url + "/chat/completions", json=chat())

    async def scenario() -> None:
        task = asyncio.create_task(call())
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await asyncio.to_thread(sim.stop_thread)
        assert time.monotonic() - started < 1.0
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            await task

    asyncio.run(scenario())


async def test_slow_start(sim_factory: Any) -> None:
    sim = sim_factory(slow_start=1.0, slow_start_seconds=0.2)
    started = time.monotonic()
    status, _, _ = await post(sim, "/chat/completions", chat())
    assert status == 200
    assert time.monotonic() - started >= 0.2
    assert sim.stats()["faults"]["slow_start"] == 1


async def test_latency_and_per_token_latency(sim_factory: Any) -> None:
    sim = sim_factory(latency=0.1, per_token_latency=0.002)
    started = time.monotonic()
    _, body, _ = await post(sim, "/chat/completions", chat())
    elapsed = time.monotonic() - started
    assert elapsed >= 0.1 + 0.002 * body["usage"]["completion_tokens"] - 0.005
    assert elapsed < 1.0


async def test_zero_latency_is_fast(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        for _ in range(50):
            async with session.post(sim.base_url + "/chat/completions", json=chat()) as resp:
                await resp.read()
        assert (time.monotonic() - started) / 50 < 0.02


async def _statuses(
    sim: Simulator, bodies: list[dict[str, Any]], concurrent: bool
) -> dict[str, int | str]:
    async def one(session: aiohttp.ClientSession, body: dict[str, Any]) -> tuple[str, int | str]:
        try:
            async with session.post(sim.base_url + "/chat/completions", json=body) as resp:
                return body["messages"][0]["content"], resp.status
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            return body["messages"][0]["content"], "reset"

    async with aiohttp.ClientSession() as session:
        if concurrent:
            pairs = await asyncio.gather(*(one(session, b) for b in bodies))
        else:
            pairs = [await one(session, b) for b in bodies]
    return dict(pairs)


async def test_faults_are_deterministic_whatever_the_order(sim_factory: Any) -> None:
    config = {"seed": 7, "error_500": 0.2, "error_503": 0.2, "reset": 0.1}
    bodies = [chat(f"question {i}") for i in range(40)]
    first = await _statuses(sim_factory(**config), bodies, concurrent=False)
    second = await _statuses(sim_factory(**config), bodies[::-1], concurrent=True)
    assert first == second
    assert {200, 500, 503, "reset"} <= set(first.values())
    other_seed = await _statuses(sim_factory(**{**config, "seed": 8}), bodies, concurrent=False)
    assert other_seed != first


async def test_a_retry_gets_a_fresh_deterministic_draw(sim_factory: Any) -> None:
    def run() -> Any:
        return sim_factory(seed=3, error_503=0.5)

    async def attempts(sim: Simulator) -> list[int]:
        return [(await post(sim, "/chat/completions", chat("same")))[0] for _ in range(12)]

    a, b = await attempts(run()), await attempts(run())
    assert a == b
    assert set(a) == {200, 503}


async def test_fail_first(sim_factory: Any) -> None:
    sim = sim_factory(fail_first=2)
    got = [(await post(sim, "/chat/completions", chat("x")))[0] for _ in range(3)]
    assert got == [503, 503, 200]
    assert (await post(sim, "/chat/completions", chat("y")))[0] == 503
    assert sim.stats()["faults"]["fail_first"] == 3
    assert [r["attempt"] for r in sim.stats()["requests"]] == [0, 1, 2, 0]


def test_jitter_is_seeded() -> None:
    cfg = SimConfig(latency=0.3, latency_jitter=0.1, seed=1)
    delays = [answer_delay(cfg, "key", n, 0) for n in range(50)]
    assert all(0.2 <= d <= 0.4 for d in delays)
    assert delays == [answer_delay(cfg, "key", n, 0) for n in range(50)]
    assert len(set(delays)) == 50
