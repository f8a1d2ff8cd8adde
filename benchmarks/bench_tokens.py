"""Tokens-per-minute limit: surge's token estimates against a server that counts real usage.

    python benchmarks/bench_tokens.py --n 400 --tpm 20000

The simulator charges each request its prompt tokens plus its real completion (5-60
tokens here; no max_tokens), so surge must start from an estimate and correct it with
each response's ``usage``. Two runs on fresh simulators: surge told ``--tpm``, and surge
told nothing (learning the limit from ``x-ratelimit-*-tokens``). Targets: most of the
limit used, 429s < 0.5% of attempts.
"""

from __future__ import annotations

import time

from _common import base_parser, loop_name, print_table, require_surge, sim, surge_amap


def main() -> None:
    parser = base_parser(__doc__ or "", n=400, concurrency=50)
    parser.add_argument("--tpm", type=int, default=20_000, help="the simulator's limit")
    args = parser.parse_args()
    require_surge()
    rows = []
    for name, tpm in (("surge --tpm", float(args.tpm)), ("surge (no limit given)", None)):
        # A server that counts real tokens (the simulator's default is OpenAI's estimate).
        counting = ("--token-counting", "usage")
        with sim("--tpm", str(args.tpm), *counting, "--latency", "0.2", "--no-log") as server:
            t0 = time.perf_counter()
            outcome = surge_amap(server.url, args.n, args.concurrency, tpm=tpm, name=name)
            wall = time.perf_counter() - t0
            stats = server.stats()
            outcome.statuses = {k: int(v) for k, v in stats["by_status"].items()}
            tokens = stats["tokens"]["total"]
            rows.append(outcome)
            attempts = sum(outcome.statuses.values())
            print(
                f"{name:<24} {tokens / wall * 60:>9,.0f} tokens/min = "
                f"{tokens / wall * 60 / args.tpm:6.1%} of the limit, "
                f"429s {outcome.statuses.get('429', 0) / attempts:.2%} of {attempts} attempts"
            )
    print_table(rows, f"Tokens/min limit {args.tpm:,}: {args.n:,} requests ({loop_name()})")
    print(
        "a fresh simulator starts with a full minute of quota; surge never spends the room a "
        "server reports at once (providers enforce per-minute limits over short windows)"
    )


if __name__ == "__main__":
    main()
