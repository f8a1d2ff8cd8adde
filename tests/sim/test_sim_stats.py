"""``/stats``, ``/stats/reset`` and ``/admin/config`` over HTTP, and the Python mirrors."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from surge_sim import Simulator, prompt_digest

from .helpers import chat, post


async def _get(sim: Simulator, path: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(sim.url + path) as resp:
        assert resp.status == 200
        return await resp.json()


async def test_counts_and_log(sim: Simulator) -> None:
    await post(sim, "/chat/completions", chat("one"), headers={"x-client-request-id": "row-1"})
    await post(sim, "/chat/completions", chat("two"))
    await post(sim, "/chat/completions", {"model": "m"})
    await post(sim, "/responses", {"model": "r", "input": "three"})
    stats = await _get(sim, "/stats")
    assert stats == sim.stats() | {"uptime": stats["uptime"]}
    assert stats["received"] == 4
    assert stats["by_status"] == {"200": 3, "400": 1}
    assert stats["in_flight"] == 0 and stats["max_in_flight"] == 1
    assert set(stats["faults"]) == {
        "error_500",
        "error_502",
        "error_503",
        "reset",
        "hang",
        "slow_start",
        "fail_first",
        "invalid_json",
        "refusal",
    }
    assert stats["tokens"]["total"] == stats["tokens"]["prompt"] + stats["tokens"]["completion"] > 0
    first = stats["requests"][0]
    assert first["path"] == "/v1/chat/completions"
    assert first["status"] == 200
    assert first["client_request_id"] == "row-1"
    assert first["digest"] == prompt_digest("one")
    assert first["model"] == "gpt-4o-mini"
    assert 0 <= first["t"] <= stats["requests"][1]["t"]
    assert stats["requests"][2]["status"] == 400 and stats["requests"][2]["digest"] is None
    assert stats["requests"][3]["model"] == "r"
    assert "requests" not in await _get(sim, "/stats?log=0")


async def test_max_in_flight_with_known_concurrency(sim_factory: Any) -> None:
    sim = sim_factory(latency=0.15)
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> int:
            async with session.post(sim.base_url + "/chat/completions", json=chat(str(i))) as resp:
                return resp.status

        statuses = await asyncio.gather(*(one(i) for i in range(7)))
    assert statuses == [200] * 7
    stats = sim.stats(log=False)
    assert stats["max_in_flight"] == 7 and stats["in_flight"] == 0


async def test_reset_stats(sim: Simulator) -> None:
    await post(sim, "/chat/completions", chat())
    async with aiohttp.ClientSession() as session, session.post(sim.url + "/stats/reset") as resp:
        assert resp.status == 200
    stats = sim.stats()
    assert stats["received"] == 0 and stats["by_status"] == {} and stats["requests"] == []
    await post(sim, "/chat/completions", chat())
    sim.reset_stats()
    assert sim.stats()["received"] == 0


async def test_log_can_be_disabled(sim_factory: Any) -> None:
    sim = sim_factory(log_requests=False)
    await post(sim, "/chat/completions", chat())
    stats = sim.stats()
    assert stats["received"] == 1 and stats["requests"] == []


async def test_admin_config(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(sim.url + "/admin/config", json={"error_502": 1.0}) as resp:
            assert resp.status == 200
            assert (await resp.json())["config"]["error_502"] == 1.0
        async with session.post(sim.url + "/admin/config", json={"error_502": 7}) as resp:
            assert resp.status == 400
        async with session.post(sim.url + "/admin/config", json={"nonsense": 1}) as resp:
            assert resp.status == 400
    assert (await post(sim, "/chat/completions", chat()))[0] == 502
