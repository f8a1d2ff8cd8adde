"""Fan-out → synthesis against the simulator: the library, staged reduction, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

import surge
from surge._limits.tokens import TokenCounter
from surge.workflows.synthesis import answer_block, summary_block, synthesis_prompt
from surge_sim import prompt_digest

from .helpers import cli_env

CITY = "Lisbon"
QUESTIONS = [
    f"What are the three must-see attractions in {CITY}, and why?",
    f"What is the best way for a visitor to get around {CITY}?",
    f"Which local customs or etiquette should a visitor to {CITY} know?",
]
GUIDE = f"Write a short, practical travel guide for {CITY}."


def _tag(text: str | None) -> str:
    assert text is not None and text.startswith("[sim:")
    return text[5:17]


def test_travel_guide_sync(sim_factory) -> None:
    sim = sim_factory(latency=0.2)
    events: list[surge.Event] = []
    guide = surge.fanout_sync(
        QUESTIONS,
        synthesize=GUIDE,
        model="gpt-4o-mini",
        system="You are a concise travel researcher.",
        endpoint=sim.base_url,
        on_event=events.append,
    )
    assert guide.ok and guide.missing == [] and guide.levels == 0
    assert [a.question for a in guide.answers] == QUESTIONS
    for answer in guide.answers:
        assert answer.ok and _tag(answer.text) == prompt_digest(answer.question)
        assert answer.latency is not None and answer.latency >= 0.19
        assert answer.usage is not None and answer.usage["completion_tokens"] > 0
    # Concurrent: the fan-out took about one latency, not three.
    assert guide.fan_out_seconds < 0.2 * len(QUESTIONS) * 0.8
    # The synthesis carried every question and answer, in the original order.
    blocks = [answer_block(i, a.question, a.text or "") for i, a in enumerate(guide.answers, 1)]
    assert _tag(guide.text) == prompt_digest(synthesis_prompt(GUIDE, blocks))
    stages = [(e.stage, e.size) for e in events if isinstance(e, surge.StageStarted)]
    assert stages == [("ask", 3), ("synthesize", 1)]
    finished = [e for e in events if isinstance(e, surge.StageFinished)]
    assert [(e.stage, e.succeeded, e.failed) for e in finished] == [
        ("ask", 3, 0),
        ("synthesize", 1, 0),
    ]
    assert sim.stats()["by_status"] == {"200": 4}


async def test_too_large_synthesis_is_reduced_in_stages(sim) -> None:
    questions = [f"Question number {i}: tell me about topic {i}." for i in range(1, 9)]
    budget = 220
    events: list[surge.Event] = []
    result = await surge.fanout(
        questions,
        synthesize="Combine the findings.",
        model="gpt-4o-mini",
        endpoint=sim.base_url,
        context_tokens=budget,
        on_event=events.append,
    )
    assert result.ok and result.levels >= 1
    stages = [e.stage for e in events if isinstance(e, surge.StageStarted)]
    assert stages[0] == "ask" and stages[-1] == "synthesize"
    assert stages[1:-1] == [f"reduce-{n}" for n in range(1, result.levels + 1)]
    # Everything asked at once would not have fitted ...
    counter = TokenCounter()
    counter.load()
    blocks = [answer_block(i, a.question, a.text or "") for i, a in enumerate(result.answers, 1)]
    assert counter.count([synthesis_prompt("Combine the findings.", blocks)], "o200k_base") > budget
    # ... and every request of the reduction carried at most the budget (the last level's
    # condensed parts are what the final synthesis saw: its tag proves which prompt it got).
    last = [r for r in result.condensed if r.custom_id.startswith(f"reduce-{result.levels}-")]
    assert last and all(r.ok for r in result.condensed)
    spans = _spans(len(questions), len(last), result)
    final = synthesis_prompt(
        "Combine the findings.",
        [summary_block(a, b, r.text or "") for (a, b), r in zip(spans, last, strict=True)],
    )
    assert _tag(result.text) == prompt_digest(final)
    assert counter.count([final], "o200k_base") <= budget


def _spans(n: int, parts: int, result: Any) -> list[tuple[int, int]]:
    """Which questions each last-level part covers (consecutive groups, planned greedily)."""
    from surge.workflows.synthesis import group_prompt, plan_groups

    counter = TokenCounter()
    counter.load()
    blocks = [answer_block(i, a.question, a.text or "") for i, a in enumerate(result.answers, 1)]
    spans = [(i, i) for i in range(1, n + 1)]
    framing = max(
        counter.count([synthesis_prompt("Combine the findings.", [])], "o200k_base"),
        counter.count([group_prompt("Combine the findings.", [], 99, 99)], "o200k_base"),
    )
    budget = 220 - framing
    for level in range(1, result.levels + 1):
        groups = plan_groups([counter.count([b], "o200k_base") for b in blocks], budget)
        texts = [
            r.text or "" for r in result.condensed if r.custom_id.startswith(f"reduce-{level}-")
        ]
        spans = [(spans[g[0]][0], spans[g[-1]][1]) for g in groups]
        blocks = [summary_block(a, b, t) for (a, b), t in zip(spans, texts, strict=True)]
    assert len(spans) == parts
    return spans


async def test_failed_question_is_named_missing_or_fails_by_option(sim_factory) -> None:
    # The provider keeps refusing one question (a 429 that never clears); no retries, so it
    # fails at once. The marker sits past the 200 characters the missing-part note quotes,
    # so the synthesis itself is not refused.
    sim = sim_factory(refuse_marker="[refused]")
    failing = "Tell me everything about " + "the history of the city, " * 10 + "[refused]"
    questions = [QUESTIONS[0], failing, QUESTIONS[2]]
    kwargs: dict[str, Any] = {
        "synthesize": GUIDE,
        "model": "gpt-4o-mini",
        "endpoint": sim.base_url,
        "retry": surge.RetryPolicy(max_retries=0),
    }
    events: list[surge.Event] = []
    result = await surge.fanout(questions, on_event=events.append, **kwargs)
    assert result.ok and result.missing == [failing]
    assert [a.ok for a in result.answers] == [True, False, True]
    assert result.answers[1].result.error is not None
    failed = [e.result.custom_id for e in events if isinstance(e, surge.RequestFailed)]
    assert failed == ["ask-2"]
    ask_done = next(e for e in events if isinstance(e, surge.StageFinished))
    assert (ask_done.stage, ask_done.succeeded, ask_done.failed) == ("ask", 2, 1)
    ok_blocks = [
        answer_block(i, a.question, a.text or "") for i, a in enumerate(result.answers, 1) if a.ok
    ]
    assert _tag(result.text) == prompt_digest(synthesis_prompt(GUIDE, ok_blocks, [(2, failing)]))
    with pytest.raises(surge.RequestError, match=r"question\(s\) 2 of 3"):
        await surge.fanout(questions, require_all=True, **kwargs)


class Guide(BaseModel):
    title: str
    tips: list[str]


def _fanout_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "surge.cli.main", "fanout", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
    )


def test_cli_live_lines_in_finish_order_then_the_synthesis(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(latency=0.15, latency_jitter=0.14, seed=4)
    qfile = tmp_path / "questions.txt"
    qfile.write_text("\n".join(QUESTIONS[1:]) + "\n\n")
    proc = _fanout_cli(
        QUESTIONS[0],
        "--questions-file",
        str(qfile),
        "--synthesize",
        GUIDE,
        "--model",
        "gpt-4o-mini",
        "--base-url",
        sim.base_url,
        "--param",
        "temperature=0",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    live = [line for line in lines if line.startswith("  +")]
    asking = [line for line in live if "asking" in line]
    answered = [line for line in live if "answered" in line]
    assert len(asking) == 3 and len(answered) == 3

    # Real finish order: by latency, which the simulator's jitter made differ per question.
    # Each "answered" line is printed when that question finishes: at its "asking" time
    # plus its latency (not all at the end, not in input order).
    def at(line: str) -> float:
        return float(line.split("+", 1)[1].split()[0])

    for question in QUESTIONS:
        asked = next(line for line in asking if question[:40] in line)
        done = next(line for line in answered if question[:40] in line)
        latency = float(done.rsplit(" in ", 1)[1].split()[0])
        assert abs(at(done) - (at(asked) + latency)) < 0.05, (asked, done)
    assert [at(line) for line in answered] == sorted(at(line) for line in answered)
    synthesis_at = next(i for i, line in enumerate(live) if "synthesizing" in line)
    assert live.index(answered[-1]) < synthesis_at
    assert proc.stdout.startswith("[sim:")

    # A structured synthesis, as JSON.
    schema = tmp_path / "guide.json"
    schema.write_bytes(orjson.dumps(Guide.model_json_schema()))
    proc = _fanout_cli(
        *QUESTIONS, "--synthesize", GUIDE, "--model", "gpt-4o-mini",
        "--base-url", sim.base_url, "--schema", str(schema), "--json", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = orjson.loads(proc.stdout)
    assert Guide.model_validate(doc["synthesis"]["parsed"])
    assert [a["question"] for a in doc["answers"]] == QUESTIONS
    assert all(a["latency_s"] > 0 and a["usage"]["total_tokens"] > 0 for a in doc["answers"])
    assert proc.stderr == ""


def test_cli_usage_errors(sim) -> None:
    proc = _fanout_cli("--synthesize", "x", "--model", "m", "--base-url", sim.base_url)
    assert proc.returncode == 2 and "no questions" in proc.stderr
    proc = _fanout_cli("q", "--synthesize", "x", "--model", "m", "--schema", "nope.json")
    assert proc.returncode == 2 and "nope.json" in proc.stderr
    assert sim.stats()["received"] == 0


async def test_stages_map_map_reduce(sim) -> None:
    events: list[surge.Event] = []
    runner = surge.StageRunner(model="gpt-4o-mini", endpoint=sim.base_url, on_event=events.append)
    papers = ["paper A", "paper B", "paper C"]
    notes = await runner.map(surge.MapStage("read", lambda p: f"Key claims of: {p}"), papers)
    critiques = await runner.map(
        surge.MapStage(
            "critique", lambda r: {"prompt": f"Critique: {r.text}", "system": "Be fair."}
        ),
        notes,
    )
    report = await runner.reduce(
        surge.ReduceStage(
            "report", lambda rs: "Summarize:\n" + "\n".join(r.text or "" for r in rs)
        ),
        critiques,
    )
    assert [r.custom_id for r in notes] == ["read-1", "read-2", "read-3"]
    for paper, note, critique in zip(papers, notes, critiques, strict=True):
        assert _tag(note.text) == prompt_digest(f"Key claims of: {paper}")
        assert _tag(critique.text) == prompt_digest(f"Critique: {note.text}")
    assert report.custom_id == "report"
    assert _tag(report.text) == prompt_digest(
        "Summarize:\n" + "\n".join(c.text or "" for c in critiques)
    )
    stages = [(e.stage, e.size) for e in events if isinstance(e, surge.StageStarted)]
    assert stages == [("read", 3), ("critique", 3), ("report", 1)]
