"""Client overhead: a zero-latency simulator, so only the client's own work limits req/s.

    python benchmarks/bench_overhead.py --n 3000 --concurrency 200

Measures raw aiohttp, raw httpx, the AsyncOpenAI template and ``surge.amap`` in-process
(interpreter start-up excluded), then ``surge run`` on a file of the same size (start-up
included, reported separately). Target: surge / fastest raw >= 0.8.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from _baselines import raw_aiohttp, raw_httpx, template_openai
from _common import (
    Outcome,
    base_parser,
    loop_name,
    measured,
    print_table,
    ratio_line,
    require_surge,
    sim,
    surge_amap,
    surge_cli,
)


def main() -> None:
    parser = base_parser(__doc__ or "", n=3000, concurrency=200)
    parser.add_argument("--repeat", type=int, default=1, help="keep the best of R runs each")
    args = parser.parse_args()
    n, c = args.n, args.concurrency
    if not args.no_surge:
        require_surge()
    clients: dict[str, Callable[[str], Outcome]] = {
        "raw aiohttp": lambda url: raw_aiohttp(url, n, c),
        "raw httpx": lambda url: raw_httpx(url, n, c),
        "template AsyncOpenAI": lambda url: template_openai(url, n, c),
    }
    if not args.no_surge:
        clients["surge amap"] = lambda url: surge_amap(url, n, c)

    with sim("--latency", "0", "--no-log") as server:
        raw_aiohttp(server.url, 200, c)  # warm-up: imports, sockets, the server's caches
        rows = []
        for run in clients.values():
            best = [measured(server, partial(run, server.url)) for _ in range(args.repeat)]
            rows.append(max(best, key=lambda o: o.rate))

        title = f"Overhead: {n:,} requests, concurrency {c}, zero-latency sim ({loop_name()})"
        print_table(rows, title)
        fastest = max((r for r in rows if r.name.startswith("raw")), key=lambda o: o.rate)
        for row in rows:
            if not row.name.startswith("raw"):
                target = ">= 0.8" if row.name.startswith("surge") else "-"
                label = f"{row.name} / fastest raw ({fastest.name})"
                ratio_line(label, row.rate / fastest.rate, target)

        if not args.no_surge:
            cli = measured(server, lambda: surge_cli(server.url, n, c))
            print_table([cli], "surge run CLI on a file of the same size (wall incl. start-up)")


if __name__ == "__main__":
    main()
