"""One ``surge run``: options in, progress and summary around the engine, exit code out.

    request = RunRequest(input_path="in.jsonl", output="out.jsonl", ...)   # run_request.py
    code = execute_run(request, resume_command="surge run in.jsonl -o out.jsonl", run=asyncio.run)

Signals: the first SIGINT/SIGTERM stops launching requests and lets in-flight ones finish
for a short grace period; a second SIGINT exits at once. Either way every finished result
is already in the output (each is written whole as it completes), and the command that
resumes the run is printed. A run that cannot go on (the output cannot be written, the
endpoint refuses every request) stops with one message and the resume command; the exit
codes are in ``exits.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import stat
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from .._engine.engine import Engine
from .._engine.structured import ValidateStep
from .._limits.gate import Gate
from .._limits.remote import guarded, opened_gate
from ..errors import ConfigError, LimiterError, OutputError, OutputRefusedError, SurgeError
from ..events import Listener, RunStats
from ..io.formats import RequestBuilder
from ..io.source import count_lines
from ..io.store import open_store
from ..io.table_job import TableJob
from ..io.tables import count_rows
from .exits import ExitCode
from .run_request import RunRequest
from .spending import RunExtras

__all__ = ["execute_run"]

log = logging.getLogger(__name__)


def _is_regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _exit_code(stats: RunStats, interrupted: bool) -> int:
    if interrupted:
        return ExitCode.INTERRUPTED
    ok = stats.failed == 0 and stats.invalid == 0 and stats.skipped_failed == 0
    return ExitCode.OK if ok else ExitCode.FAILED


async def _count_total(path: str, stats: RunStats, *, table: bool = False) -> None:
    if path == "-" or not _is_regular(path):
        return  # a pipe can be read only once: the run itself must read it
    with contextlib.suppress(OSError, SurgeError):
        stats.total = await asyncio.to_thread(count_rows if table else count_lines, path)


def _listeners(*listeners: Listener | None) -> tuple[Listener, ...]:
    return tuple(listener for listener in listeners if listener is not None)


async def _run(
    request: RunRequest,
    stats: RunStats,
    state: dict[str, Any],
    extras: RunExtras,
    display: Listener | None = None,
) -> RunStats:
    await extras.check_prices(request.input_path, request.requests(RequestBuilder(request.options)))
    limits = request.settings.limits
    if limits.rpm or limits.tpm or request.limiter is not None:
        # A paced run must not share its first second with ~0.5 s of CPU in another
        # thread: the event loop would stall and then send what it owed in a bunch (a
        # provider's per-second window sees a burst). Usually the prices are on disk.
        await asyncio.to_thread(extras.book.wait_loaded)

    settings = request.settings
    # Validation outermost: it puts the schema into the body the cache and budget see.
    steps = [*extras.steps]
    if request.schema is not None:
        steps.insert(0, ValidateStep(request.schema, retries=request.validation_retries))
    async with opened_gate(request.limiter_url, settings.limits, settings.endpoint) as gate:
        engine = state["engine"] = Engine(
            settings,
            gate=gate,
            stats=stats,
            steps=steps,
            listeners=_listeners(extras.meter, display),
        )
        return await _run_engine(request, engine, gate, state)


async def _run_engine(
    request: RunRequest, engine: Engine, gate: Gate | None, state: dict[str, Any]
) -> RunStats:
    loop = asyncio.get_running_loop()
    stats = engine.stats
    settings = request.settings
    table = request.table

    def on_signal(signum: int) -> None:
        if state.get("interrupted"):
            # Second signal: leave now. Every finished line is already on disk, but for
            # results held back for --ordered, which are written first (they are paid for).
            engine.flush_pending()
            _say(f"\nsurge: stopped. Resume with:\n  {state['resume']}")
            os._exit(ExitCode.INTERRUPTED)
        state["interrupted"] = True
        name = signal.Signals(signum).name
        _say(f"\nsurge: {name}: finishing requests in flight (again to quit now)...")
        engine.request_stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available off the main thread or on Windows: Ctrl-C then raises instead.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal, signum)
    counter = asyncio.create_task(_count_total(request.input_path, stats, table=table is not None))
    try:
        source = request.requests(RequestBuilder(settings.options))
        store = open_store(
            request.output,
            retry_failed=settings.options.retry_failed,
            keep_stale=settings.options.keep_stale,
        )
        return await guarded(gate, engine.request_stop, engine.run(source, store))
    finally:
        counter.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


def _quit_on_signal(resume: str) -> None:
    def quit_now(signum: int, frame: object) -> None:
        _say(f"\nsurge: stopped. Resume with:\n  {resume}")
        os._exit(ExitCode.INTERRUPTED)

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: nothing to do
            signal.signal(signum, quit_now)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _write_table(job: TableJob, *, quiet: bool) -> bool:
    """The output table, (re)written from the result log; False if it could not be."""
    try:
        rows, finished = job.write_table()
    except (SurgeError, OSError) as err:
        _say(f"surge: error: cannot write {job.output}: {err}")
        return False
    if not quiet:
        pending = f", {rows - finished:,} not finished yet" if finished < rows else ""
        _say(f"table: {job.output} ({rows:,} rows{pending}); result log: {job.log_path}")
    return True


def _start_line(request: RunRequest) -> str:
    """What this run talks to: endpoint and model (never the key), input and output."""
    model = request.options.model or "each line's own"
    output = "stdout" if request.output == "-" else request.output
    source = "stdin" if request.input_path == "-" else request.input_path
    return (
        f"surge: {source} -> {output}, endpoint {request.endpoint.resolved_base_url()}, "
        f"model {model}"
    )


def _failure_advice(stats: RunStats, output: str, resume_command: str) -> str:
    """Which failures there are, and --retry-failed only when some could succeed."""
    failures = stats.failed + stats.invalid + stats.skipped_failed
    retriable = stats.failed_transient + stats.skipped_failed_transient
    where = "" if output == "-" else f" (see 'error' in {output})"
    text = f"surge: {failures} requests did not succeed{where}"
    if retriable and output != "-":
        return (
            f"{text}; {retriable} could succeed if sent again:\n  {resume_command} --retry-failed"
        )
    return f"{text}; sending them again would not help (each error says what is wrong)"


def execute_run(
    request: RunRequest,
    *,
    resume_command: str,
    run: Callable[[Coroutine[Any, Any, RunStats]], RunStats],
) -> int:
    """Run to completion (or interruption); print progress and summary; return exit code."""
    from .progress import ProgressDisplay

    if request.workers > 1:
        from .workers import run_workers

        return run_workers(request, resume_command=resume_command)
    stats = RunStats()
    state: dict[str, Any] = {"resume": resume_command}
    if hasattr(signal, "SIGXFSZ"):
        # Past a file-size limit (ulimit -f) a write then fails with EFBIG, reported
        # as an output error, instead of the signal killing the process mid-run.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def stop_for_budget() -> None:
        engine: Engine | None = state.get("engine")
        if engine is not None:
            engine.request_stop()

    try:
        extras = RunExtras.build(
            max_cost=request.max_cost,
            cache_path=request.cache_path,
            prices_path=request.prices_path,
            endpoint=request.endpoint,
            stop=stop_for_budget,
            priced=request.summary,
        )
    except ConfigError as err:
        _say(f"surge: error: {err}")
        return ExitCode.USAGE
    display = ProgressDisplay(
        stats,
        mode=request.progress_mode,  # type: ignore[arg-type]
        extra=extras.progress_text,
    )
    if request.summary:
        _say(_start_line(request))
    if request.input_path == "-" and sys.stdin.isatty():
        _say("surge: reading requests from standard input, one per line (Ctrl-D to end)")
    display.start()
    try:
        run(_run(request, stats, state, extras, display if display.mode != "none" else None))
    except OutputRefusedError as err:  # nothing was touched: another -o, or wait
        display.stop()
        _say(f"surge: error: {err}")
        return ExitCode.USAGE
    except OutputError as err:
        display.stop()
        _say(f"surge: error: {err}\nThe run stopped. Resume once fixed with:\n  {resume_command}")
        return ExitCode.OUTPUT
    except LimiterError as err:
        display.stop()
        if not stats.attempts:  # unreachable from the start: a configuration problem
            _say(f"surge: error: {err}")
            return ExitCode.USAGE
        _say(f"surge: error: {err}\nThe output is valid. Resume with:\n  {resume_command}")
        return ExitCode.OUTPUT
    except SurgeError as err:  # ConfigError: options, or an endpoint refusing every request
        display.stop()
        started = " Resume once fixed with:\n  " + resume_command if stats.attempts else ""
        _say(f"surge: error: {err}{started}")
        return ExitCode.USAGE
    except KeyboardInterrupt:
        display.stop()
        _say(f"\nsurge: interrupted. Resume with:\n  {resume_command}")
        return ExitCode.INTERRUPTED
    except Exception as err:  # a bug: still one message and the resume command
        display.stop()
        log.debug("internal error", exc_info=True)
        _say(
            f"surge: internal error: {type(err).__name__}: {err} (a bug; -vv shows details)."
            f"\nThe run stopped. Resume with:\n  {resume_command}"
        )
        return ExitCode.OUTPUT
    finally:
        extras.close()
    interrupted = bool(state.get("interrupted"))
    if interrupted:
        # A second signal may still come while the summary prints or the interpreter
        # exits: it means "quit now", as during the run (every result is written).
        _quit_on_signal(resume_command)
    display.stop()
    if request.summary:
        from .summary import format_summary

        _say(format_summary(stats, output=request.output))
        if extras.meter.priced or extras.meter.cache_hits or extras.meter.unpriced:
            _say(f"  {extras.meter.describe()}")
    if request.table is not None and not _write_table(request.table, quiet=not request.summary):
        return ExitCode.OUTPUT
    if extras.stopped_by_budget and not interrupted:
        _say(extras.budget_message(resume_command))
        return ExitCode.FAILED
    if interrupted:
        _say(f"surge: interrupted. Resume with:\n  {resume_command}")
        # Leave now, as a second signal would make us: everything is written, and the
        # interpreter's teardown is a window where that signal would kill us (exit -2).
        sys.stdout.flush()
        os._exit(ExitCode.INTERRUPTED)
    elif stats.failed or stats.invalid or stats.skipped_failed:
        _say(_failure_advice(stats, request.output, resume_command))
    return _exit_code(stats, interrupted)
