"""Cost, budget and cache end to end: ``surge estimate`` and ``surge run`` against the simulator."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from .helpers import by_id, cli_env, is_ok, read_output, run_cli, sim_log, write_jsonl

PRICES = {"gpt-4o-mini": {"input": 150.0, "output": 600.0}}  # USD per 1M: 1,000x real


def requests(n: int, *, max_tokens: int = 24) -> list[dict[str, object]]:
    return [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "gpt-4o-mini",
                "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": f"Question {i}: " + "word " * (i % 40)}],
            },
        }
        for i in range(n)
    ]


def estimate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "surge.cli.main", "estimate", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
    )


def test_estimate_is_within_15_percent_of_what_the_simulator_counts(sim, tmp_path: Path):
    src = write_jsonl(tmp_path / "in.jsonl", requests(300))
    proc = estimate(src, "--json", "--rpm", "600", "--concurrency", "10", "--latency", "0.5")
    assert proc.returncode == 0, proc.stderr
    doc = orjson.loads(proc.stdout)
    assert doc["requests"] == 300 and doc["cost_usd"]["batch"] < doc["cost_usd"]["online"]
    assert doc["wall_time_seconds"] == 30.0  # 300 requests at 600/min

    run = run_cli(src, "-o", tmp_path / "out.jsonl", "--base-url", sim.base_url, "-q")
    assert run.returncode == 0, run.stderr
    seen = sim.stats(log=False)["tokens"]
    assert sim.stats(log=False)["received"] == 300
    for key, counted in (("input_tokens", seen["prompt"]), ("output_tokens", seen["completion"])):
        assert abs(doc[key] - counted) <= 0.15 * counted, (key, doc[key], counted)
    total = doc["input_tokens"] + doc["output_tokens"]
    assert abs(total - seen["total"]) <= 0.15 * seen["total"]

    text = estimate(src, "--rpm", "600")
    assert text.returncode == 0 and "cost batch" in text.stdout and "wall time" in text.stdout
    assert sim.stats(log=False)["received"] == 300  # estimating sent nothing


def test_budget_stops_before_it_is_exceeded_then_a_higher_one_finishes(sim, tmp_path: Path):
    src = write_jsonl(tmp_path / "in.jsonl", requests(200))
    prices = tmp_path / "prices.json"
    prices.write_bytes(orjson.dumps(PRICES))
    out = tmp_path / "out.jsonl"
    common = ["-o", out, "--base-url", sim.base_url, "--prices", prices, "--progress", "none"]
    common += ["--concurrency", "8"]

    first = run_cli(src, *common, "--max-cost", "0.5")
    assert first.returncode == 1, first.stderr
    assert "budget reached" in first.stderr and "--max-cost 1.00" in first.stderr
    records = read_output(out)
    spent = sum(r["surge"]["cost_usd"] for r in records)
    assert 0 < len(records) < 200
    assert spent <= 0.5  # never over, in-flight requests included
    # What the server answered is what the output holds: nothing was left unrecorded.
    assert sim.stats(log=False)["received"] == len(records)

    second = run_cli(src, *common, "--max-cost", "10")
    assert second.returncode == 0, second.stderr
    final = by_id(read_output(out))
    assert len(final) == 200 and all(is_ok(r) for r in final.values())
    sent = [e["client_request_id"] for e in sim_log(sim)]
    assert len(sent) == len(set(sent)) == 200  # nothing re-sent


def test_max_cost_with_an_unknown_price_is_an_error_before_sending(sim, tmp_path: Path):
    rows = requests(3)
    rows[2]["body"]["model"] = "my-private-model"  # type: ignore[index]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    proc = run_cli(src, "-o", tmp_path / "out.jsonl", "--base-url", sim.base_url, "--max-cost", "1")
    assert proc.returncode == 2
    assert "no price known for my-private-model (1 requests)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sim.stats(log=False)["received"] == 0


def test_a_second_identical_run_is_answered_from_the_cache(sim, tmp_path: Path):
    src = write_jsonl(tmp_path / "in.jsonl", requests(150))
    cache = tmp_path / "cache.sqlite"
    common = ["--base-url", sim.base_url, "--cache", cache, "--progress", "none"]
    first = run_cli(src, "-o", tmp_path / "a.jsonl", *common)
    assert first.returncode == 0, first.stderr
    assert sim.stats(log=False)["received"] == 150
    # Library prices load while the first requests go out; every answer is still priced.
    costs = [r["surge"]["cost_usd"] for r in read_output(tmp_path / "a.jsonl")]
    assert all(c > 0 for c in costs)
    summary = re.search(r"cost \$([\d,.]+)", first.stderr)
    assert summary and float(summary[1].replace(",", "")) == pytest.approx(sum(costs), abs=1e-4)
    assert "without a price" not in first.stderr
    sim.reset_stats()

    second = run_cli(src, "-o", tmp_path / "b.jsonl", *common)
    assert second.returncode == 0, second.stderr
    assert sim.stats(log=False)["received"] == 0  # the server received nothing
    a = by_id(read_output(tmp_path / "a.jsonl"))
    b = by_id(read_output(tmp_path / "b.jsonl"))
    assert all(r["surge"].get("cache") == "hit" and r["surge"]["cost_usd"] == 0 for r in b.values())
    assert all(b[c]["response"]["body"] == a[c]["response"]["body"] for c in a)
    assert "150 cache hits" in second.stderr

    bypass = run_cli(src, "-o", tmp_path / "c.jsonl", *common, "--no-cache")
    assert bypass.returncode == 0 and sim.stats(log=False)["received"] == 150
