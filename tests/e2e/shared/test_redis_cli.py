"""Several ``surge run`` processes sharing one Redis limiter, against the simulator.

The simulator's bucket starts full and would take every request at once: the pacing seen
in its log is the shared limiter's. Each process is told the whole limit (``--rpm``), so
without sharing they would send three times too fast.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from ..helpers import (
    Drain,
    SimProcess,
    by_id,
    chat_line,
    is_ok,
    read_output,
    run_cli,
    sim_args,
    start_cli,
    wait_for_lines,
    write_jsonl,
)
from .conftest import RedisServer


def _inputs(tmp_path: Path, procs: int, n: int) -> list[Path]:
    return [
        write_jsonl(
            tmp_path / f"in{p}.jsonl", [chat_line(f"p{p}-{i}", f"q {p} {i}") for i in range(n)]
        )
        for p in range(procs)
    ]


def _max_in_window(arrivals: list[float], seconds: float) -> int:
    arrivals = sorted(arrivals)
    return max(sum(1 for u in arrivals[i:] if u < t + seconds) for i, t in enumerate(arrivals))


def test_three_processes_share_one_limit(redis_server: RedisServer, tmp_path: Path) -> None:
    # Arrivals are timed by a simulator in its own process (see SimProcess): in a thread
    # of this one, draining three CLIs' output here could stall it and bunch them.
    sim = SimProcess("--rpm", "1200")
    try:
        _share_one_limit(sim, redis_server, tmp_path)
    finally:
        sim.stop()


def _share_one_limit(sim: SimProcess, redis_server: RedisServer, tmp_path: Path) -> None:
    procs = [
        start_cli(
            path,
            "-o",
            tmp_path / f"out{p}.jsonl",
            *sim_args(sim, "--rpm", "1200", "--limiter", redis_server.url),
        )
        for p, path in enumerate(_inputs(tmp_path, 3, 30))
    ]
    drains = [Drain(proc) for proc in procs]
    for d in drains:
        assert d.wait(60) == 0, d.stderr
    for p in range(3):
        records = read_output(tmp_path / f"out{p}.jsonl")
        assert len(by_id(records)) == 30 and all(is_ok(r) for r in records)
    stats = sim.stats()
    assert stats["by_status"] == {"200": 90}
    arrivals = sorted(e["t"] for e in stats["requests"])
    # 1200/min at 99%: 19.8/s for everyone together (alone, each would send 19.8/s).
    span = arrivals[-1] - arrivals[0]
    assert 89 / span <= 20.0
    assert 89 / span >= 0.9 * 19.8, f"only {89 / span:.1f}/s"
    assert _max_in_window(arrivals, 1.0) <= 21


def test_redis_lost_mid_run_stops_launching_and_says_so(
    sim_factory, redis_server: RedisServer, tmp_path: Path
) -> None:
    sim = sim_factory(latency=0.2)
    (path,) = _inputs(tmp_path, 1, 200)
    out = tmp_path / "out.jsonl"
    proc = start_cli(path, "-o", out, *sim_args(sim, "--rpm", "600", "--limiter", redis_server.url))
    drain = Drain(proc)
    wait_for_lines(out, 10, proc)
    redis_server.stop()
    lost_at = time.monotonic()
    code = drain.wait(30)
    assert code == 3, drain.stderr
    assert "became unreachable" in drain.stderr and "Resume with" in drain.stderr
    assert "Traceback" not in drain.stderr
    records = by_id(read_output(out))
    received = sim.stats()["received"]
    # Everything sent was recorded (in flight finished), and launching stopped at once:
    # at 10/s, at most ~0.3 s worth went out after Redis died.
    assert len(records) == received
    late = [e for e in sim.stats()["requests"] if e["t"] > lost_at + 0.5]
    assert not late
    assert received < 200


def test_fallback_goes_on_with_local_limits(
    sim_factory, redis_server: RedisServer, tmp_path: Path
) -> None:
    sim = sim_factory(latency=0.05)
    (path,) = _inputs(tmp_path, 1, 40)
    out = tmp_path / "out.jsonl"
    proc = start_cli(
        path,
        "-o",
        out,
        *sim_args(sim, "--rpm", "1200", "--limiter", redis_server.url, "--limiter-fallback"),
    )
    drain = Drain(proc)
    wait_for_lines(out, 5, proc)
    redis_server.stop()
    assert drain.wait(30) == 0, drain.stderr
    assert "going on with a local limiter" in drain.stderr
    assert len(by_id(read_output(out))) == 40


def test_unreachable_limiter_at_start_sends_nothing(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory()
    (path,) = _inputs(tmp_path, 1, 5)
    proc = run_cli(
        path, "-o", tmp_path / "out.jsonl", *sim_args(sim, "--limiter", "redis://127.0.0.1:1/0")
    )
    assert proc.returncode == 2
    assert "cannot reach the shared limiter redis://127.0.0.1:1/0" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sim.stats()["received"] == 0


def test_bad_limiter_address_is_a_usage_error(tmp_path: Path) -> None:
    (path,) = _inputs(tmp_path, 1, 1)
    proc = run_cli(path, "-o", tmp_path / "o.jsonl", "--limiter", "memcached://x:1", "--model", "m")
    assert proc.returncode == 2
    assert "--limiter must be a redis://HOST:PORT/DB address" in proc.stderr
    _ = subprocess  # the CLI runs as a real subprocess throughout
