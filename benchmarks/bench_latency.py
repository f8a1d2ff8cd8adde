"""Concurrency under latency: 0.3 s +- 0.1 s per answer, so the ideal wall is N * 0.3 / C.

    python benchmarks/bench_latency.py --n 1000 --concurrency 100 --seq-n 20

surge (``amap``) is compared with the ideal (target <= 1.05x), with the unbounded
``asyncio.gather`` and the Semaphore template on the full N, and with a sequential loop
on ``--seq-n`` requests, extrapolated to N (and labelled so).
"""

from __future__ import annotations

from _baselines import gather_openai, raw_aiohttp, sequential_openai, template_openai
from _common import (
    Outcome,
    base_parser,
    greedy_makespan,
    loop_name,
    measured,
    print_table,
    ratio_line,
    require_surge,
    sim,
    surge_amap,
)

LATENCY, JITTER = 0.3, 0.1


def main() -> None:
    parser = base_parser(__doc__ or "", n=1000, concurrency=100)
    parser.add_argument("--seq-n", type=int, default=20, help="requests for the sequential loop")
    args = parser.parse_args()
    n, c = args.n, args.concurrency
    if not args.no_surge:
        require_surge()
    ideal = n * LATENCY / c

    with sim("--latency", str(LATENCY), "--jitter", str(JITTER), "--no-log") as server:
        url = server.url
        seq = measured(server, lambda: sequential_openai(url, args.seq_n))
        scale = n / args.seq_n
        rows = [
            Outcome(
                seq.name,
                n,
                round(seq.ok * scale),
                seq.wall * scale,
                note=f"extrapolated from {args.seq_n}",
            ),
            measured(server, lambda: gather_openai(url, n)),
            measured(server, lambda: template_openai(url, n, c)),
            measured(server, lambda: raw_aiohttp(url, n, c)),
        ]
        if not args.no_surge:
            rows.append(measured(server, lambda: surge_amap(url, n, c)))

    title = f"Latency {LATENCY}s +- {JITTER}s: {n:,} requests, concurrency {c} ({loop_name()})"
    print_table(rows, title)
    print(f"ideal wall N*{LATENCY}/C = {ideal:.2f} s")
    for row in rows[1:]:
        target = "<= 1.05" if row.name.startswith("surge") else "-"
        ratio_line(f"{row.name} wall / ideal", row.wall / ideal, target)
    for row in rows:
        if row.latencies:
            floor = greedy_makespan(row.latencies, c)
            print(
                f"zero-overhead client over the same {len(row.latencies):,} latencies: "
                f"{floor:.2f} s ({floor / ideal:.2f}x ideal); {row.name} / that = "
                f"{row.wall / floor:.3f}"
            )


if __name__ == "__main__":
    main()
