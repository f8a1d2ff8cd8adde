"""A 20,000-row CSV through a table run: memory stays flat (rows are streamed).

As for ``surge run`` (test_run_memory.py): past the first fifth of the rows, RSS may grow
by at most ``GROWTH_MB`` (< ~0.5 KB per further row), besides staying under 150 MB.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from surge_sim import SimConfig, Simulator

from .helpers import cli_process, sim_args, trace_memory

N = 20_000
LIMIT_MB = 150
GROWTH_MB = 8  # over the last 16,000 rows


@pytest.mark.slow
def test_rss_stays_bounded_on_a_big_csv(tmp_path: Path) -> None:
    src = tmp_path / "reviews.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "review"])
        for i in range(N):
            writer.writerow([i, f'Review {i}: "good", but slow,\nwould come back {i % 7}'])
    out = tmp_path / "out.csv"
    with Simulator(SimConfig(log_requests=False)).run_in_thread(use_uvloop=True) as sim:
        started = time.monotonic()
        args = sim_args(sim, "-c", "100", "--template", "Classify: {review}")
        with cli_process(src, "-o", out, *args) as drain:
            trace = trace_memory(drain, lambda: sim.stats(log=False)["received"], timeout=150)
            code = drain.wait(timeout=10)
        assert code == 0, drain.stderr[-2000:]
        assert sim.stats(log=False)["received"] == N
    with open(out, newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f)
        count = sum(1 for row in rows if row["status"] == "ok" and row["answer"])
    assert count == N
    assert trace.peak < LIMIT_MB, f"peak RSS {trace.peak:.0f} MB"
    growth = trace.growth_after(N // 5)
    assert growth < GROWTH_MB, f"RSS grew {growth:.1f} MB over the last 80% of the rows"
    wall = time.monotonic() - started
    print(f"\n{N} rows in {wall:.1f}s, peak RSS {trace.peak:.0f} MB, late growth {growth:.1f} MB")
