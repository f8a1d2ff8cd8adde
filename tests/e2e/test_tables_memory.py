"""A 50,000-row CSV through a table run: memory stays bounded (rows are streamed)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import psutil
import pytest

from surge_sim import SimConfig, Simulator

from .helpers import cli_process, sim_args

N = 50_000
LIMIT_MB = 150


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
            ps = psutil.Process(drain.proc.pid)
            peak = 0.0
            while drain.proc.poll() is None and time.monotonic() - started < 150:
                try:
                    peak = max(peak, ps.memory_info().rss)
                except psutil.NoSuchProcess:
                    break
                time.sleep(0.05)
            code = drain.wait(timeout=10)
        assert code == 0, drain.stderr[-2000:]
        assert sim.stats(log=False)["received"] == N
    with open(out, newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f)
        count = sum(1 for row in rows if row["status"] == "ok" and row["answer"])
    assert count == N
    assert peak / 2**20 < LIMIT_MB, f"peak RSS {peak / 2**20:.0f} MB"
    wall = time.monotonic() - started
    print(f"\n{N} rows in {wall:.1f}s, peak RSS {peak / 2**20:.0f} MB")
