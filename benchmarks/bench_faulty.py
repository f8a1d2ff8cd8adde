"""A faulty server: 5% 503s, 1% connection resets, 1% requests that never answer.

    python benchmarks/bench_faulty.py --n 1000 --concurrency 100 --timeout 2

surge (timeout 2 s per attempt, up to 6 retries) should end with every request ok; the
template (SDK retries off, so its failures are visible) and raw aiohttp show what is lost.
"""

from __future__ import annotations

from _baselines import raw_aiohttp, template_openai
from _common import base_parser, loop_name, measured, print_table, require_surge, sim, surge_amap


def main() -> None:
    parser = base_parser(__doc__ or "", n=1000, concurrency=100)
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per attempt")
    parser.add_argument("--latency", type=float, default=0.1, help="sim latency, seconds")
    args = parser.parse_args()
    n, c, timeout = args.n, args.concurrency, args.timeout
    if not args.no_surge:
        require_surge()

    faults = ("--error-503", "0.05", "--reset", "0.01", "--hang", "0.01")
    with sim("--latency", str(args.latency), *faults, "--no-log") as server:
        url = server.url
        rows = [
            measured(server, lambda: template_openai(url, n, c, timeout=timeout)),
            measured(server, lambda: raw_aiohttp(url, n, c, timeout=timeout)),
        ]
        if not args.no_surge:
            rows.append(measured(server, lambda: surge_amap(url, n, c, timeout=timeout)))

    print_table(
        rows,
        f"Faulty sim (5% 503, 1% reset, 1% hang): {n:,} requests, concurrency {c}, "
        f"timeout {timeout}s ({loop_name()})",
    )
    for r in rows:
        print(
            f"{r.name:<22} ok {r.ok:,}/{r.n:,}" + ("   (target: all)" if "surge" in r.name else "")
        )


if __name__ == "__main__":
    main()
