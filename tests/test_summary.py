"""format_summary / summary_dict on hand-built RunStats."""

from __future__ import annotations

import json
import re

import pytest

from surge.cli.summary import format_summary, human_count, human_duration, summary_dict
from surge.events import RunStats


def finished_stats() -> RunStats:
    stats = RunStats(total=5_310, started_at=100.0, finished_at=112.5)
    stats.done, stats.succeeded, stats.failed, stats.invalid = 5_010, 4_990, 18, 2
    stats.skipped = 300
    stats.attempts, stats.retries, stats.rate_limited = 5_030, 20, 3
    stats.tokens_in, stats.tokens_out = 51_234, 20_456
    stats.errors_by_code = {"timeout": 3, "server_error": 15, "invalid_input": 2}
    stats.latencies.extend([0.1 * i for i in range(1, 101)])
    return stats


def test_summary_dict_has_every_figure_and_is_json_ready() -> None:
    d = summary_dict(finished_stats(), output="out.jsonl")
    assert json.loads(json.dumps(d)) == d
    assert d["total"] == 5_310
    assert (d["succeeded"], d["failed"], d["invalid"], d["skipped"]) == (4_990, 18, 2, 300)
    assert d["failed_by_code"] == {"server_error": 15, "timeout": 3}  # invalid lines apart
    assert list(d["failed_by_code"]) == ["server_error", "timeout"]  # most frequent first
    assert d["wall_seconds"] == 12.5
    assert d["requests_per_second"] == pytest.approx(5_010 / 12.5, abs=0.01)
    assert (d["attempts"], d["retries"], d["rate_limited"]) == (5_030, 20, 3)
    assert (d["tokens_in"], d["tokens_out"]) == (51_234, 20_456)
    # A streaming sketch: within 1% of the exact percentiles.
    assert d["latency_ms"]["p50"] == pytest.approx(5_050, rel=0.01)
    assert d["latency_ms"]["p99"] == pytest.approx(9_901, rel=0.01)
    assert d["output"] == "out.jsonl"


def test_format_summary_lists_outcomes_rates_tokens_latency_and_output() -> None:
    text = format_summary(finished_stats(), output="out.jsonl")
    first, *rest = text.splitlines()
    assert first == (
        "surge: 4,990 succeeded, 18 failed, 2 invalid input lines, 300 skipped (already done)"
    )
    body = "\n".join(rest)
    assert "server_error 15, timeout 3" in body
    assert "12.5s (400.8 req/s)" in body
    assert "5,030 (20 retries, 3 rate-limited 429s)" in body
    assert "51,234 in / 20,456 out" in body
    # Percentiles from a streaming sketch: within 1% of 5,050 / 9,505 / 9,901 ms.
    assert re.search(r"p50 5,0\d\d ms, p95 9,[45]\d\d ms, p99 9,[89]\d\d ms", body), body
    assert body.endswith("output      out.jsonl")


def test_empty_run_summary_has_no_latency_or_failure_rows() -> None:
    stats = RunStats(total=0, started_at=1.0, finished_at=1.5)
    assert summary_dict(stats)["latency_ms"] is None
    text = format_summary(stats)
    assert text.splitlines()[0] == "surge: 0 succeeded, 0 failed"
    assert "latency" not in text and "output" not in text and "failed " not in text


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0"), (999, "999"), (1_234, "1.2k"), (51_234, "51k"), (2_500_000, "2.5M"), (3e9, "3.0G")],
)
def test_human_count(n: float, text: str) -> None:
    assert human_count(n) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "?"), (3.14, "3.1s"), (12.4, "12s"), (245, "4m05s"), (3_725, "1h02m")],
)
def test_human_duration(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text


def test_failures_are_split_permanent_and_transient_and_resume_counts_shown() -> None:
    stats = finished_stats()
    stats.failed_transient = 15
    stats.resent_changed, stats.stale_removed = 12, 1
    d = summary_dict(stats)
    assert (d["failed_permanent"], d["failed_transient"]) == (3, 15)
    assert (d["resent_changed"], d["stale_removed"]) == (12, 1)
    text = format_summary(stats)
    assert "(3 permanent; 15 transient: --retry-failed may fix them)" in text
    assert "resumed     12 re-sent because they changed, 1 stale answer removed" in text


def test_permanent_failures_alone_never_mention_retry_failed() -> None:
    stats = finished_stats()
    text = format_summary(stats)
    assert "18 permanent" in text and "--retry-failed" not in text
    assert "resumed" not in text
