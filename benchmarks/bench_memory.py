"""Memory on a huge input: ``surge run`` over 200,000 lines must stream, not load.

    python benchmarks/bench_memory.py --n 200000 --concurrency 200 [--gather-n 50000]

The input is generated once under ``benchmarks/_work/`` (gitignored). The CLI runs as a
subprocess against a zero-latency simulator (``--no-log``) while psutil samples its RSS
every 50 ms. Target: peak RSS < 150 MB. ``--gather-n`` also runs the one-task-per-row
``asyncio.gather`` baseline over that many requests in a child process, killed above
``--rss-cap`` MB, to show what the naive approach costs.
"""

from __future__ import annotations

from _baselines import baseline_subprocess
from _common import base_parser, measured, print_table, require_surge, sim, surge_cli


def main() -> None:
    parser = base_parser(__doc__ or "", n=200_000, concurrency=200)
    parser.add_argument("--gather-n", type=int, default=0, help="also run gather over G (0: skip)")
    parser.add_argument("--rss-cap", type=float, default=2000, help="kill the baseline above MB")
    args = parser.parse_args()
    n, c = args.n, args.concurrency
    if not args.no_surge:
        require_surge()

    rows = []
    with sim("--latency", "0", "--no-log") as server:
        if not args.no_surge:
            rows.append(measured(server, lambda: surge_cli(server.url, n, c, sample_rss=True)))
        if args.gather_n:
            gather = baseline_subprocess(
                "gather", server.url, args.gather_n, c, rss_cap_mb=args.rss_cap
            )
            rows.append(gather)

    if not rows:
        print("nothing to measure: surge skipped (--no-surge) and no --gather-n given")
        return
    print_table(rows, f"Memory: surge run over {n:,} lines, concurrency {c}")
    for r in rows:
        if r.name.startswith("surge") and r.peak_rss_mb is not None:
            print(f"surge run peak RSS = {r.peak_rss_mb:.0f} MB   (target < 150 MB)")


if __name__ == "__main__":
    main()
