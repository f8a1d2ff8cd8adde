"""What ``surge demo`` and ``surge bench`` share: where requests go, and how numbers read.

    @click.command("bench")
    @target_options(latency=0.5)            # --base-url, --api-key, --model, --latency, ...
    @click.pass_context
    def bench_command(ctx, **kw): ...

    base_url = chosen_base_url(ctx, base_url)       # None: use the built-in simulator
    async with open_target(base_url, api_key, SimSettings(latency=0.5), model=m) as target:
        target.endpoint, target.description, target.simulator

Without a base URL both commands start the simulator in the running event loop, so they
work on a fresh clone with no key and no network. A real endpoint is used only when the
user names one (``--base-url``/``OPENAI_BASE_URL``) or passes ``--api-key`` on the command
line: an ``OPENAI_API_KEY`` that merely sits in the environment never makes a demo spend
real requests. A real endpoint gets one preflight request first, so a wrong URL or key
fails in a second with a clear message instead of after every request's retries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from surge_sim import SimConfig, Simulator

from ... import _constants as C
from ...config import Endpoint
from ..check import check_endpoint, send_once
from ..options import endpoint_options, limit_options, options
from ..summary import human_duration
from .data import chat_request, sentiment_requests

__all__ = [
    "SimSettings",
    "Target",
    "TargetError",
    "chosen_base_url",
    "load_options",
    "open_target",
    "seconds",
    "speedup",
    "target_options",
]

F = TypeVar("F", bound=Callable[..., Any])

# Latency varies by this fraction either way, as a provider's does from call to call.
_JITTER_FRACTION = 0.3


class TargetError(click.ClickException):
    """The endpoint cannot be used (unreachable, key refused, ...); exit code 1."""


@dataclass(frozen=True, slots=True)
class SimSettings:
    """How the built-in simulator behaves when no endpoint is given."""

    latency: float = 1.0
    rpm: int | None = 15_000
    seed: int = 1

    @property
    def jitter(self) -> float:
        return self.latency * _JITTER_FRACTION


@dataclass(frozen=True, slots=True)
class Target:
    endpoint: Endpoint
    description: str
    simulator: Simulator | None = None


def target_options(*, latency: float, rpm: int = 15_000) -> Callable[[F], F]:
    """The endpoint options (``--base-url``, ``--api-key``, ``--model``) and the simulator's."""

    def sim_only(name: str, kind: Any, default: float, help: str) -> Any:
        return click.option(
            name, type=kind, default=default, show_default=True, help=f"Simulator only: {help}"
        )

    return options(
        endpoint_options(fallback="Without one, the built-in simulator answers."),
        click.option("--model", default=C.DEFAULT_MODEL, show_default=True, help="Model to ask."),
        sim_only("--latency", click.FloatRange(min=0), latency, "seconds per answer (±30%)."),
        sim_only("--sim-rpm", click.IntRange(min=1), rpm, "its requests-per-minute limit."),
        sim_only("--seed", click.INT, 1, "seed."),
    )


def load_options(*, n: int, concurrency: int, part: str) -> Callable[[F], F]:
    """``--n`` requests with ``-c/--concurrency`` in flight, in the command's ``part``."""
    return options(
        click.option(
            "--n",
            "n",
            type=click.IntRange(min=1),
            default=n,
            show_default=True,
            help=f"Requests in {part}.",
        ),
        limit_options(concurrency=concurrency, what=f"{part[0].upper()}{part[1:]}: ", rates=False),
    )


def chosen_base_url(ctx: click.Context, base_url: str | None) -> str | None:
    """The endpoint the user asked for, or ``None`` for the simulator (see module docs)."""
    if base_url:
        return base_url
    if ctx.get_parameter_source("api_key") is click.core.ParameterSource.COMMANDLINE:
        return C.DEFAULT_BASE_URL
    return None


@asynccontextmanager
async def open_target(
    base_url: str | None, api_key: str | None, sim: SimSettings, *, model: str
) -> AsyncIterator[Target]:
    """Yield where to send requests: a started simulator, or a checked real endpoint."""
    if base_url is None:
        config = SimConfig(
            latency=sim.latency,
            latency_jitter=sim.jitter,
            rpm=sim.rpm,
            seed=sim.seed,
            log_requests=False,
        )
        async with Simulator(config) as simulator:
            rpm = f", {sim.rpm:,} requests/min limit" if sim.rpm else ""
            description = (
                f"built-in simulator at {simulator.base_url} "
                f"(latency {sim.latency:g} s ± {sim.jitter:.2g} s{rpm}, seed {sim.seed})"
            )
            # An empty key (not None) keeps OPENAI_API_KEY from being sent even to loopback.
            endpoint = Endpoint(base_url=simulator.base_url, api_key="")
            await _warm_up(simulator, endpoint, model)
            yield Target(endpoint, description, simulator)
        return
    endpoint = Endpoint(base_url=base_url, api_key=api_key)
    url = endpoint.resolved_base_url()  # ConfigError for a malformed URL
    await _preflight(endpoint, url, model)
    key = "API key set" if endpoint.resolved_api_key() else "no API key"
    yield Target(endpoint, f"{url} ({key})")


async def _warm_up(simulator: Simulator, endpoint: Endpoint, model: str) -> None:
    """One untimed request at zero latency, so that the simulator's one-off start-up work
    (loading a tokenizer vocabulary, ~0.4 s) is not charged to the first timed request."""
    config = simulator.config
    simulator.update_config(latency=0.0, latency_jitter=0.0)
    try:
        await send_once(endpoint, sentiment_requests(model)[0])
    finally:
        simulator.update_config(latency=config.latency, latency_jitter=config.latency_jitter)
        simulator.reset_stats()


async def _preflight(endpoint: Endpoint, url: str, model: str) -> None:
    """Send one tiny request without retries; raise :class:`TargetError` if it fails."""
    request = chat_request("preflight", "Reply with the single word: ok.", model=model)
    request.body["max_tokens"] = 5
    report = await check_endpoint(endpoint, request)
    if not report.ok:
        raise TargetError(report.message)


def seconds(value: float) -> str:
    """``seconds(0.8412) == "0.84 s"``, ``seconds(5.12) == "5.1 s"``, long ones as ``4m05s``."""
    if value < 1:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    return human_duration(value)


def speedup(slow: float, fast: float) -> str:
    """``speedup(5.1, 1.1) == "4.6x"``."""
    ratio = slow / max(fast, 1e-9)
    return f"{ratio:.1f}x" if ratio < 100 else f"{ratio:,.0f}x"
