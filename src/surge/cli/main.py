"""The ``surge`` command line: a thin edge over the async library.

    surge run prompts.txt -o results.jsonl --model gpt-4.1-mini --concurrency 200 --rpm 3000
    surge run batch_requests.jsonl -o results.jsonl          # OpenAI Batch API format
    surge demo                                               # no key needed
    surge sim --port 8000 --latency 0.5 --rpm 600            # the simulator, for testing

Exit codes of ``surge run`` (``exits.py``): 0 every request succeeded; 1 some requests
failed or some input lines were invalid (each is recorded in the output); 2 usage or
configuration error, an endpoint that refuses every request (wrong URL, key, model), or an
output surge may not write (in use by another run, not surge output, a device or /proc
file); 3 the output could not be written (every result before is kept); 130 interrupted
(the output is valid and the printed command resumes it).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import shlex
import sys
from typing import Any

import click

from .. import _constants as C
from ..errors import ConfigError, SurgeError
from .exits import ExitCode
from .options import (
    endpoint_options,
    limit_options,
    prices_option,
    progress_options,
    request_options,
    retry_options,
    schema_option,
)

__all__ = ["cli", "main"]

# Subcommands that live in other modules are imported only when used, so `surge run`
# starts fast and never loads the simulator or the demo.
_LAZY = {
    "export": ("surge.cli.export", "export_command"),
    "fanout": ("surge.cli.fanout", "fanout_command"),
    "sim": ("surge_sim.cli", "sim_command"),
    "demo": ("surge.cli.demo.command", "demo_command"),
    "bench": ("surge.cli.bench", "bench_command"),
    "batch": ("surge.cli.batch", "batch_group"),
    "estimate": ("surge.cli.estimate", "estimate_command"),
}


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_LAZY])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _LAZY:
            module, attr = _LAZY[name]
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="surge")
def cli() -> None:
    """Run many LLM API requests concurrently, at the rate limit, losing nothing."""


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def run_async(coro: Any) -> Any:
    """Run a CLI coroutine on uvloop when installed (faster), else asyncio's loop."""
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        return runner.run(coro)


def _resume_command() -> str:
    """The command line that resumes this run, without any secret in it."""
    args: list[str] = []
    skip = False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
            continue
        if arg == "--api-key":
            skip = True
            continue
        if arg.startswith("--api-key="):
            continue
        args.append(arg)
    return "surge " + shlex.join(args)


