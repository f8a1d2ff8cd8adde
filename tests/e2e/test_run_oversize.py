"""A request larger than the whole tokens/min limit fails alone and slows nobody down."""

from __future__ import annotations

import time

import surge


async def test_a_request_over_the_whole_limit_fails_at_once_and_others_go_on(
    sim_factory,
) -> None:
    # The server answers 429 "Request too large" (permanent) for the big one. Before the
    # fix the gate took it as a rate-limit refusal: it kept the 7,000-token charge on a
    # 3,000/min schedule and cut the pace, so the small requests waited minutes.
    sim = sim_factory(tpm=3000, latency=0.05)
    prompts = ["hello there", "word " * 6000, "another small one", "and a third"]
    started = time.monotonic()
    results = await surge.amap(prompts, model="gpt-4o-mini", endpoint=sim.base_url)
    took = time.monotonic() - started
    assert [r.ok for r in results] == [True, False, True, True]
    big = results[1]
    assert big.error is not None and "too large" in big.error.message.lower()
    assert big.attempts == 1  # permanent: not retried
    assert took < 10, f"small requests were held up for {took:.1f} s"
