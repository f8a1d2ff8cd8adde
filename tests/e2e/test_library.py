"""The library API (amap, map, as_completed) against the simulator on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import surge
from surge.io.formats import content_id
from surge_sim import prompt_digest

PROMPTS = [f"library prompt {i}" for i in range(1, 21)]


def _check_in_order(results: list[surge.Result], prompts: list[str] = PROMPTS) -> None:
    assert [r.custom_id for r in results] == [content_id(p) for p in prompts]
    assert [r.line for r in results] == list(range(1, len(prompts) + 1))
    for prompt, result in zip(prompts, results, strict=True):
        assert result.ok, result.error
        assert result.text is not None
        assert result.text.startswith(f"[sim:{prompt_digest(prompt)}]")
        assert result.usage is not None and result.usage["prompt_tokens"] > 0
        assert result.attempts == 1
        assert result.latency is not None and result.latency > 0


async def test_amap_returns_results_in_input_order(sim_factory) -> None:
    sim = sim_factory(latency=0.02, latency_jitter=0.02, seed=2)
    results = await surge.amap(PROMPTS, endpoint=sim.base_url, model="gpt-4o-mini")
    _check_in_order(results)
    assert sim.stats(log=False)["received"] == len(PROMPTS)


async def test_amap_accepts_batch_lines_prompt_rows_and_requests(sim) -> None:
    items = [
        {
            "custom_id": "batch",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "b"}]},
        },
        {"id": "row", "prompt": "r"},
        surge.Request(
            custom_id="obj",
            url="/v1/responses",
            body={"model": "gpt-4o-mini", "input": "o"},
        ),
    ]
    results = await surge.amap(items, endpoint=sim.base_url, model="gpt-4o-mini")
    assert [r.custom_id for r in results] == ["batch", "row", "obj"]
    for result, text in zip(results, ["b", "r", "o"], strict=True):
        assert result.ok and result.text is not None
        assert result.text.startswith(f"[sim:{prompt_digest(text)}]")


async def test_amap_failure_is_a_result_not_an_exception(sim) -> None:
    bad = {"custom_id": "bad", "body": {"model": "gpt-4o-mini"}}  # no messages: a 400
    results = await surge.amap(["fine", bad], endpoint=sim.base_url, model="gpt-4o-mini")
    assert results[0].ok
    assert not results[1].ok
    assert results[1].status_code == 400
    assert results[1].error is not None and "messages" in results[1].error.message
    assert results[1].text is None


async def test_limits_cap_concurrency_seen_by_the_server(sim_factory) -> None:
    sim = sim_factory(latency=0.03)
    results = await surge.amap(
        PROMPTS,
        endpoint=surge.Endpoint(base_url=sim.base_url),
        limits=surge.Limits(concurrency=3),
        model="gpt-4o-mini",
    )
    assert all(r.ok for r in results)
    assert sim.stats(log=False)["max_in_flight"] == 3


def test_map_from_sync_code(sim) -> None:
    results = surge.map(PROMPTS, endpoint=sim.base_url, model="gpt-4o-mini")
    _check_in_order(results)


async def test_map_inside_a_running_event_loop(sim) -> None:
    """As in a Jupyter cell: sync ``map`` called while an event loop is running."""
    asyncio.get_running_loop()  # there is one
    results = surge.map(PROMPTS[:5], endpoint=sim.base_url, model="gpt-4o-mini")
    _check_in_order(results, PROMPTS[:5])


async def test_as_completed_yields_every_result(sim_factory) -> None:
    sim = sim_factory(latency=0.02, latency_jitter=0.02, seed=4)
    seen = []
    async for result in surge.as_completed(PROMPTS, endpoint=sim.base_url, model="gpt-4o-mini"):
        assert result.ok
        seen.append(result.custom_id)
    assert sorted(seen) == sorted(content_id(p) for p in PROMPTS)
    assert len(set(seen)) == len(PROMPTS)


async def test_on_event_sees_starts_retries_and_finishes(sim_factory) -> None:
    sim = sim_factory(fail_first=1)
    events: list[surge.Event] = []
    results = await surge.amap(
        PROMPTS[:5],
        endpoint=sim.base_url,
        model="gpt-4o-mini",
        retry=surge.RetryPolicy(initial_delay=0.01),
        on_event=events.append,
    )
    assert all(r.ok and r.attempts == 2 for r in results)
    started = [e for e in events if isinstance(e, surge.RequestStarted)]
    retrying = [e for e in events if isinstance(e, surge.RequestRetrying)]
    finished = [e for e in events if isinstance(e, surge.RequestFinished)]
    assert sorted((e.custom_id, e.attempt) for e in started) == sorted(
        (content_id(p), a) for p in PROMPTS[:5] for a in (1, 2)
    )
    ids = sorted(content_id(p) for p in PROMPTS[:5])
    assert sorted(e.custom_id for e in retrying) == ids
    assert all("503" in e.reason for e in retrying)
    assert sorted(e.result.custom_id for e in finished) == ids


async def test_output_makes_amap_resumable(sim, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    first = await surge.amap(PROMPTS, endpoint=sim.base_url, model="gpt-4o-mini", output=out)
    _check_in_order(first)
    assert sim.stats(log=False)["received"] == len(PROMPTS)
    assert len(out.read_text().splitlines()) == len(PROMPTS)

    second = await surge.amap(PROMPTS, endpoint=sim.base_url, model="gpt-4o-mini", output=out)
    assert sim.stats(log=False)["received"] == len(PROMPTS)  # nothing sent again
    assert [r.custom_id for r in second] == [r.custom_id for r in first]
    assert [r.text for r in second] == [r.text for r in first]
    assert all(r.ok for r in second)


async def test_output_resume_sends_only_what_is_missing(sim, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    await surge.amap(PROMPTS[:8], endpoint=sim.base_url, model="gpt-4o-mini", output=out)
    results = await surge.amap(PROMPTS, endpoint=sim.base_url, model="gpt-4o-mini", output=out)
    _check_in_order(results)
    assert sim.stats(log=False)["received"] == len(PROMPTS)  # 8 + 12, none twice
