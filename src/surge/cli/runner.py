"""One ``surge run``: options in, progress and summary around the engine, exit code out.

    request = RunRequest.build(input_path="in.jsonl", output="out.jsonl", model="m", ...)
    code = execute_run(request, resume_command="surge run in.jsonl -o out.jsonl", run=asyncio.run)

Signals: the first SIGINT/SIGTERM stops launching requests and lets in-flight ones finish
for a short grace period; a second SIGINT exits at once. Either way every finished result
is already in the output (each is written whole as it completes), and the command that
resumes the run is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._engine.engine import Engine
from .._limits.remote import split_fallback
from ..api import run_file
from ..config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
from ..errors import ConfigError, LimiterError, SurgeError
from ..events import RunStats
from ..io.source import InputFormat, count_lines

__all__ = ["RunRequest", "execute_run"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass(frozen=True, slots=True)
class RunRequest:
    input_path: str
    output: str
    endpoint: Endpoint
    limits: Limits
    retry: RetryPolicy
    timeout: Timeout
    options: RunOptions
    input_format: InputFormat = "auto"
    progress_mode: str = "auto"
    summary: bool = True
    limiter: str | None = None  # a shared limiter's address (redis://...)
    limiter_fallback: bool = False
    workers: int = 1

    def __post_init__(self) -> None:
        if self.input_path != "-" and not Path(self.input_path).is_file():
            raise ConfigError(f"input file not found: {self.input_path}")
        if (
            self.input_path != "-"
            and Path(self.input_path).resolve() == Path(self.output).resolve()
        ):
            raise ConfigError("input and output must be different files")
        self.endpoint.resolved_base_url()  # a malformed URL is a usage error, found now
        if self.limiter is not None:
            split_fallback(self.limiter)  # a malformed address too
        if self.workers > 1:
            if self.input_path == "-":
                raise ConfigError("--workers needs an input file (not stdin)")
            if self.options.ordered:
                raise ConfigError("--workers cannot write results in input order (--ordered)")

    @property
    def limiter_url(self) -> str | None:
        """The shared limiter's address with the fallback choice in it."""
        if self.limiter is None or not self.limiter_fallback:
            return self.limiter
        joiner = "&" if "?" in self.limiter else "?"
        return f"{self.limiter}{joiner}fallback=local"


def _exit_code(stats: RunStats, interrupted: bool) -> int:
    if interrupted:
        return EXIT_INTERRUPTED
    ok = stats.failed == 0 and stats.invalid == 0 and stats.skipped_failed == 0
    return EXIT_OK if ok else EXIT_FAILED


async def _count_total(path: str, stats: RunStats) -> None:
    if path == "-":
        return
    with contextlib.suppress(OSError):
        stats.total = await asyncio.to_thread(count_lines, path)


async def _run(request: RunRequest, stats: RunStats, state: dict[str, Any]) -> RunStats:
    loop = asyncio.get_running_loop()

    def hook(engine: Engine) -> None:
        state["engine"] = engine

    def on_signal(signum: int) -> None:
        engine: Engine | None = state.get("engine")
        if state.get("interrupted"):
            # Second signal: leave now. Every finished line is already on disk, but for
            # results held back for --ordered, which are written first (they are paid for).
            if engine is not None:
                engine.flush_pending()
            _say(f"\nsurge: stopped. Resume with:\n  {state['resume']}")
            os._exit(EXIT_INTERRUPTED)
        state["interrupted"] = True
        name = signal.Signals(signum).name
        _say(f"\nsurge: {name}: finishing requests in flight (again to quit now)...")
        if engine is not None:
            engine.request_stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available off the main thread or on Windows: Ctrl-C then raises instead.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal, signum)
    counter = asyncio.create_task(_count_total(request.input_path, stats))
    try:
        return await run_file(
            request.input_path,
            request.output,
            endpoint=request.endpoint,
            limits=request.limits,
            retry=request.retry,
            timeout=request.timeout,
            options=request.options,
            input_format=request.input_format,
            stats=stats,
            engine_hook=hook,
            limiter=request.limiter_url,
        )
    finally:
        counter.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


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
    display = ProgressDisplay(stats, mode=request.progress_mode)  # type: ignore[arg-type]
    display.start()
    try:
        run(_run(request, stats, state))
    except ConfigError as err:
        display.stop()
        _say(f"surge: error: {err}")
        return EXIT_USAGE
    except LimiterError as err:
        display.stop()
        _say(f"surge: error: {err}")
        if stats.attempts:
            _say(f"surge: the output is valid; resume with:\n  {resume_command}")
        return EXIT_USAGE
    except SurgeError as err:
        display.stop()
        _say(f"surge: error: {err}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        display.stop()
        _say(f"\nsurge: interrupted. Resume with:\n  {resume_command}")
        return EXIT_INTERRUPTED
    display.stop()
    interrupted = bool(state.get("interrupted"))
    if request.summary:
        from .summary import format_summary

        _say(format_summary(stats, output=request.output))
    if interrupted:
        _say(f"surge: interrupted. Resume with:\n  {resume_command}")
    elif stats.failed or stats.invalid or stats.skipped_failed:
        _say(
            f"surge: {stats.failed + stats.invalid + stats.skipped_failed} requests did not "
            f"succeed (see 'error' in "
            f"{request.output}); re-send them with:\n  {resume_command} --retry-failed"
        )
    return _exit_code(stats, interrupted)
