"""Memory flat in N: ``surge run`` over 200,000 and 2,000,000 lines, and a 2M-line resume.

    python benchmarks/bench_memory.py --n 200000 --big-n 2000000 --concurrency 200 [--resume]
    python benchmarks/bench_memory.py --n 200000 --gather-n 50000     # the naive baseline

The inputs are generated once under ``benchmarks/_work/`` (gitignored). The CLI runs as a
subprocess against a zero-latency simulator (``--no-log``) while psutil samples its RSS
every 50 ms. Targets: peak RSS < 150 MB at N; at ``--big-n`` (and resuming a finished
``--big-n`` output with ``--resume``: every line is read back and skipped) within 25% of
the N figure. ``--gather-n`` also runs the one-task-per-row ``asyncio.gather`` baseline
over that many requests in a child process, killed above ``--rss-cap`` MB, to show what
the naive approach costs.
"""

from __future__ import annotations

from functools import partial

from _baselines import baseline_subprocess
from _common import (
    Outcome,
    base_parser,
    measured,
    print_table,
    ratio_line,
    require_surge,
    sim,
    surge_cli,
)


def main() -> None:
    parser = base_parser(__doc__ or "", n=200_000, concurrency=200)
    parser.add_argument("--big-n", type=int, default=0, help="also run over B lines (0: skip)")
    parser.add_argument("--resume", action="store_true", help="then resume the B-line output")
    parser.add_argument("--gather-n", type=int, default=0, help="also run gather over G (0: skip)")
    parser.add_argument("--rss-cap", type=float, default=2000, help="kill the baseline above MB")
    args = parser.parse_args()
    n, c = args.n, args.concurrency
    if not args.no_surge:
        require_surge()

    rows: list[Outcome] = []
    with sim("--latency", "0", "--no-log") as server:
        if not args.no_surge:
            rows.append(measured(server, lambda: surge_cli(server.url, n, c, sample_rss=True)))
            big = args.big_n
            if big:
                runs = [(f"surge run (CLI), {big:,} lines", True)]
                if args.resume:
                    runs.append((f"surge run resuming a finished {big:,}-line output", False))
                for name, fresh in runs:
                    rows.append(
                        measured(
                            server,
                            partial(
                                surge_cli,
                                server.url,
                                big,
                                c,
                                name=name,
                                sample_rss=True,
                                fresh=fresh,
                            ),
                        )
                    )
        if args.gather_n:
            gather = baseline_subprocess(
                "gather", server.url, args.gather_n, c, rss_cap_mb=args.rss_cap
            )
            rows.append(gather)

    if not rows:
        print("nothing to measure: surge skipped (--no-surge) and no --gather-n given")
        return
    print_table(rows, f"Memory: surge run, concurrency {c}")
    surge_rows = [r for r in rows if r.name.startswith("surge") and r.peak_rss_mb is not None]
    for r in surge_rows:
        print(f"{r.name}: peak RSS = {r.peak_rss_mb:.0f} MB   (target < 150 MB)")
    if surge_rows and len(surge_rows) > 1:
        base = surge_rows[0].peak_rss_mb or 1.0
        for r in surge_rows[1:]:
            ratio_line(f"{r.name} / {n:,} lines", (r.peak_rss_mb or 0.0) / base, "<= 1.25")


if __name__ == "__main__":
    main()
