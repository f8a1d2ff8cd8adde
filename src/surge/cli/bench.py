"""``surge bench``: one at a time vs concurrently, measured against any endpoint.

    surge bench                                        # the built-in simulator, ~6 s
    surge bench --n 500 --concurrency 100 --sequential-n 20 --base-url URL --api-key K

It sends small requests of identical shape (same prompt length, same ``max_tokens``),
first ``--sequential-n`` of them one at a time, then ``--n`` of them with ``--concurrency``
in flight, and prints both wall times, the throughput of each and their ratio. When
``--n`` is larger than ``--sequential-n`` the sequential time for ``--n`` requests is
extrapolated from the measured per-request time, and the output says so: waiting for
hundreds of one-at-a-time requests would only confirm a straight line.

The sequential phase is surge's own engine with ``concurrency=1``, not a separate minimal
client. Both phases then share the HTTP client, connection reuse, JSON encoding and
retry policy, so the ratio measures one thing, requests in flight, rather than the
difference between two client stacks. (A plain loop over a synchronous client would pay
the same network round trip per request; the engine's per-request overhead is well under
a millisecond, far below any real endpoint's latency.)
"""

from __future__ import annotations

import click

from .._sync import run_sync
from ..api import amap
from ..config import Limits
from ..errors import ConfigError, SurgeError
from ..events import RunStats
from .demo.common import (
    SimSettings,
    Target,
    chosen_base_url,
    load_options,
    open_target,
    seconds,
    speedup,
    target_options,
)
from .demo.data import bench_request
from .options import progress_options
from .progress import Mode, ProgressDisplay

__all__ = ["bench_command", "run_phase"]

echo = click.echo


async def run_phase(
    target: Target,
    *,
    n: int,
    concurrency: int,
    model: str,
    max_tokens: int,
    prefix: str,
    label: str = "surge",
    progress: Mode = "none",
) -> RunStats:
    """Send ``n`` benchmark requests with ``concurrency`` in flight; return the run's stats."""
    requests = [
        bench_request(i, model=model, max_tokens=max_tokens, prefix=prefix) for i in range(n)
    ]
    stats = RunStats(total=n)
    with ProgressDisplay(stats, mode=progress, interval=2.0, label=label):
        await amap(
            requests,
            endpoint=target.endpoint,
            limits=Limits(concurrency=concurrency),
            stats=stats,
        )
    return stats


def _describe(stats: RunStats) -> str:
    p50 = stats.latency_percentiles()["p50"] * 1000 if len(stats.latencies) else 0.0
    failed = f", {stats.failed:,} failed" if stats.failed else ""
    rate = f"{stats.rate:,.2f}" if stats.rate < 10 else f"{stats.rate:,.1f}"
    return f"{rate} req/s, p50 latency {p50:,.0f} ms{failed}"


def _capped_by_sim(target: Target, stats: RunStats) -> bool:
    """Whether a run went as fast as the simulator's requests-per-minute limit allows."""
    rpm = target.simulator.config.rpm if target.simulator is not None else None
    return rpm is not None and stats.rate >= 0.9 * rpm / 60


def _failures(*runs: RunStats) -> str:
    codes: dict[str, int] = {}
    for stats in runs:
        for code, count in stats.errors_by_code.items():
            codes[code] = codes.get(code, 0) + count
    return ", ".join(f"{code} x {count:,}" for code, count in sorted(codes.items()))


@click.command("bench")
@target_options(latency=0.5)
@load_options(n=50, concurrency=50, part="the concurrent run")
@click.option(
    "--sequential-n",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Requests sent one at a time; the time for --n is extrapolated from them.",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="max_tokens of every request (keep answers short and alike).",
)
@progress_options(help="Progress display on stderr.", quiet_help="No progress display.")
@click.pass_context
def bench_command(
    ctx: click.Context,
    base_url: str | None,
    api_key: str | None,
    model: str,
    latency: float,
    sim_rpm: int,
    seed: int,
    n: int,
    concurrency: int,
    sequential_n: int,
    max_tokens: int,
    progress_mode: Mode,
    quiet: bool,
) -> None:
    """Time the same small requests one at a time and concurrently; print the ratio.

    Without --base-url the built-in simulator answers (0.5 s per request by default).
    """
    chosen = chosen_base_url(ctx, base_url)
    sim = SimSettings(latency=latency, rpm=sim_rpm, seed=seed)
    progress: Mode = "none" if quiet else progress_mode
    m = min(sequential_n, n)

    async def main() -> int:
        async with open_target(chosen, api_key, sim, model=model) as target:
            echo(f"surge bench: {target.description}, model {model}")

            async def phase(count: int, in_flight: int, label: str) -> RunStats:
                return await run_phase(
                    target,
                    n=count,
                    concurrency=in_flight,
                    model=model,
                    max_tokens=max_tokens,
                    prefix=label[:3],  # "seq"/"con": same length, so same token counts
                    label=label,
                    progress=progress,
                )

            seq = await phase(m, 1, "sequential")
            par = await phase(n, concurrency, "concurrent")
            capped = _capped_by_sim(target, par)
        echo(
            f"sequential  {m:,} requests, one at a time: {seconds(seq.elapsed)} ({_describe(seq)})"
        )
        seq_time = seq.elapsed
        if m < n:
            seq_time = seq.elapsed / m * n
            echo(
                f"            {n:,} requests would take ~{seconds(seq_time)} "
                f"(extrapolated from the {m:,} sequential requests)"
            )
        echo(
            f"concurrent  {n:,} requests, {concurrency:,} in flight: "
            f"{seconds(par.elapsed)} ({_describe(par)})"
        )
        if capped:
            echo(f"            (capped by the simulator's limit, {sim_rpm:,} requests/min)")
        echo(f"speedup     {speedup(seq_time, par.elapsed)} (same requests, same client)")
        failed = seq.failed + seq.invalid + par.failed + par.invalid
        if failed:
            echo(
                f"{failed:,} requests failed ({_failures(seq, par)}): the times above include them"
            )
        return 1 if failed else 0

    try:
        code = run_sync(main())
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    except SurgeError as err:
        raise click.ClickException(str(err)) from None
    ctx.exit(code)
