"""Time to first request: from starting ``surge run`` to its first request reaching the server.

    python benchmarks/bench_startup.py --n 20 --repeat 7

A small ``surge run`` (``--n`` requests) is started as a subprocess against the simulator,
``--repeat`` times per variant; the first arrival in the simulator's request log, minus the
moment the process was started, is that run's time to first request (interpreter start-up
included: it is what a user waits). Variants: quiet (``-q``: no summary, so no prices),
the default (a summary with the cost, so genai-prices is loaded), and ``--max-cost`` (the
prices are needed before the first request, to check every model has one). The median
and the best of each are printed; the baseline is ``python -c pass`` measured the same way
(interpreter start-up alone).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from _common import MODEL, WORK, Sim, base_parser, require_surge, sim, surge_command, write_input


def _started_at(server: Sim) -> float:
    """The simulator's start on this process's monotonic clock (the log's zero)."""
    before = time.monotonic()
    uptime = float(server.stats()["uptime"])
    after = time.monotonic()
    return (before + after) / 2 - uptime


def first_request(server: Sim, zero: float, cmd: list[str]) -> float:
    """Seconds from starting ``cmd`` to the first request it sent arriving at ``server``."""
    seen = len(server.stats()["requests"])
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        sys.exit(f"surge run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    arrivals = [float(r["t"]) for r in server.stats()["requests"][seen:]]
    if not arrivals:
        sys.exit("surge run sent no request")
    return zero + min(arrivals) - t0


def main() -> None:
    parser = base_parser(__doc__ or "", n=20, concurrency=4)
    parser.add_argument("--repeat", type=int, default=7, help="runs per variant (default 7)")
    args = parser.parse_args()
    require_surge()
    inp = write_input(WORK / f"startup-{args.n}.jsonl", args.n)
    out = WORK / "startup-out.jsonl"
    with sim("--latency", "0") as server:
        zero = _started_at(server)
        common = ["--base-url", server.url, "--api-key", "sk-test", "--model", MODEL]
        common += ["--concurrency", str(args.concurrency), "--progress", "none"]
        variants = {
            "quiet (-q, no prices)": ["-q"],
            "default (summary with cost)": [],
            "--max-cost 10": ["--max-cost", "10"],
        }
        rows: list[tuple[str, list[float]]] = []
        python = [sys.executable, "-c", "pass"]
        t0 = time.monotonic()
        for _ in range(args.repeat):
            subprocess.run(python, check=True)
        rows.append(("python -c pass (whole run)", [(time.monotonic() - t0) / args.repeat]))
        for name, extra in variants.items():
            cmd = [*surge_command(), "run", str(inp), "-o", str(out), *common, *extra]
            times = []
            for _ in range(args.repeat):
                out.unlink(missing_ok=True)
                times.append(first_request(server, zero, cmd))
            rows.append((name, times))
    print(f"time to first request, {args.n} requests, {args.repeat} runs each")
    for name, times in rows:
        print(f"  {name:<30} median {statistics.median(times):.3f} s   best {min(times):.3f} s")


if __name__ == "__main__":
    main()
