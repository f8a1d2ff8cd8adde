"""Rate limits enforced the way providers do, through the real CLI against the simulator.

Each scenario is small (a few seconds): the bounds are derived from the scenario's own
numbers (the server's per-second quota, the requests' cost), with slack for a busy box.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from surge import _constants as C
from surge_sim import Simulator

from .helpers import chat_line, read_output, run_cli, sim_args, sim_log, write_jsonl

MAX_TOKENS = 50


def _rows(n: int, *, chars: int = 200, model: str = "gpt-4o-mini") -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        text = f"question {i:04d} " + "x" * (chars - 14)
        row = chat_line(f"r{i}", text, model=model)
        row["body"]["max_tokens"] = MAX_TOKENS
        rows.append(row)
    return rows


def _admitted(sim: Simulator, model: str | None = None) -> list[float]:
    return sorted(
        e["t"]
        for e in sim_log(sim)
        if e["status"] == 200 and (model is None or e["model"] == model)
    )


def _rate(times: list[float]) -> float:
    """Admissions per second after the first one (the first costs no wait)."""
    return (len(times) - 1) / (times[-1] - times[0])


def _run(sim: Simulator, tmp_path: Path, rows: list[dict[str, Any]], *extra: str) -> list[Any]:
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    proc = run_cli(src, "-o", out, *sim_args(sim, "-c", "30", *extra), timeout=90)
    assert proc.returncode == 0, proc.stderr
    records = read_output(out)
    assert len(records) == len(rows)
    assert all(r["error"] is None for r in records), [r["error"] for r in records if r["error"]]
    return records


def test_tokens_counted_like_openai_in_one_second_windows(sim_factory, tmp_path: Path) -> None:
    """60,000 TPM enforced per second (1,000 tokens each), charged characters/4 + max_tokens.

    Each request costs 50 + 50 = 100 tokens: 10 fit a window. The headers show the
    per-minute bucket (plenty of room) while the window refuses; surge must pace near
    1,000 tokens/s with at most the one refusal that reveals the short window.
    """
    sim = sim_factory(tpm=60_000, limit_quantum=1.0, token_counting="estimate", latency=0.05)
    rows = _rows(40)
    _run(sim, tmp_path, rows)
    stats = sim.stats(log=False)
    assert stats["tokens"]["rate_limit_charged"] == 40 * 100
    assert stats["by_status"].get("429", 0) <= 2, stats["by_status"]
    admitted = _admitted(sim)
    assert _rate(admitted) * 100 >= 0.8 * 1_000  # tokens/s against 1,000


def test_client_tpm_against_a_server_that_counts_characters(sim_factory, tmp_path: Path) -> None:
    """The same server, the client told --tpm: its estimate must match the server's charge."""
    sim = sim_factory(tpm=60_000, limit_quantum=1.0, token_counting="estimate", latency=0.05)
    _run(sim, tmp_path, _rows(40), "--tpm", "60000")
    stats = sim.stats(log=False)
    assert stats["by_status"].get("429", 0) <= 2, stats["by_status"]
    assert _rate(_admitted(sim)) * 100 >= 0.8 * 1_000


def test_no_headers_no_retry_after_the_rate_is_found(sim_factory, tmp_path: Path) -> None:
    """600 RPM per second (10 each), no x-ratelimit-* and no Retry-After, no client limit.

    surge sends a first wave (8 requests), then grows by half per round trip until refused, and
    paces at what the server admitted: one window's overshoot, then (nearly) no 429s.
    """
    sim = sim_factory(
        rpm=600, limit_quantum=1.0, limit_headers=False, retry_after=False, latency=0.05
    )
    _run(sim, tmp_path, _rows(60))
    log = sim_log(sim)
    refused = [e for e in log if e["status"] == 429]
    assert len(refused) <= 20, len(refused)  # the discovery overshoot, at most 2 windows
    late = [e for e in refused if e["t"] > log[0]["t"] + 3.0]
    assert len(late) <= 3, late  # once found, 429s are rare
    assert _rate(_admitted(sim)) >= 0.7 * 10


