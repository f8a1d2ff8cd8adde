"""One worker of ``surge run --workers N`` (started by the parent, never by a user).

    SURGE_WORKER=<config> python -c "from surge.cli.worker import main; main()"

The configuration comes in an environment variable (pickled :class:`WorkerConfig`), never
on the command line, where every user of the machine could read the API key. The worker
runs the ordinary engine over its share of the input (see :func:`surge.io.parts.shard`),
paced by the shared limiter, into its own part file. SIGINT/SIGTERM stop launching and
let requests in flight finish; a second one leaves at once. Exit codes as ``surge run``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import pickle
import signal
import sys
from dataclasses import dataclass
from typing import Any

from .._engine.engine import Engine, EngineSettings
from .._limits.remote import guarded, opened_gate
from ..config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
from ..errors import LimiterError, OutputError, SurgeError
from ..events import RunStats
from ..io.formats import RequestBuilder
from ..io.parts import output_ids, shard
from ..io.source import InputFormat, read_lines
from ..io.store import JsonlStore
from .exits import ExitCode

__all__ = ["ENV", "WorkerConfig", "main"]

ENV = "SURGE_WORKER"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    index: int
    count: int
    input_path: str
    output: str  # the merged output (read-only here: the parent owns it)
    part: str  # this worker's own result file
    endpoint: Endpoint
    limits: Limits
    retry: RetryPolicy
    timeout: Timeout
    options: RunOptions
    input_format: InputFormat
    limiter: str

    def encode(self) -> str:
        return base64.b64encode(pickle.dumps(self)).decode()

    @classmethod
    def decode(cls, text: str) -> WorkerConfig:
        config = pickle.loads(base64.b64decode(text))
        assert isinstance(config, cls)
        return config


async def _work(config: WorkerConfig, state: dict[str, Any]) -> RunStats:
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        engine: Engine | None = state.get("engine")
        if state.get("interrupted"):
            if engine is not None:
                engine.flush_pending()
            os._exit(ExitCode.INTERRUPTED)
        state["interrupted"] = True
        if engine is not None:
            engine.request_stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    settings = EngineSettings(
        endpoint=config.endpoint,
        limits=config.limits,
        retry=config.retry,
        timeout=config.timeout,
        options=config.options,
    )
    lines = read_lines(
        config.input_path, RequestBuilder(settings.options), input_format=config.input_format
    )
    source = shard(lines, index=config.index, count=config.count, skip=output_ids(config.output))
    async with opened_gate(config.limiter, settings.limits, settings.endpoint) as gate:
        engine = state["engine"] = Engine(settings, gate=gate)
        return await guarded(gate, engine.request_stop, engine.run(source, JsonlStore(config.part)))


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _stop_with_parent() -> None:
    """Linux: get SIGTERM (a graceful stop) if the parent dies, so no worker outlives it
    and goes on writing a part file that a re-run is about to merge."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def main() -> None:
    from .main import run_async

    _stop_with_parent()
    config = WorkerConfig.decode(os.environ.pop(ENV))
    state: dict[str, Any] = {}
    try:
        stats: RunStats = run_async(_work(config, state))
    except (LimiterError, OutputError) as err:
        _say(f"surge: worker {config.index}: {err}")
        sys.exit(ExitCode.OUTPUT)
    except SurgeError as err:
        _say(f"surge: worker {config.index}: error: {err}")
        sys.exit(ExitCode.USAGE)
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as err:  # never a traceback: the parent merges what was written
        _say(f"surge: worker {config.index}: internal error: {type(err).__name__}: {err}")
        sys.exit(ExitCode.OUTPUT)
    if state.get("interrupted"):
        sys.exit(ExitCode.INTERRUPTED)
    sys.exit(ExitCode.OK if stats.failed == 0 and stats.invalid == 0 else ExitCode.FAILED)
