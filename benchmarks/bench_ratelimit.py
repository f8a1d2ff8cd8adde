"""Rate limits: a simulator allowing --rpm requests/min; how close does a client get?

    python benchmarks/bench_ratelimit.py --n 600 --rpm 1200 --concurrency 100

surge runs twice: told the limit (``rpm=1200``) and told nothing (learning it from the
``x-ratelimit-*`` headers and 429s). The Semaphore template (SDK default retries) shows
what happens without a limiter. Achieved rate = successes / wall, per minute, as % of
the limit (target >= 97%); 429s as % of attempts (target < 0.5%). Each client gets a
fresh simulator so no one inherits another's spent quota.

The simulator's bucket starts *full* (a whole minute of quota), which would let 600
requests through at once and say nothing about pacing; so the quota is first drained
with a burst of throwaway requests (not counted), and the measured run starts at the
steady state a long job lives in: the ideal wall is then N / (rpm / 60) = 30 s.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from _baselines import raw_aiohttp, template_openai
from _common import (
    Outcome,
    base_parser,
    loop_name,
    measured,
    print_table,
    require_surge,
    sim,
    surge_amap,
)


def main() -> None:
    parser = base_parser(__doc__ or "", n=600, concurrency=100)
    parser.add_argument("--rpm", type=int, default=1200, help="the simulator's limit")
    parser.add_argument("--latency", type=float, default=0.05, help="sim latency, seconds")
    parser.add_argument(
        "--full-bucket", action="store_true", help="skip draining the quota (measures the burst)"
    )
    args = parser.parse_args()
    n, c, rpm = args.n, args.concurrency, args.rpm
    if not args.no_surge:
        require_surge()

    runs: dict[str, Callable[[str], Outcome]] = {
        # The SDK's own default (2 retries, honouring retry-after) is what users get.
        "template AsyncOpenAI": lambda url: template_openai(url, n, c, max_retries=2),
    }
    if not args.no_surge:
        runs["surge rpm=limit"] = lambda url: surge_amap(url, n, c, rpm=rpm, name="surge --rpm")
        runs["surge learning"] = lambda url: surge_amap(url, n, c, name="surge (no limit given)")

    rows: list[Outcome] = []
    for run in runs.values():
        with sim("--rpm", str(rpm), "--latency", str(args.latency), "--no-log") as server:
            if not args.full_bucket:
                raw_aiohttp(server.url, rpm + rpm // 10, 200)
            rows.append(measured(server, partial(run, server.url)))

    print_table(rows, f"Rate limit {rpm} rpm: {n:,} requests, concurrency {c} ({loop_name()})")
    print(f"{'client':<24} {'ok/n':>11} {'achieved rpm':>12} {'% of limit':>10} {'429s':>8}")
    for r in rows:
        achieved = r.ok / r.wall * 60
        attempts = sum(r.statuses.values()) or r.attempts or 1
        print(
            f"{r.name:<24} {f'{r.ok}/{r.n}':>11} {achieved:>12,.0f} {100 * achieved / rpm:>9.1f}% "
            f"{100 * r.rate_limited / attempts:>7.2f}%"
        )
    ideal = n / (rpm / 60)
    print(
        f"ideal wall N/(rpm/60) = {ideal:.1f} s; targets for surge: >= 97% of the limit, 429s < 0.5% of attempts"
    )


if __name__ == "__main__":
    main()
