"""``surge estimate``: requests, tokens, cost and wall time of an input, sending nothing.

surge estimate in.jsonl --rpm 500 --tpm 200000 --concurrency 50
surge estimate prompts.txt --model gpt-4.1-mini --json
"""

from __future__ import annotations

import math
import sys
from typing import Any

import click
import orjson

from .. import _constants as C
from ..config import RunOptions
from ..errors import SurgeError
from ..io.formats import RequestBuilder, parse_param
from ..models import Request
from .options import json_option, limit_options, prices_option, request_options

__all__ = ["estimate_command"]


@click.command("estimate")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False))
@request_options()
@limit_options()
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds one request takes (for the wall time).",
)
@click.option(
    "--output-tokens",
    type=click.IntRange(min=0),
    default=C.DEFAULT_EXPECTED_OUTPUT_TOKENS,
    show_default=True,
    help="Expected output tokens of a request that sets no max_tokens.",
)
@prices_option
@json_option
def estimate_command(
    input_path: str,
    model: str | None,
    system: str | None,
    params: tuple[str, ...],
    api: str,
    input_format: str,
    rpm: float | None,
    tpm: float | None,
    concurrency: int,
    latency: float,
    output_tokens: int,
    prices_path: str | None,
    as_json: bool,
) -> None:
    """Estimate what sending INPUT costs and how long it takes (nothing is sent)."""
    from ..cost.estimate import Estimator, wall_time
    from ..cost.prices import PriceBook
    from ..io.source import read_lines
    from .main import run_async

    try:
        options = RunOptions(
            api=api,  # type: ignore[arg-type]
            model=model,
            system=system,
            params=tuple(parse_param(p) for p in params),
        )
        estimator = Estimator(PriceBook.load(prices_path), expected_output=output_tokens)
    except SurgeError as err:
        raise click.UsageError(str(err)) from None

    async def scan() -> None:
        builder = RequestBuilder(options)
        async for item in read_lines(input_path, builder, input_format=input_format):  # type: ignore[arg-type]
            if isinstance(item, Request):
                estimator.add(item)
            else:
                estimator.result.invalid += 1

    run_async(scan())
    est = estimator.result
    seconds = wall_time(est, rpm=rpm, tpm=tpm, concurrency=concurrency, latency=latency)
    doc: dict[str, Any] = est.to_dict()
    doc["wall_time_seconds"] = round(seconds, 1) if math.isfinite(seconds) else None
    doc["assumptions"] = {
        "rpm": rpm,
        "tpm": tpm,
        "concurrency": concurrency,
        "latency_seconds": latency,
        "output_tokens_without_max_tokens": output_tokens,
    }
    if as_json:
        sys.stdout.write(orjson.dumps(doc).decode() + "\n")
        return
    click.echo(_text(doc, est.unpriced))


def _text(doc: dict[str, Any], unpriced: dict[str, int]) -> str:
    from .summary import human_duration

    lines = [
        f"requests        {doc['requests']:,}"
        + (f"  ({doc['invalid_lines']:,} invalid lines, not sent)" if doc["invalid_lines"] else ""),
        f"input tokens    {doc['input_tokens']:,}",
        f"output tokens   {doc['output_tokens']:,} (max_tokens, or --output-tokens per request)",
    ]
    cost = doc["cost_usd_priced_part"]
    note = ""
    if unpriced:
        names = ", ".join(f"{m} ({n})" for m, n in sorted(unpriced.items()))
        note = f"  + unknown: no price for {names} (give one with --prices)"
    lines += [
        f"cost online     ${cost['online']:,.4f}{note}",
        f"cost flex       ${cost['flex']:,.4f}",
        f"cost batch      ${cost['batch']:,.4f}  (results within 24 h)",
    ]
    seconds = doc["wall_time_seconds"]
    a = doc["assumptions"]
    limits = ", ".join(
        part
        for part in (
            f"{a['rpm']:g} rpm" if a["rpm"] else "",
            f"{a['tpm']:g} tpm" if a["tpm"] else "",
            f"concurrency {a['concurrency']}",
            f"{a['latency_seconds']:g}s per request",
        )
        if part
    )
    wall = human_duration(seconds) if seconds is not None else "?"
    lines.append(f"wall time       {wall} online at {limits}")
    return "\n".join(lines)
