"""``surge batch``: the same input file, sent through the Batch API at half price.

    surge batch submit in.jsonl -o out.jsonl      # split, upload, create; returns at once
    surge batch status -o out.jsonl               # each batch's progress
    surge batch fetch -o out.jsonl                # merge finished batches into out.jsonl
    surge batch run in.jsonl -o out.jsonl         # submit, wait, fetch (resumable)
    surge batch run in.jsonl -o out.jsonl --then-online   # then send what expired online
    surge batch cancel -o out.jsonl

Every command is safe to kill and run again: the job is recorded beside the output
(``out.jsonl.surge-batch.json``), nothing is submitted twice, and results already in the
output are never requested again. Exit codes as for ``surge run``.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..batch.split import MAX_REQUESTS
from ..batch.state import BatchState
from ..batch.workflow import BatchJob, BatchSettings, FetchReport
from ..config import Endpoint, RunOptions
from ..errors import ConfigError, SurgeError
from ..io.formats import parse_param
from .exits import ExitCode
from .options import endpoint_options, limit_options, options, prices_option, request_options

__all__ = ["batch_group"]

# The codes of exits.py (the one place they are defined), under this module's names.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = ExitCode.OK, ExitCode.FAILED, ExitCode.USAGE
EXIT_INTERRUPTED = ExitCode.INTERRUPTED


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _output_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-o",
        "--output",
        required=True,
        type=click.Path(dir_okay=False),
        help="Output JSONL; the job's state file sits beside it.",
    )(fn)


_input_options = options(
    request_options(),
    click.option(
        "--max-requests",
        type=click.IntRange(1, MAX_REQUESTS),
        default=MAX_REQUESTS,
        show_default=True,
        help=f"Requests per batch at most (the API allows {MAX_REQUESTS:,}).",
    ),
    click.option(
        "--retry-failed",
        is_flag=True,
        help="In a new round, also re-send requests whose result is an error.",
    ),
)


def _poll_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--poll-interval",
        type=click.FloatRange(min=0.01),
        default=30.0,
        show_default=True,
        help="Seconds between status checks.",
    )(fn)


def _settings(kw: dict[str, Any]) -> BatchSettings:
    options = RunOptions(
        api=kw.get("api") or "chat",
        model=kw.get("model"),
        system=kw.get("system"),
        params=tuple(parse_param(p) for p in kw.get("params") or ()),
    )
    return BatchSettings(
        endpoint=Endpoint(base_url=kw.get("base_url"), api_key=kw.get("api_key")),
        options=options,
        input_format=kw.get("input_format") or "auto",
        max_requests=kw.get("max_requests") or MAX_REQUESTS,
        poll_interval=kw.get("poll_interval") or 30.0,
    )


def _invoke(body: Callable[[], Any]) -> int:
    """Run one command's coroutine; map errors to messages and exit codes."""
    from .main import run_async

    try:
        code = run_async(body())
    except ConfigError as err:
        _say(f"surge: error: {err}")
        code = EXIT_USAGE
    except SurgeError as err:
        _say(f"surge: error: {err}")
        _say(f"the job is saved; run the same command again to continue:\n  {_command()}")
        code = EXIT_FAILED
    except KeyboardInterrupt:
        _say(f"\nsurge: interrupted; run the same command again to resume:\n  {_command()}")
        code = EXIT_INTERRUPTED
    return int(code)


def _command() -> str:
    args = [a for a in sys.argv[1:] if not a.startswith("--api-key")]
    return "surge " + shlex.join(args)


@click.group("batch")
def batch_group() -> None:
    """Send an input file through the Batch API (half price, results within 24 h)."""


@batch_group.command("submit")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False))
@_output_option
@_input_options
@endpoint_options()
def submit_command(input_path: str, output: str, **kw: Any) -> None:
    """Split INPUT into batches, upload them and create the batches; return at once."""
    job = BatchJob(output, _settings(kw))

    async def body() -> int:
        async with job.client() as client:
            state = await job.submit(client, input_path, retry_failed=kw["retry_failed"])
        if state is None:
            _say(f"surge: nothing to send: {output} already holds every request of {input_path}")
            return EXIT_OK
        requests = sum(p.requests for p in state.pieces)
        _say(f"surge: {requests:,} requests in {len(state.pieces)} batches:")
        for piece in state.pieces:
            _say(f"  {piece.batch_id}  {piece.requests:>6,} requests  {piece.model}")
        _say(f"check with:  surge batch status -o {shlex.quote(output)}")
        return EXIT_OK

    sys.exit(_invoke(body))


