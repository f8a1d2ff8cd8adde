"""The simulator's provider-style limits: quantized windows, character-based token counts,
no-header mode, per-model limits and flex 429s (pure state machines, then over HTTP)."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from surge_sim import SimConfig
from surge_sim.config import parse_model_limits
from surge_sim.limiter import QuantizedWindow
from surge_sim.quota import Quotas, rate_limit_cost
from surge_sim.validation import parse_chat

from .helpers import chat, post

# -- pure --------------------------------------------------------------------------------


def test_quantized_window_admits_its_share_per_window() -> None:
    q = QuantizedWindow(1200, quantum=1.0, now=10.2)  # 20 per second
    for _ in range(20):
        assert q.wait_for(1, now=10.5) == 0.0
        q.take(1, now=10.5)
    assert q.wait_for(1, now=10.5) == pytest.approx(0.5)  # the next window starts at 11.0
    assert q.wait_for(1, now=11.0) == 0.0
    # The per-minute view still shows plenty of room: the headers are no promise.
    assert q.remaining(now=10.5) == pytest.approx(1180)


def test_quantized_window_lets_a_large_request_into_an_empty_window() -> None:
    q = QuantizedWindow(60_000, quantum=1.0, now=0.0)  # 1,000 tokens per second
    assert q.wait_for(5_000, now=0.1) == 0.0
    q.take(5_000, now=0.1)
    assert q.wait_for(1, now=0.2) == pytest.approx(0.8)
    assert math.isinf(q.wait_for(70_000, now=5.0))  # more than the whole limit: never


def test_rate_limit_cost_counts_characters_over_four_plus_max_tokens() -> None:
    text = "x" * 2001
    req = parse_chat(chat(text, max_tokens=100, n=2))
    assert rate_limit_cost(req, completion=7, counting="estimate") == math.ceil(2001 / 4) + 200
    assert rate_limit_cost(req, completion=7, counting="usage") == req.prompt_tokens + 200
    no_budget = parse_chat(chat(text))
    assert rate_limit_cost(no_budget, completion=7, counting="estimate") == 501 + 7


def test_quotas_per_model_with_overrides() -> None:
    quotas = Quotas(SimConfig(rpm=60, model_limits=(("big", 6, None),)), now=0.0)
    assert quotas.for_model("a") is not quotas.for_model("b")
    assert quotas.for_model("a") is quotas.for_model("a")
    big = quotas.for_model("big").requests
    assert big is not None and big.limit == 6
    shared = Quotas(SimConfig(rpm=60), now=0.0)
    assert shared.for_model("a") is shared.for_model("b")


def test_model_limits_parse_from_json_and_validate() -> None:
    assert parse_model_limits({"m": [600, None]}) == (("m", 600, None),)
    assert parse_model_limits([["m", 5, 7]]) == (("m", 5, 7),)
    cfg = SimConfig().replace(model_limits={"m": [600]})
    assert cfg.model_limits == (("m", 600, None),)
    with pytest.raises(ValueError, match="model_limits"):
        SimConfig(model_limits=(("m", -1, None),))
    with pytest.raises(ValueError, match="token_counting"):
        SimConfig(token_counting="words")  # type: ignore[arg-type]


# -- over HTTP ---------------------------------------------------------------------------


async def test_quantized_limit_refuses_within_the_second(sim_factory: Any) -> None:
    sim = sim_factory(rpm=600, limit_quantum=1.0)  # 10 per second

    def fill() -> None:
        window = sim.server.limits.requests
        assert isinstance(window, QuantizedWindow)
        window.take(window.capacity, now=time.monotonic())

    for _ in range(3):  # the window may roll between filling it and the request: try again
        sim._on_loop(fill)
        status, body, headers = await post(sim, "/chat/completions", chat())
        if status == 429:
            break
    assert status == 429 and body["error"]["type"] == "requests"
    assert 0 < int(headers["retry-after-ms"]) <= 1000  # the next window, not the next minute
    assert int(headers["x-ratelimit-remaining-requests"]) >= 500  # the per-minute view


async def test_estimate_counting_charges_characters_not_tokens(sim_factory: Any) -> None:
    sim = sim_factory(tpm=100_000)  # the default: the simulator models OpenAI
    text = "tokenizers disagree with characters " * 20
    status, body, headers = await post(sim, "/chat/completions", chat(text, max_tokens=10))
    assert status == 200
    charged = math.ceil(len(text) / 4) + 10
    assert int(headers["x-ratelimit-remaining-tokens"]) == 100_000 - charged
    assert body["usage"]["prompt_tokens"] != math.ceil(len(text) / 4)  # the bill is real
    assert sim.stats(log=False)["tokens"]["rate_limit_charged"] == charged


async def test_no_headers_and_no_retry_after(sim_factory: Any) -> None:
    sim = sim_factory(rpm=60, limit_quantum=1.0, limit_headers=False, retry_after=False)
    first = await post(sim, "/chat/completions", chat("a"))
    second = await post(sim, "/chat/completions", chat("b"))  # 1 per second: refused
    assert first[0] == 200 and second[0] == 429
    assert second[1]["error"]["code"] == "rate_limit_exceeded"
    for _, _, headers in (first, second):
        assert not any(h.startswith("x-ratelimit") for h in headers)
        assert "retry-after" not in headers and "retry-after-ms" not in headers


async def test_each_model_has_its_own_limit_and_headers(sim_factory: Any) -> None:
    sim = sim_factory(rpm=60, per_model=True)
    _, _, a = await post(sim, "/chat/completions", chat("x"))
    _, _, b = await post(sim, "/chat/completions", {**chat("x"), "model": "gpt-4.1-nano"})
    _, _, a2 = await post(sim, "/chat/completions", chat("y"))
    assert a["x-ratelimit-remaining-requests"] == b["x-ratelimit-remaining-requests"] == "59"
    assert a2["x-ratelimit-remaining-requests"] == "58"
    assert set(sim.stats(log=False)["by_model"]) == {"gpt-4o-mini", "gpt-4.1-nano"}


async def test_flex_resource_unavailable(sim_factory: Any) -> None:
    sim = sim_factory(flex_unavailable=1.0, rpm=600)
    status, body, headers = await post(sim, "/chat/completions", chat(service_tier="flex"))
    assert status == 429
    assert body["error"]["code"] == "resource_unavailable"
    assert "retry-after" not in headers
    # Not counted against the limits, not billed; the default tier is unaffected.
    status, body, headers = await post(sim, "/chat/completions", chat())
    assert status == 200 and body["service_tier"] == "default"
    assert headers["x-ratelimit-remaining-requests"] == "599"
    stats = sim.stats(log=False)
    assert (
        stats["flex_unavailable"] == 1
        and stats["tokens"]["prompt"] == body["usage"]["prompt_tokens"]
    )


async def test_flex_answers_name_their_tier_and_bad_tiers_are_rejected(sim_factory: Any) -> None:
    sim = sim_factory(flex_unavailable=0.0)
    status, body, _ = await post(sim, "/chat/completions", chat(service_tier="flex"))
    assert status == 200 and body["service_tier"] == "flex"
    status, body, _ = await post(sim, "/chat/completions", chat(service_tier="cheap"))
    assert status == 400 and body["error"]["param"] == "service_tier"