@cli.command("run")
@click.argument("input_path", metavar="INPUT", type=click.Path(allow_dash=True))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Output JSONL (Batch API output format). Requests it already answers are skipped; "
    "changed ones are sent again. '-' streams results to stdout (no resume). "
    "For a table input: the output table (.csv, .jsonl or .parquet), its result log beside it.",
)
@request_options()
@click.option(
    "--template",
    help="Table input (CSV, Parquet, JSONL records): the prompt for each row, with "
    "{column} fields, e.g. 'Classify: {review}'.",
)
@click.option("--system-template", help="Table input: a system prompt with {column} fields.")
@click.option(
    "--body-template",
    "body_templates",
    multiple=True,
    metavar="KEY=TEMPLATE",
    help="Table input: another body field from the row, e.g. metadata.source={url} (repeatable).",
)
@click.option("--id-column", help="Table input: the column holding each row's id.")
@schema_option()
@click.option(
    "--validation-retries",
    type=click.IntRange(min=0),
    default=C.DEFAULT_VALIDATION_RETRIES,
    show_default=True,
    help="Re-asks of a reply that does not match --schema (the error is sent back).",
)
@limit_options()
@click.option(
    "--service-tier",
    type=click.Choice(["auto", "default", "flex", "priority"]),
    help="service_tier of every request that names none (flex: half price, may be refused).",
)
@click.option(
    "--flex-fallback",
    metavar="N|DURATION",
    help="Send a flex request at the default tier after N 'resource_unavailable' answers "
    "or a deadline since its first attempt (3, 10m, or 3,10m).",
)
@retry_options
@click.option(
    "--limiter",
    metavar="URL",
    envvar="SURGE_LIMITER",
    help="Share the rate limits with other runs: redis://HOST:PORT/DB [env: SURGE_LIMITER].",
)
@click.option(
    "--limiter-fallback",
    is_flag=True,
    help="If the shared limiter becomes unreachable, go on with local limits (a warning).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes sharing the input, one limit and one output.",
)
@click.option("--ordered", is_flag=True, help="Write results in input order.")
@click.option("--retry-failed", is_flag=True, help="Also re-send requests that ended in error.")
@click.option(
    "--keep-stale",
    is_flag=True,
    help="Keep the output's answers to requests that changed (or left the input) instead "
    "of sending them again (or dropping them).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Send the first request once, report whether the endpoint works, and exit "
    "(nothing is written to OUTPUT).",
)
@endpoint_options()
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    metavar="USD",
    help="Hard budget: never start a request that could push the cost over it.",
)
@click.option(
    "--cache",
    "cache_path",
    type=click.Path(dir_okay=False),
    envvar="SURGE_CACHE",
    help="Response cache (SQLite): identical requests are answered from it [env: SURGE_CACHE].",
)
@click.option("--no-cache", is_flag=True, help="Do not use the response cache.")
@prices_option
@progress_options(help="Progress display on stderr.", quiet_help="No progress and no summary.")
@click.option("-v", "--verbose", count=True, help="Log retries and limiter waits (-vv: debug).")
def run_command(
    input_path: str,
    output: str,
    model: str | None,
    system: str | None,
    params: tuple[str, ...],
    api: str,
    template: str | None,
    system_template: str | None,
    body_templates: tuple[str, ...],
    id_column: str | None,
    schema_spec: str | None,
    validation_retries: int,
    input_format: str,
    concurrency: int,
    rpm: float | None,
    tpm: float | None,
    service_tier: str | None,
    flex_fallback: str | None,
    max_retries: int,
    timeout: float,
    limiter: str | None,
    limiter_fallback: bool,
    workers: int,
    ordered: bool,
    retry_failed: bool,
    keep_stale: bool,
    check: bool,
    base_url: str | None,
    api_key: str | None,
    max_cost: float | None,
    cache_path: str | None,
    no_cache: bool,
    prices_path: str | None,
    progress_mode: str,
    quiet: bool,
    verbose: int,
) -> None:
    """Send every request in INPUT and write one result line per request to OUTPUT.

    INPUT is OpenAI Batch API request JSONL, JSONL with "prompt"/"messages" (and an
    optional "id"), or plain text with one prompt per line; "-" reads stdin. A table (CSV,
    Parquet, or JSONL records with --template) gets one request per row and is written
    back to OUTPUT with the answer added. Killed or interrupted, the same command resumes
    where it stopped.
    """
    from .._schema import load_schema
    from ..config import Endpoint, FlexFallback, Limits, RetryPolicy, RunOptions, Timeout
    from ..io.formats import parse_param
    from ..io.table_job import TableJob, is_table_input
    from .check import check_run
    from .run_request import RunRequest
    from .runner import execute_run

    _configure_logging(verbose)
    try:
        schema = load_schema(schema_spec) if schema_spec else None
        table = None
        log_path = output
        tabular = template is not None or system_template is not None or bool(body_templates)
        if input_path != "-" and is_table_input(input_path, template=tabular):
            table = TableJob.build(
                input_path,
                output,
                template=template,
                system=system_template,
                body_templates=tuple(_key_value(b, "--body-template") for b in body_templates),
                id_column=id_column,
                schema=schema,
            )
            log_path = str(table.log_path)
        elif tabular or id_column:
            raise ConfigError(
                "--template, --system-template, --body-template and --id-column need a table "
                "input (.csv, .tsv, .parquet, or .jsonl records)"
            )
        request = RunRequest(
            input_path=input_path,
            output=log_path,
            endpoint=Endpoint(base_url=base_url, api_key=api_key),
            limits=Limits(concurrency=concurrency, rpm=rpm, tpm=tpm),
            retry=RetryPolicy(max_retries=max_retries),
            timeout=Timeout.coerce(timeout),
            options=RunOptions(
                api=api,  # type: ignore[arg-type]  # click.Choice guarantees the literal
                model=model,
                system=system,
                params=tuple(parse_param(p) for p in params),
                ordered=ordered,
                retry_failed=retry_failed,
                keep_stale=keep_stale,
                service_tier=service_tier,
                flex_fallback=FlexFallback.parse(flex_fallback) if flex_fallback else None,
            ),
            input_format=input_format,  # type: ignore[arg-type]
            progress_mode="none" if quiet else progress_mode,
            summary=not quiet,
            table=table,
            schema=schema,
            validation_retries=validation_retries,
            limiter=limiter,
            limiter_fallback=limiter_fallback,
            workers=workers,
            max_cost=max_cost,
            cache_path=None if no_cache else cache_path,
            prices_path=prices_path,
        )
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    if check:
        sys.exit(check_run(request, run=run_async))
    code = execute_run(request, resume_command=_resume_command(), run=run_async)
    sys.exit(code)


def _key_value(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{option} expects KEY=TEMPLATE, got {text!r}")
    return key.strip(), value


# -v: what the run does with each request (retries, limiter waits); -vv: everything.
_VERBOSE_LOGGERS = ("surge._engine", "surge._limits", "surge._http")


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr
    )
    if verbose == 1:
        for name in _VERBOSE_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="surge", standalone_mode=True)
    except SurgeError as err:
        click.echo(f"surge: error: {err}", err=True)
        sys.exit(ExitCode.USAGE)


if __name__ == "__main__":  # pragma: no cover
    main()
