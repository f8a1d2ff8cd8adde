"""``surge run --workers N``: N processes, disjoint shares of the input, one limit, one output.

    surge run big.jsonl -o results.jsonl --workers 4 --rpm 30000

The parent process:

1. opens the output (it stays its only writer for the whole run) and merges the part
   files a killed earlier run left behind, so each custom_id is in the output once;
2. serves the shared limiter on a Unix socket (or passes ``--limiter redis://...`` on);
3. starts N workers (``surge.cli.worker``): each reads the whole input, keeps its share
   (by custom_id hash), skips what the output holds, and writes its own part file;
4. merges the parts into the output when they finish (or are interrupted), deletes them,
   and prints a summary.

Killed at any moment (even ``kill -9`` of the whole group), the same command resumes:
nothing in the output or in a part file is sent again, and every custom_id ends up once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from .. import _constants as C
from .._limits.budget_server import BudgetServer
from ..errors import OutputError, SurgeError
from ..io.parts import merge_parts, output_ids, part_path
from ..io.source import count_lines
from ..io.store import JsonlStore, read_results
from .exits import ExitCode
from .run_request import RunRequest
from .worker import ENV, WorkerConfig

__all__ = ["parts_dir_for", "run_workers"]


def parts_dir_for(output: str | Path) -> Path:
    path = Path(output)
    return path.with_name(path.name + ".parts")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _configs(request: RunRequest, limiter: str, parts_dir: Path) -> list[WorkerConfig]:
    return [
        WorkerConfig(
            index=i,
            count=request.workers,
            input_path=request.input_path,
            output=request.output,
            part=str(part_path(parts_dir, i)),
            endpoint=request.endpoint,
            limits=request.limits,
            retry=request.retry,
            timeout=request.timeout,
            options=request.options,
            input_format=request.input_format,
            limiter=limiter,
        )
        for i in range(request.workers)
    ]


async def _supervise(configs: list[WorkerConfig], state: dict[str, bool]) -> list[int]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from surge.cli.worker import main; main()",
            env={**env, ENV: config.encode()},
        )
        for config in configs
    ]
    loop = asyncio.get_running_loop()

    def forward(signum: int) -> None:
        # Ctrl-C reaches the whole process group (workers included); a signal sent to the
        # parent alone is passed on, so that either way each worker sees it once.
        state["interrupted"] = True
        if signum == signal.SIGTERM:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, forward, signum)
    try:
        return list(await asyncio.gather(*(proc.wait() for proc in procs)))
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


class _PartCounter:
    """Lines the workers have written so far (reads only what was appended since last time)."""

    def __init__(self, parts_dir: Path) -> None:
        self._dir = parts_dir
        self._seen: dict[Path, tuple[int, int]] = {}  # path -> (bytes read, lines)

    def count(self) -> int:
        for part in self._dir.glob("worker-*.jsonl"):
            offset, lines = self._seen.get(part, (0, 0))
            with contextlib.suppress(OSError), part.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
                self._seen[part] = (offset + len(chunk), lines + chunk.count(b"\n"))
        return sum(lines for _, lines in self._seen.values())


async def _report(parts_dir: Path, todo: int | None, every: float) -> None:
    counter = _PartCounter(parts_dir)
    started = time.monotonic()
    while True:
        await asyncio.sleep(every)
        done = await asyncio.to_thread(counter.count)
        rate = done / (time.monotonic() - started)
        of = f" of {todo:,}" if todo is not None else ""
        _say(f"surge: {done:,}{of} written by the workers ({rate:,.0f}/s)")


async def _run(
    request: RunRequest, parts_dir: Path, state: dict[str, bool], todo: int | None
) -> list[int]:
    server: BudgetServer | None = None
    sock_dir: str | None = None
    limiter = request.limiter_url
    if limiter is None:
        sock_dir = tempfile.mkdtemp(prefix="surge-")
        server = BudgetServer(os.path.join(sock_dir, "limiter.sock"))
        await server.start()
        limiter = f"surge+unix://{server.path}"
    reporter = None
    if request.progress_mode != "none":
        reporter = asyncio.create_task(_report(parts_dir, todo, C.PLAIN_PROGRESS_INTERVAL))
    try:
        return await _supervise(_configs(request, limiter, parts_dir), state)
    finally:
        if reporter is not None:
            reporter.cancel()
        if server is not None:
            await server.stop()
        if sock_dir is not None:
            shutil.rmtree(sock_dir, ignore_errors=True)


def _todo(request: RunRequest, finished: int) -> int | None:
    """Requests left to send (about: ids finished but no longer in the input count too)."""
    if request.progress_mode == "none":
        return None
    try:
        return max(0, count_lines(request.input_path) - finished)
    except OSError:
        return None


def _tally(output: Path) -> tuple[int, int]:
    ok = failed = 0
    for result in read_results(output):
        if result.ok:
            ok += 1
        else:
            failed += 1
    return ok, failed


def run_workers(request: RunRequest, *, resume_command: str) -> int:
    """Run ``request`` with ``request.workers`` processes; returns the exit code."""
    output = Path(request.output)
    parts_dir = parts_dir_for(output)
    retry_failed = request.options.retry_failed
    store = JsonlStore(output, retry_failed=retry_failed)
    try:
        store.open()  # repairs a torn tail, takes the output for this run
        finished = set(output_ids(output))
        recovered = merge_parts(store, finished, parts_dir, drop_failures=retry_failed)
    except SurgeError as err:
        store.close()
        _say(f"surge: error: {err}")
        return ExitCode.OUTPUT if isinstance(err, OutputError) else ExitCode.USAGE
    if recovered:
        _say(f"surge: merged {recovered} results left by an interrupted run into {output}")
    parts_dir.mkdir(exist_ok=True)
    state: dict[str, bool] = {}
    started = time.monotonic()
    try:
        codes = asyncio.run(_run(request, parts_dir, state, _todo(request, len(finished))))
    except KeyboardInterrupt:
        codes, state["interrupted"] = [ExitCode.INTERRUPTED], True
    finally:
        merged = merge_parts(store, finished, parts_dir)
        store.close()
        with contextlib.suppress(OSError):
            parts_dir.rmdir()
    wall = time.monotonic() - started
    ok, failed = _tally(output)
    if request.summary:
        _say(
            f"surge: {request.workers} workers wrote {merged} results in {wall:.1f}s "
            f"({merged / wall if wall > 0 else 0:.0f}/s); {output} holds {ok} ok, {failed} failed"
        )
    if state.get("interrupted") or ExitCode.INTERRUPTED in codes:
        _say(f"surge: interrupted. Resume with:\n  {resume_command}")
        return ExitCode.INTERRUPTED
    stopped = [code for code in codes if code not in (ExitCode.OK, ExitCode.FAILED)]
    if stopped:
        _say(
            f"surge: a worker stopped (see above); the output is valid. Resume with:\n  {resume_command}"
        )
        usage = all(code == ExitCode.USAGE for code in stopped)
        return ExitCode.USAGE if usage else ExitCode.OUTPUT
    if failed:
        _say(
            f"surge: {failed} requests did not succeed (see 'error' in {output}); "
            f"re-send them with:\n  {resume_command} --retry-failed"
        )
        return ExitCode.FAILED
    return ExitCode.OK
