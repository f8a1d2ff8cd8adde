"""The ``surge sim`` command: run the simulator in the foreground until SIGINT/SIGTERM.

Example::

    $ python -m surge_sim --port 0 --rpm 600 --error-503 0.05 --seed 1
    surge sim listening on http://127.0.0.1:41234/v1

The first line on stdout is always that one, flushed, so a parent process can read the URL.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import click

from .config import SimConfig
from .simulator import Simulator, _new_loop

_rate = click.FloatRange(0.0, 1.0)


@click.command("sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0 = any free port).",
)
@click.option("--latency", default=0.0, type=float, help="Fixed seconds before each answer.")
@click.option(
    "--jitter", "latency_jitter", default=0.0, type=float, help="Latency varies by +/- this."
)
@click.option(
    "--per-token-latency", default=0.0, type=float, help="Extra seconds per output token."
)
@click.option("--rpm", type=int, default=None, help="Requests per minute limit.")
@click.option("--tpm", type=int, default=None, help="Tokens per minute limit.")
@click.option(
    "--limit-mode",
    type=click.Choice(["rolling", "window"]),
    default="rolling",
    show_default=True,
    help="Token bucket refilled continuously, or a sliding window.",
)
@click.option(
    "--window-seconds", default=60.0, type=float, show_default=True, help="Window length."
)
@click.option(
    "--limit-quantum",
    default=0.0,
    type=click.FloatRange(0.0),
    help="Enforce each per-minute limit per fixed window of this many seconds (0: off).",
)
@click.option(
    "--token-counting",
    type=click.Choice(["usage", "estimate"]),
    default="estimate",
    show_default=True,
    help="Tokens limit charge: characters/4 (as OpenAI estimates), or the real prompt "
    "count; both add max_tokens.",
)
@click.option(
    "--limit-headers/--no-limit-headers", default=True, help="Send x-ratelimit-* headers."
)
@click.option("--retry-after/--no-retry-after", default=True, help="Send Retry-After on 429s.")
@click.option("--per-model", is_flag=True, help="Every model gets its own --rpm/--tpm limits.")
@click.option(
    "--model-limit",
    "model_limits",
    multiple=True,
    metavar="MODEL=RPM[:TPM]",
    help="Limits of one model (implies --per-model); repeatable. Empty RPM: none.",
)
@click.option(
    "--flex-unavailable",
    default=0.0,
    type=_rate,
    help="Rate of service_tier=flex requests answered 429 resource_unavailable.",
)
@click.option("--error-500", default=0.0, type=_rate, help="Rate of 500 answers.")
@click.option("--error-502", default=0.0, type=_rate, help="Rate of 502 answers.")
@click.option("--error-503", default=0.0, type=_rate, help="Rate of 503 answers.")
@click.option("--reset", default=0.0, type=_rate, help="Rate of connections dropped unanswered.")
@click.option("--hang", default=0.0, type=_rate, help="Rate of requests never answered.")
@click.option("--slow-start", default=0.0, type=_rate, help="Rate of slow first bytes.")
@click.option("--slow-start-seconds", default=5.0, type=float, show_default=True)
@click.option("--fail-first", default=0, type=int, help="First N attempts of each request get 503.")
@click.option(
    "--invalid-json-first",
    default=0,
    type=int,
    help="First N answers of each structured-output conversation do not match the schema.",
)
@click.option(
    "--schema-refusal-marker",
    default=None,
    help="Structured-output requests whose first user message contains this are refused.",
)
@click.option("--strict-models", is_flag=True, help="Unknown models get 404 model_not_found.")
@click.option("--refuse-marker", default=None, help="Bodies with this text always get 429.")
@click.option("--seed", default=0, type=int, show_default=True)
@click.option(
    "--api-key", envvar="SURGE_SIM_API_KEY", default=None, help="Require this bearer key."
)
@click.option(
    "--batch-time-scale",
    default=1.0,
    type=click.FloatRange(min=0),
    show_default=True,
    help="Real seconds per provider second for batches (0.001: a 24 h window lasts 86 s).",
)
@click.option(
    "--batch-expire-after", type=click.IntRange(min=0), default=None,
    help="Force every batch to expire after this many of its requests.",
)  # fmt: skip
@click.option("--batch-fail", is_flag=True, help="Force every batch to fail validation.")
@click.option("--no-log", "no_log", is_flag=True, help="Keep no per-request log (benchmarks).")
@click.option("--uvloop/--no-uvloop", "use_uvloop", default=True, help="Use uvloop when installed.")
def sim_command(host: str, port: int, use_uvloop: bool, no_log: bool, **settings: Any) -> None:
    """Run an OpenAI-compatible simulator with rate limits and faults."""
    try:
        settings["model_limits"] = tuple(_model_limit(v) for v in settings["model_limits"])
        config = SimConfig(log_requests=not no_log, **settings)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    loop = _new_loop(use_uvloop)
    try:
        loop.run_until_complete(_serve(Simulator(config, host=host, port=port)))
    except OSError as err:  # port in use, address not available: one line, no traceback
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {err.strerror or err}"
        ) from None
    finally:
        loop.close()


def _model_limit(text: str) -> tuple[str, int | None, int | None]:
    """``gpt-4o=600:150000`` -> ("gpt-4o", 600, 150000); ``m=:5000`` sets tokens only."""
    model, sep, spec = text.partition("=")
    rpm_text, _, tpm_text = spec.partition(":")
    try:
        rpm = int(rpm_text) if rpm_text else None
        tpm = int(tpm_text) if tpm_text else None
    except ValueError:
        rpm = tpm = None
        sep = ""
    if not sep or not model or (rpm is None and tpm is None):
        raise ValueError(
            f"--model-limit {text!r}: expected MODEL=RPM[:TPM], e.g. gpt-4o=600:150000"
        )
    return model, rpm, tpm


async def _serve(sim: Simulator) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await sim.start()
    click.echo(f"surge sim listening on {sim.base_url}")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await sim.stop()
