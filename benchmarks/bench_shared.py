"""Past one process: 4 runs sharing a Redis limiter, Ray with 2 actors, --workers 2 vs 1.

    python benchmarks/bench_shared.py                   # all three scenarios
    python benchmarks/bench_shared.py --only redis      # or: ray, workers

redis: four separate ``surge run`` processes, each told the whole limit (``--rpm 1200``)
and pointed at one ``redis-server`` (started here on a free port), against a simulator
allowing 1,200 requests/min. The simulator's quota is drained first (as in
bench_ratelimit.py) so the run starts at the steady state. Achieved rate = (arrivals - 1)
/ (last - first arrival) from the simulator's log, as % of the limit (target >= 97%);
429s as % of attempts (target < 0.5%).

ray: ``surge.ray.process`` with 2 actors on a local 2-CPU Ray cluster, same server and
targets (>= 95%), plus each custom_id exactly once in the results.

workers: ``surge run --workers 1`` vs ``--workers 2`` on a zero-latency, unlimited
simulator: wall, requests/s, and CPU seconds per 1,000 requests for surge (all its
processes) and for the simulator (which shares the same 2 cores). ``--profile`` prints
where one process spends its CPU (cProfile, top functions by own time).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _baselines import raw_aiohttp
from _common import WORK, Sim, batch_line, sim, surge_command

RPM = 1200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.02)
    return proc, f"redis://127.0.0.1:{port}/0"


def write_lines(path: Path, ids: range) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for i in ids:
            f.write(json.dumps(batch_line(i)) + "\n")
    return path


def pacing(server: Sim, before: dict[str, int]) -> tuple[float, float, int]:
    """Achieved % of the limit, % of attempts refused, and 200s since ``before``."""
    stats = server.stats()
    arrivals = sorted(e["t"] for e in stats["requests"] if e["status"] == 200)
    statuses = {k: int(v) - before.get(k, 0) for k, v in stats["by_status"].items()}
    ok = statuses.get("200", 0)
    arrivals = arrivals[-ok:]
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) * 60
    attempts = sum(statuses.values())
    return 100 * rate / RPM, 100 * statuses.get("429", 0) / attempts, ok


def bench_redis(n: int, quantum: float) -> None:
    redis, url = start_redis()
    work = Path(tempfile.mkdtemp(dir=WORK if WORK.exists() else None))
    extra = ["--limit-quantum", str(quantum)] if quantum else []
    try:
        with sim("--rpm", str(RPM), "--latency", "0.05", *extra) as server:
            raw_aiohttp(server.url, RPM + RPM // 10, 200)  # drain the full bucket
            before = server.statuses()
            share = n // 4
            procs = []
            t0 = time.perf_counter()
            for p in range(4):
                inp = write_lines(work / f"in{p}.jsonl", range(p * share, (p + 1) * share))
                cmd = [*surge_command(), "run", str(inp), "-o", str(work / f"out{p}.jsonl")]
                cmd += ["--base-url", server.url, "--api-key", "sk-test", "-q"]
                cmd += ["--rpm", str(RPM), "--limiter", url]
                procs.append(subprocess.Popen(cmd))
            codes = [proc.wait() for proc in procs]
            wall = time.perf_counter() - t0
            pct, refused, ok = pacing(server, before)
        per = f", enforced per {quantum:g} s" if quantum else ""
        print(f"\n4 x surge run --limiter redis:// (--rpm {RPM} each{per}), {n} requests")
        print(f"  exit codes {codes}; ok {ok}/{n}; wall {wall:.1f}s incl. start-up")
        print(f"  achieved {pct:.1f}% of {RPM} rpm (target >= 97%); 429s {refused:.2f}% (< 0.5%)")
    finally:
        redis.kill()
        shutil.rmtree(work, ignore_errors=True)


def bench_ray(n: int) -> None:
    import ray

    import surge
    import surge.ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        with sim("--rpm", str(RPM), "--latency", "0.05") as server:
            ds = ray.data.from_items([batch_line(i) for i in range(n)])
            results = surge.ray.process(
                ds, endpoint=server.url, limits=surge.Limits(rpm=RPM), actors=2, batch_size=50
            )
            # Start the actors before draining, so start-up is not in the measured window.
            raw_aiohttp(server.url, RPM + RPM // 10, 200)
            before = server.statuses()
            t0 = time.perf_counter()
            rows = results.take_all()
            wall = time.perf_counter() - t0
            pct, refused, ok = pacing(server, before)
        ids = [r["custom_id"] for r in rows]
        once = len(ids) == len(set(ids)) == n
        print(f"\nsurge.ray.process, 2 actors, limits rpm={RPM}, {n} requests")
        print(f"  ok {ok}/{n}; wall {wall:.1f}s incl. actor start-up; each custom_id once: {once}")
        print(f"  achieved {pct:.1f}% of {RPM} rpm (target >= 95%); 429s {refused:.2f}% (< 0.5%)")
    finally:
        ray.shutdown()


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_workers(n: int, profile: bool) -> None:
    work = Path(tempfile.mkdtemp(dir=WORK if WORK.exists() else None))
    inp = write_lines(work / "in.jsonl", range(n))
    rows: list[tuple[int, float, float, float]] = []
    try:
        for workers in (1, 2, 1, 2):
            with sim("--no-log") as server:
                out = work / f"out-{workers}.jsonl"
                out.unlink(missing_ok=True)
                cmd = [*surge_command(), "run", str(inp), "-o", str(out), "-q", "-c", "200"]
                cmd += ["--base-url", server.url, "--api-key", "sk-test"]
                cmd += ["--workers", str(workers)]
                sim_cpu, cpu = _cpu_of(server.proc.pid), _children_cpu()
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True)
                wall = time.perf_counter() - t0
                rows.append(
                    (workers, wall, _children_cpu() - cpu, _cpu_of(server.proc.pid) - sim_cpu)
                )
        print(f"\nsurge run --workers N, zero-latency simulator, {n:,} requests, -c 200")
        print(
            f"{'workers':>7} {'wall s':>7} {'req/s':>7} {'surge CPU s/1k':>15} {'sim CPU s/1k':>13}"
        )
        for workers, wall, cpu, sim_cpu in rows:
            print(
                f"{workers:>7} {wall:>7.2f} {n / wall:>7.0f} {cpu / n * 1000:>15.3f} "
                f"{sim_cpu / n * 1000:>13.3f}"
            )
        if profile:
            _profile(inp, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _profile(inp: Path, work: Path) -> None:
    import pstats

    stats_file = work / "prof"
    with sim("--no-log") as server:
        code = (
            "import sys; from surge.cli.main import main; "
            f"sys.argv=['surge','run',{str(inp)!r},'-o',{str(work / 'p.jsonl')!r},'-q','-c','200',"
            f"'--base-url',{server.url!r},'--api-key','sk-test','--progress','none']; main()"
        )
        script = work / "profiled.py"
        script.write_text(code + "\n", encoding="utf-8")
        subprocess.run(
            [sys.executable, "-m", "cProfile", "-o", str(stats_file), str(script)], check=False
        )
    print("\nwhere one worker spends its CPU (cProfile, top 15 by own time):")
    stats: Any = pstats.Stats(str(stats_file))
    stats.sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["redis", "ray", "workers"])
    parser.add_argument("--n", type=int, default=600, help="requests in the rate-limited runs")
    parser.add_argument("--n-workers", type=int, default=20_000, help="requests in --workers")
    parser.add_argument("--profile", action="store_true", help="cProfile one process")
    parser.add_argument(
        "--quantum", type=float, default=1.0, help="simulator enforces per N s (0: bucket)"
    )
    args = parser.parse_args()
    if args.only in (None, "redis"):
        bench_redis(args.n, args.quantum)
    if args.only in (None, "ray"):
        bench_ray(args.n)
    if args.only in (None, "workers"):
        bench_workers(args.n_workers, args.profile)


if __name__ == "__main__":
    main()
