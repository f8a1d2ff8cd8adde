"""Memory stays flat however long the input: 30,000 lines through the CLI.

Flat, not just small: past the first fifth of the run, RSS may grow by at most
``GROWTH_MB``, i.e. less than ~0.5 KB per further request, a tighter bound on a leak
than 150 MB after 100,000 requests was (0.77 KB per request), at a third of the requests.
What surge keeps per request by design (its custom_id, for resume) is ~0.1 KB.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from surge_sim import SimConfig, Simulator

from .helpers import cli_process, count_lines, sim_args, trace_memory

N = 30_000
LIMIT_MB = 150
GROWTH_MB = 12  # over the last 24,000 requests


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
        trace = trace_memory(drain, lambda: sim.stats(log=False)["received"], timeout=100)
        code = drain.wait(timeout=10)
    wall = time.monotonic() - started
    assert code == 0, drain.stderr[-2000:]
    assert count_lines(out) == N
    assert sim.stats(log=False)["received"] == N
    assert trace.peak < LIMIT_MB, f"peak RSS {trace.peak:.0f} MB"
    growth = trace.growth_after(N // 5)
    assert growth < GROWTH_MB, f"RSS grew {growth:.1f} MB over the last 80% of the run"
    print(
        f"\n{N} requests in {wall:.1f}s, peak RSS {trace.peak:.0f} MB, late growth {growth:.1f} MB"
    )
