"""``surge demo``: what concurrency buys, measured live, with no API key and no network.

    surge demo                                   # the built-in simulator, ~15 s
    surge demo --latency 0.2 --n 300             # smaller and faster
    surge demo --base-url https://api.example.com/v1 --api-key sk-...   # for real

Three parts, each printing the times it measured (nothing here is a hard-coded number):

(a) five sentiment prompts with structured output, first one at a time, then all at once;
(b) a 1,000-request arXiv digest through the full engine (file in, file out, live
    progress, summary), compared with the time one-at-a-time would take;
(c) a fan-out/fan-in workflow: three research questions at once, then one synthesis call.

The one-at-a-time runs use surge's own engine with ``concurrency=1``: the same HTTP
client, connection reuse and JSON handling as the concurrent runs, so the speedup
measures concurrency alone, not a difference between two clients.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from ..._sync import run_sync
from ...errors import ConfigError, SurgeError
from ..options import progress_options
from ..progress import Mode
from .common import (
    SimSettings,
    chosen_base_url,
    load_options,
    open_target,
    seconds,
    target_options,
)
from .parts import Demo

__all__ = ["demo_command"]

echo = click.echo


@click.command("demo")
@target_options(latency=1.0)
@load_options(n=1000, concurrency=200, part="part (b)")
@click.option("--city", default="Lisbon", show_default=True, help="City of part (c).")
@click.option("--skip-sequential", is_flag=True, help="Skip the one-at-a-time run of part (a).")
@click.option(
    "--sim-errors",
    type=click.FloatRange(0, 0.5),
    default=0.02,
    show_default=True,
    help="Simulator only: share of part (b) attempts that fail with 503.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep part (b)'s input and output files here (default: a temp dir).",
)
@progress_options(
    help="Progress display of part (b), on stderr.",
    quiet_help="No progress and no per-request lines.",
)
@click.pass_context
def demo_command(
    ctx: click.Context,
    base_url: str | None,
    api_key: str | None,
    model: str,
    latency: float,
    sim_rpm: int,
    seed: int,
    n: int,
    concurrency: int,
    city: str,
    skip_sequential: bool,
    sim_errors: float,
    workdir: Path | None,
    progress_mode: Mode,
    quiet: bool,
) -> None:
    """See surge run requests concurrently, live, in about 15 seconds. No API key needed.

    Without --base-url the built-in simulator answers (about 1 s per request, like a
    provider). With --base-url (or --api-key) the same demo sends about N+15 real requests.
    """
    chosen = chosen_base_url(ctx, base_url)
    sim = SimSettings(latency=latency, rpm=sim_rpm, seed=seed)

    async def main() -> int:
        began = time.perf_counter()
        async with open_target(chosen, api_key, sim, model=model) as target:
            echo(f"surge demo: {target.description}, model {model}")
            if target.simulator is None:
                echo(f"this sends about {n + 15:,} real requests")
            demo = Demo(target, model=model, quiet=quiet)
            await demo.sentiment(sequential=not skip_sequential)
            with tempfile.TemporaryDirectory(prefix="surge-demo-") as tmp:
                folder = workdir or Path(tmp)
                folder.mkdir(parents=True, exist_ok=True)
                await demo.digest(
                    n=n,
                    concurrency=concurrency,
                    workdir=folder,
                    progress=progress_mode,
                    sim_errors=sim_errors if target.simulator is not None else 0.0,
                )
            await demo.travel(city)
        echo("")
        tail = f", {demo.failed:,} requests failed" if demo.failed else ""
        echo(f"demo finished in {seconds(time.perf_counter() - began)}{tail}")
        return 1 if demo.failed else 0

    try:
        code = run_sync(main())
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    except SurgeError as err:
        raise click.ClickException(str(err)) from None
    except OSError as err:
        raise click.ClickException(f"cannot write the demo's files: {err}") from None
    ctx.exit(code)
