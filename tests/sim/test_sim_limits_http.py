"""Rate limits over HTTP: headers, 429 bodies, retry-after, refill, window mode, token costs."""

from __future__ import annotations

import asyncio
import math
import re
import time
from typing import Any

from surge_sim import Simulator

from .helpers import chat, post

_DURATION = re.compile(r"^(\d+ms|(\d+h)?(\d+m)?\d+(\.\d+)?s)$")


def drain_requests(sim: Simulator) -> None:
    """Empty the requests bucket at once, instead of hundreds of round trips."""

    def drain() -> None:
        limiter = sim.server.limits.requests
        assert limiter is not None
        limiter.take(limiter.limit, now=time.monotonic())

    sim._on_loop(drain)


async def test_headers_on_every_response_and_remaining_decreases(sim_factory: Any) -> None:
    sim = sim_factory(rpm=600, tpm=100_000)
    remaining, remaining_tokens = [], []
    for i in range(3):
        # max_tokens 1,000: each charge is far above what refills between two requests.
        body = chat(f"q{i}", max_tokens=1000)
        status, _, headers = await post(sim, "/chat/completions", body)
        assert status == 200
        assert headers["x-ratelimit-limit-requests"] == "600"
        assert headers["x-ratelimit-limit-tokens"] == "100000"
        for kind in ("requests", "tokens"):
            assert _DURATION.match(headers[f"x-ratelimit-reset-{kind}"]), headers
        remaining.append(int(headers["x-ratelimit-remaining-requests"]))
        remaining_tokens.append(int(headers["x-ratelimit-remaining-tokens"]))
        if i == 0:  # the cost is characters/4 + max_tokens (OpenAI's estimate), not usage
            assert remaining_tokens[0] == 100_000 - math.ceil(len("q0") / 4) - 1000
    assert remaining[0] == 599
    assert remaining[0] > remaining[1] > remaining[2]
    assert remaining_tokens[0] > remaining_tokens[1] > remaining_tokens[2]
    # Errors carry the headers too.
    status, _, headers = await post(sim, "/chat/completions", {"model": "m"})
    assert status == 400 and "x-ratelimit-remaining-requests" in headers


async def test_429_body_and_retry_after(sim_factory: Any) -> None:
    sim = sim_factory(rpm=600)  # capacity 600, refills 10/s
    drain_requests(sim)
    status, body, headers = await post(sim, "/chat/completions", chat())
    assert status == 429
    err = body["error"]
    assert (
        err["type"] == "requests" and err["code"] == "rate_limit_exceeded" and err["param"] is None
    )
    assert re.search(
        r"Limit 600, Used 600, Requested 1\. Please try again in \d+ms", err["message"]
    )
    ms = int(headers["retry-after-ms"])
    assert 1 <= ms <= 100
    assert headers["retry-after"] == str(math.ceil(ms / 1000))
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert sim.stats()["by_status"] == {"429": 1}


async def test_bucket_refills_over_time_and_429_consumes_nothing(sim_factory: Any) -> None:
    sim = sim_factory(rpm=300)  # one request back every 200 ms
    drain_requests(sim)
    statuses = [(await post(sim, "/chat/completions", chat()))[0] for _ in range(3)]
    assert statuses == [429, 429, 429]
    await asyncio.sleep(0.22)
    status, _, _ = await post(sim, "/chat/completions", chat())
    assert status == 200  # the 429s did not eat the refilled unit
    status, _, _ = await post(sim, "/chat/completions", chat())
    assert status == 429


async def test_token_limit(sim_factory: Any) -> None:
    sim = sim_factory(tpm=600, token_counting="usage")  # 10 tokens/s, real prompt count
    status, body, headers = await post(sim, "/chat/completions", chat("hi", max_tokens=500))
    assert status == 200
    assert "x-ratelimit-limit-requests" not in headers
    used = body["usage"]["prompt_tokens"] + 500
    assert int(headers["x-ratelimit-remaining-tokens"]) in (600 - used, 600 - used + 1)
    status, body, headers = await post(sim, "/chat/completions", chat("hi", max_tokens=500))
    assert status == 429
    assert body["error"]["type"] == "tokens"
    assert "tokens per min (TPM): Limit 600" in body["error"]["message"]
    assert int(headers["retry-after"]) >= 40
    # A request larger than the whole limit can never fit: no retry-after to wait for.
    status, body, headers = await post(sim, "/chat/completions", chat("hi", max_tokens=5000))
    assert status == 429 and "retry-after" not in headers
    assert body["error"]["message"].startswith("Request too large")


async def test_token_cost_without_max_tokens_is_the_actual_reply(sim_factory: Any) -> None:
    sim = sim_factory(tpm=100_000, token_counting="usage")
    _, body, headers = await post(sim, "/chat/completions", chat("hi"))
    remaining = int(headers["x-ratelimit-remaining-tokens"])
    assert remaining in (
        100_000 - body["usage"]["total_tokens"],
        100_000 - body["usage"]["total_tokens"] + 1,
    )


async def test_window_mode(sim_factory: Any) -> None:
    sim = sim_factory(rpm=3, limit_mode="window", window_seconds=0.5)
    statuses = [(await post(sim, "/chat/completions", chat()))[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    await asyncio.sleep(0.52)
    status, _, headers = await post(sim, "/chat/completions", chat())
    assert status == 200
    assert headers["x-ratelimit-remaining-requests"] == "2"


async def test_limits_change_at_run_time(sim_factory: Any) -> None:
    sim = sim_factory()
    _, _, headers = await post(sim, "/chat/completions", chat())
    assert "x-ratelimit-limit-requests" not in headers
    sim.update_config(rpm=1200)
    _, _, headers = await post(sim, "/chat/completions", chat())
    assert headers["x-ratelimit-limit-requests"] == "1200"
