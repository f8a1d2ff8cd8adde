"""Structured outputs against the simulator: parsed answers, re-asks, errors with raw text."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

import surge


class Sentiment(BaseModel):
    sentiment: Literal["positive", "neutral", "negative"]
    score: float = Field(ge=-1, le=1)


PROMPTS = ["The service was great!", "Terrible food.", "It was fine."]


def _sent_bodies(sim: Any) -> list[dict[str, Any]]:
    return [r for r in sim.stats()["requests"] if r["path"].startswith("/v1/")]


async def test_schema_parses_every_reply_chat_and_responses(sim) -> None:
    for api in ("chat", "responses"):
        results = await surge.amap(
            PROMPTS,
            endpoint=sim.base_url,
            options=surge.RunOptions(api=api, model="gpt-4o-mini"),
            schema=Sentiment,
        )
        for result in results:
            assert result.ok, result.error
            assert isinstance(result.parsed, Sentiment)
            assert Sentiment.model_validate_json(result.text or "") == result.parsed
    # The simulator validates the request field: a wrong one would have been a 400.
    assert sim.stats()["by_status"] == {"200": 2 * len(PROMPTS)}


async def test_invalid_reply_is_reasked_then_valid(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(invalid_json_first=2)
    events: list[surge.Event] = []
    out = tmp_path / "out.jsonl"
    results = await surge.amap(
        PROMPTS,
        endpoint=sim.base_url,
        model="gpt-4o-mini",
        schema=Sentiment,
        output=out,
        on_event=events.append,
    )
    for result in results:
        assert result.ok, result.error
        assert isinstance(result.parsed, Sentiment)
        assert result.attempts == 3  # two invalid replies, each re-asked
    stats = sim.stats()
    assert stats["by_status"] == {"200": 3 * len(PROMPTS)}
    assert stats["faults"]["invalid_json"] == 2 * len(PROMPTS)
    retries = [e for e in events if isinstance(e, surge.RequestRetrying)]
    assert len(retries) == 2 * len(PROMPTS)
    assert {e.reason for e in retries} == {"invalid_output"}
    # The parsed object is in the output, under the surge metadata, and comes back typed.
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert all(Sentiment.model_validate(r["surge"]["parsed"]) for r in records)
    again = await surge.amap(
        PROMPTS, endpoint=sim.base_url, model="gpt-4o-mini", schema=Sentiment, output=out
    )
    assert [r.parsed for r in again] == [r.parsed for r in results]
    assert all(isinstance(r.parsed, Sentiment) for r in again)
    assert sim.stats(log=False)["received"] == 3 * len(PROMPTS)  # nothing sent twice


async def test_reply_that_never_validates_is_an_error_keeping_the_raw_text(sim_factory) -> None:
    sim = sim_factory(invalid_json_first=1000)
    [result] = await surge.amap(
        ["Never valid"],
        endpoint=sim.base_url,
        model="gpt-4o-mini",
        schema=Sentiment,
        validation_retries=1,
    )
    assert not result.ok and result.parsed is None
    assert result.error is not None and result.error.code == "invalid_output"
    assert "after 2 attempts" in result.error.message
    assert result.attempts == 2
    assert result.status_code == 200
    raw = result.body["choices"][0]["message"]["content"]
    assert raw and "schema ignored" in raw  # the second spoiled reply, kept
    # The re-ask carried the first reply and the validation error back to the model.
    assert sim.stats()["faults"]["invalid_json"] == 2


async def test_truncated_reply_is_reported_not_reasked(sim) -> None:
    [result] = await surge.amap(
        [
            surge.Request(
                custom_id="t",
                body={
                    "model": "gpt-4o-mini",
                    "max_tokens": 3,
                    "messages": [{"role": "user", "content": "Cut me short"}],
                },
            )
        ],
        endpoint=sim.base_url,
        model="gpt-4o-mini",
        schema=Sentiment,
    )
    assert result.error is not None and result.error.code == "truncated"
    assert sim.stats(log=False)["received"] == 1


async def test_embeddings_request_in_a_structured_run_is_its_own_error(sim) -> None:
    emb = surge.Request(
        custom_id="e", url="/v1/embeddings", body={"model": "text-embedding-3-small", "input": "x"}
    )
    results = await surge.amap(
        ["fine", emb], endpoint=sim.base_url, model="gpt-4o-mini", schema=Sentiment
    )
    assert results[0].ok and isinstance(results[0].parsed, Sentiment)
    assert results[1].error is not None and results[1].error.code == "invalid_input"
    assert "embeddings" in results[1].error.message
    assert sim.stats()["received"] == 1  # never sent


async def test_refusals_are_reported_as_such_chat_and_responses(sim_factory) -> None:
    sim = sim_factory(schema_refusal_marker="[unsafe]")
    for api in ("chat", "responses"):
        fine, refused = await surge.amap(
            ["A fine review.", "An [unsafe] request."],
            endpoint=sim.base_url,
            options=surge.RunOptions(api=api, model="gpt-4o-mini"),
            schema=Sentiment,
        )
        assert fine.ok and isinstance(fine.parsed, Sentiment)
        assert refused.error is not None and refused.error.code == "refusal", api
        assert "can't help" in refused.error.message
        assert refused.attempts == 1  # a refusal is not re-asked
    assert sim.stats()["faults"]["refusal"] == 2
