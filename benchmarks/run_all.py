"""Run every benchmark scenario in sequence with its default sizes.

    python benchmarks/run_all.py            # everything
    python benchmarks/run_all.py --no-surge # baselines only (before the engine lands)
    python benchmarks/run_all.py --quick    # smaller N, for a smoke test

Each scenario runs as its own process (a fresh interpreter and a fresh simulator), so one
scenario's memory or sockets never colour the next one's numbers.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

SCENARIOS: list[tuple[str, list[str], list[str]]] = [
    # (script, extra args, extra args with --quick)
    ("bench_overhead.py", [], ["--n", "600"]),
    ("bench_latency.py", [], ["--n", "300", "--seq-n", "5"]),
    ("bench_ratelimit.py", [], ["--n", "200"]),
    ("bench_tokens.py", [], ["--n", "100"]),
    ("bench_provider_limits.py", [], ["--repeat", "1", "--n", "120"]),
    ("bench_faulty.py", [], ["--n", "300"]),
    ("bench_memory.py", [], ["--n", "20000"]),
    ("bench_startup.py", [], ["--repeat", "2"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-surge", action="store_true", help="baselines only")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--only", nargs="*", default=None, help="scenario names to run")
    args = parser.parse_args()

    failed = []
    for script, extra, quick in SCENARIOS:
        if args.only and not any(name in script for name in args.only):
            continue
        cmd = [sys.executable, str(HERE / script), *extra, *(quick if args.quick else [])]
        if args.no_surge:
            cmd.append("--no-surge")
        print(f"\n=== {script} {' '.join(cmd[2:])}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call(cmd)
        print(f"=== {script}: exit {code} in {time.perf_counter() - t0:.1f} s", flush=True)
        if code:
            failed.append(script)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