def test_each_model_runs_at_its_own_limit(sim_factory, tmp_path: Path) -> None:
    """Two models limited separately (one 300 RPM, the other 900 RPM, per second).

    One limiter for both would run both at one model's pace (or overrun the other);
    per-model limiters learn each model's headers and reach both limits at once. 429s:
    the slow model's first wave (FIRST_WAVE requests, sent before anything is known) meets
    a window of 5, so up to FIRST_WAVE - 5 are refused; then at most one refusal per model
    reveals its short window.
    """
    sim = sim_factory(
        limit_quantum=1.0,
        model_limits=(("gpt-4o-mini", 300, None), ("gpt-4.1-nano", 900, None)),
        latency=0.05,
    )
    rows = [*_rows(30, model="gpt-4o-mini"), *_rows(90, model="gpt-4.1-nano")]
    for i, row in enumerate(rows):
        row["custom_id"] = f"r{i}"
    rows = [rows[i] for i in sorted(range(len(rows)), key=lambda i: i % 4)]  # interleave
    _run(sim, tmp_path, rows)
    stats = sim.stats(log=False)
    assert stats["by_status"].get("429", 0) <= max(C.FIRST_WAVE - 5, 0) + 2, stats["by_model"]
    slow, fast = _admitted(sim, "gpt-4o-mini"), _admitted(sim, "gpt-4.1-nano")
    slow = slow[min(C.FIRST_WAVE, 5) - 1 :]  # the first wave fills one window at no wait
    assert _rate(slow) >= 0.8 * 5 and _rate(slow) <= 5 * 1.15
    assert _rate(fast) >= 0.8 * 15


def test_a_slow_model_does_not_hold_a_fast_one(sim_factory, tmp_path: Path) -> None:
    """The slow model's queue waits; the fast model's requests pass it (one FIFO per model)."""
    sim = sim_factory(
        limit_quantum=1.0,
        model_limits=(("gpt-4o-mini", 60, None), ("gpt-4.1-nano", 1200, None)),
        latency=0.05,
    )
    rows = [*_rows(4, model="gpt-4o-mini"), *_rows(40, model="gpt-4.1-nano")]
    for i, row in enumerate(rows):
        row["custom_id"] = f"r{i}"
    _run(sim, tmp_path, rows)  # the slow ones come first in the file
    slow, fast = _admitted(sim, "gpt-4o-mini"), _admitted(sim, "gpt-4.1-nano")
    # 40 fast requests at 20/s take ~2 s; the 4 slow ones at 1/s take ~3 s.
    assert fast[-1] - fast[0] <= 40 / 20 * 1.5
    assert fast[-1] < slow[-1]


def test_flex_unavailable_is_retried_and_falls_back(sim_factory, tmp_path: Path) -> None:
    """Flex 429s (resource_unavailable) are retried; after 2 a request goes at the default tier."""
    sim = sim_factory(flex_unavailable=0.6, seed=5, rpm=6000)
    rows = _rows(20)
    records = _run(sim, tmp_path, rows, "--service-tier", "flex", "--flex-fallback", "2")
    stats = sim.stats()
    assert stats["flex_unavailable"] > 0
    used = {"flex": 0, "default": 0}
    for record in records:
        note = record["surge"]["service_tier"]
        assert note["requested"] == "flex"
        used[note["used"]] += 1
        body = record["response"]["body"]
        assert body["service_tier"] == note["used"]
        if note["used"] == "default":
            assert note["unavailable"] == 2
        else:
            assert note["unavailable"] < 2
    assert used["flex"] > 0 and used["default"] > 0
    # Flex refusals are no rate limit: no request was refused for its rate.
    refused = [e for e in stats["requests"] if e["status"] == 429]
    assert len(refused) == stats["flex_unavailable"]


def test_flex_without_fallback_keeps_trying_flex(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(flex_unavailable=0.3, seed=2)
    records = _run(sim, tmp_path, _rows(10), "--service-tier", "flex", "--max-retries", "20")
    assert all(r["surge"]["service_tier"]["used"] == "flex" for r in records)
    assert all(r["response"]["body"]["service_tier"] == "flex" for r in records)