def _describe(state: BatchState) -> str:
    done = sum(p.completed + p.failed for p in state.pieces)
    total = sum(p.total or p.requests for p in state.pieces)
    statuses: dict[str, int] = {}
    for piece in state.pieces:
        statuses[str(piece.status)] = statuses.get(str(piece.status), 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    return f"surge batch: {done:,}/{total:,} requests done · batches: {summary}"


@batch_group.command("status")
@_output_option
@endpoint_options()
def status_command(output: str, **kw: Any) -> None:
    """Show how far each batch of OUTPUT's job got."""
    job = BatchJob(output, _settings(kw))

    async def body() -> int:
        state = _require_state(job)
        async with job.client() as client:
            await job.refresh(client, state)
        for piece in state.pieces:
            click.echo(
                f"{piece.batch_id}  {piece.status or piece.phase:<11} "
                f"{piece.completed:,}/{piece.total or piece.requests:,} done, "
                f"{piece.failed:,} failed  ({piece.model}, {'fetched' if piece.phase == 'fetched' else 'not fetched'})"
            )
        _say(_describe(state))
        return EXIT_OK

    sys.exit(_invoke(body))


def _require_state(job: BatchJob) -> BatchState:
    state = job.load()
    if state is None:
        raise ConfigError(f"no batch job for {job.output} (start one with 'surge batch submit')")
    return state


def _report_fetch(report: FetchReport, output: str, book_path: str | None) -> None:
    from ..cost.prices import PriceBook

    book = PriceBook.load(book_path)
    cost = 0.0
    unpriced = []
    for model, (tokens_in, tokens_out, cached) in report.usage_by_model.items():
        price = book.price(model)
        if price is None:
            unpriced.append(model)
            continue
        cost += price.cost(input=tokens_in, output=tokens_out, cached=cached, tier="batch")
    line = f"surge: fetched {report.written:,} results into {output}: {report.succeeded:,} ok"
    if report.failed:
        codes = ", ".join(f"{c} {n:,}" for c, n in sorted(report.errors_by_code.items()))
        line += f", {report.failed:,} failed ({codes})"
    _say(line)
    if report.usage_by_model:
        note = f" (no price for {', '.join(unpriced)})" if unpriced else ""
        _say(f"  cost ${cost:,.4f} at batch rates{note}")


def _failures_in(output: str) -> int:
    from ..io.store import read_results

    if not Path(output).exists():
        return 0
    return sum(1 for r in read_results(output) if not r.ok and not r.line_error)


@batch_group.command("fetch")
@_output_option
@endpoint_options()
@prices_option
def fetch_command(output: str, prices_path: str | None, **kw: Any) -> None:
    """Download finished batches and merge them into OUTPUT."""
    job = BatchJob(output, _settings(kw))

    async def body() -> int:
        state = _require_state(job)
        async with job.client() as client:
            await job.refresh(client, state)
            report = await job.fetch(client, state)
        _report_fetch(report, output, prices_path)
        pending = [p for p in state.pieces if p.phase != "fetched"]
        if pending:
            _say(f"surge: {len(pending)} batches still running; fetch again later")
        return EXIT_OK if not pending and _failures_in(output) == 0 else EXIT_FAILED

    sys.exit(_invoke(body))


@batch_group.command("cancel")
@_output_option
@endpoint_options()
def cancel_command(output: str, **kw: Any) -> None:
    """Cancel OUTPUT's running batches (what they finished can still be fetched)."""
    job = BatchJob(output, _settings(kw))

    async def body() -> int:
        state = _require_state(job)
        async with job.client() as client:
            await job.cancel(client, state)
        _say(_describe(state))
        _say(f"fetch partial results with:  surge batch fetch -o {shlex.quote(output)}")
        return EXIT_OK

    sys.exit(_invoke(body))


@batch_group.command("run")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False))
@_output_option
@_input_options
@endpoint_options()
@_poll_option
@prices_option
@click.option(
    "--then-online",
    is_flag=True,
    help="Afterwards, send requests that expired or failed online (surge run).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@limit_options(concurrency=64, what="Online pass: ")
def run_command(
    input_path: str,
    output: str,
    prices_path: str | None,
    then_online: bool,
    quiet: bool,
    **kw: Any,
) -> None:
    """Submit INPUT as batches, wait for them, fetch into OUTPUT (resumable)."""
    settings = _settings(kw)
    job = BatchJob(output, settings)
    last: list[str] = []

    def on_poll(state: BatchState) -> None:
        line = _describe(state)
        if not quiet and (not last or last[-1] != line):
            _say(line)
            last.append(line)

    kw["quiet"] = quiet

    async def body() -> int:
        async with job.client() as client:
            state = job.load()
            if state is None or state.all_fetched:
                state = await job.submit(client, input_path, retry_failed=kw["retry_failed"])
            else:
                state = await job.submit(client, input_path)  # finish sending this round
            if state is None:
                _say(f"surge: nothing to send: {output} already holds every request")
            else:
                await job.wait(client, state, on_poll=on_poll)
                report = await job.fetch(client, state)
                _report_fetch(report, output, prices_path)
        return EXIT_OK if _failures_in(output) == 0 else EXIT_FAILED

    code = _invoke(body)
    if code in (EXIT_OK, EXIT_FAILED) and then_online and _failures_in(output):
        code = _online(input_path, output, settings, prices_path, kw)
    sys.exit(code)


def _online(
    input_path: str,
    output: str,
    settings: BatchSettings,
    prices_path: str | None,
    kw: dict[str, Any],
) -> int:
    """Re-send what the batches did not answer, online, through surge's own run."""
    from ..config import Limits, RetryPolicy, Timeout
    from .main import run_async
    from .run_request import RunRequest
    from .runner import execute_run

    _say("surge: sending online what the batches did not answer")
    request = RunRequest(
        input_path=input_path,
        output=output,
        endpoint=settings.endpoint,
        limits=Limits(concurrency=kw["concurrency"], rpm=kw["rpm"], tpm=kw["tpm"]),
        retry=RetryPolicy(),
        timeout=Timeout(),
        options=replace(settings.options, retry_failed=True),
        input_format=settings.input_format,
        progress_mode="none" if kw.get("quiet") else "auto",
        prices_path=prices_path,
    )
    resume = f"surge run {shlex.quote(input_path)} -o {shlex.quote(output)} --retry-failed"
    return execute_run(request, resume_command=resume, run=run_async)
