"""Memory stays flat however long the input: 100,000 lines through the CLI."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from surge_sim import SimConfig, Simulator

from .helpers import cli_process, count_lines, sim_args

N = 100_000
LIMIT_MB = 150


@pytest.mark.slow
def test_rss_stays_bounded_on_a_huge_input(tmp_path: Path) -> None:
    # uvloop in the simulator's thread: the CLI, not the server, should be the bottleneck.
    with Simulator(SimConfig(log_requests=False)).run_in_thread(use_uvloop=True) as sim:
        _run_and_sample(sim, tmp_path)


def _run_and_sample(sim: Simulator, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    with open(src, "w") as f:
        for i in range(N):
            f.write(f"memory test prompt number {i}\n")
    out = tmp_path / "out.jsonl"

    started = time.monotonic()
    with cli_process(src, "-o", out, *sim_args(sim, "-c", "100")) as drain:
        ps = psutil.Process(drain.proc.pid)
        peak = cpu = 0.0
        while drain.proc.poll() is None and time.monotonic() - started < 100:
            try:
                peak = max(peak, ps.memory_info().rss)
                cpu = sum(ps.cpu_times()[:2])
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)
        code = drain.wait(timeout=10)
    wall = time.monotonic() - started
    assert code == 0, drain.stderr[-2000:]
    assert count_lines(out) == N
    assert sim.stats(log=False)["received"] == N
    assert peak / 2**20 < LIMIT_MB, f"peak RSS {peak / 2**20:.0f} MB"
    print(f"\n{N} requests in {wall:.1f}s (CLI cpu {cpu:.1f}s), peak RSS {peak / 2**20:.0f} MB")
