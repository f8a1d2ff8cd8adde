"""What one ``surge run`` was asked to do, checked before anything starts.

    request = RunRequest(input_path="in.jsonl", output="out.jsonl", endpoint=Endpoint(),
                         limits=Limits(rpm=500), retry=RetryPolicy(), timeout=Timeout(),
                         options=RunOptions(model="gpt-4.1-mini"))
    request.settings                  # the engine's settings
    request.requests(builder)         # the input's requests (a table's rows, or its lines)

Building one raises :class:`surge.ConfigError` for anything the run could not do (a
missing input, input and output the same file, options that do not go together), so the
CLI reports it as a usage error before a request is sent.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from .._engine.engine import EngineSettings
from .._limits.remote import split_fallback
from .._schema import OutputSchema
from ..config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
from ..errors import ConfigError, InputError
from ..io.formats import RequestBuilder
from ..io.source import InputFormat, read_lines
from ..io.table_job import TableJob
from ..models import Request

__all__ = ["RunRequest"]


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
    max_cost: float | None = None  # USD: never start a request that could go over
    cache_path: str | None = None  # SQLite response cache
    prices_path: str | None = None  # JSON prices overriding genai-prices
    # A table run (CSV/Parquet/JSONL records with a template): ``output`` is its result log.
    table: TableJob | None = None
    schema: OutputSchema | None = None  # structured output: replies validated, re-asked
    validation_retries: int = 2

    @property
    def settings(self) -> EngineSettings:
        return EngineSettings(
            endpoint=self.endpoint,
            limits=self.limits,
            retry=self.retry,
            timeout=self.timeout,
            options=self.options,
        )

    def __post_init__(self) -> None:
        if self.input_path != "-":
            _check_input(Path(self.input_path))
        if (
            self.input_path != "-"
            and self.output != "-"
            and Path(self.input_path).resolve() == Path(self.output).resolve()
        ):
            raise ConfigError("input and output must be different files")
        self.endpoint.resolved_base_url()  # a malformed URL is a usage error, found now
        if self.max_cost is not None and self.max_cost < 0:
            raise ConfigError(f"--max-cost must be >= 0 USD, got {self.max_cost}")
        if self.limiter is not None:
            split_fallback(self.limiter)  # a malformed address too
        if self.workers > 1:
            if self.input_path == "-":
                raise ConfigError("--workers needs an input file (not stdin)")
            if self.options.ordered:
                raise ConfigError("--workers cannot write results in input order (--ordered)")
            if self.max_cost is not None:
                raise ConfigError("--workers does not support --max-cost yet")
            if self.cache_path is not None:
                raise ConfigError("--workers does not support --cache yet (use --no-cache)")

    @property
    def limiter_url(self) -> str | None:
        """The shared limiter's address with the fallback choice in it."""
        if self.limiter is None or not self.limiter_fallback:
            return self.limiter
        joiner = "&" if "?" in self.limiter else "?"
        return f"{self.limiter}{joiner}fallback=local"

    def requests(self, builder: RequestBuilder) -> AsyncIterator[Request | InputError]:
        """The input's requests, as ``builder`` makes them: a table's rows, or its lines."""
        if self.table is not None:
            return self.table.requests(builder)
        return read_lines(self.input_path, builder, input_format=self.input_format)


def _check_input(path: Path) -> None:
    """Any readable file, FIFO or /dev/fd path; a directory or a missing path is named."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"input file not found: {path}") from None
    except OSError as err:
        raise ConfigError(f"cannot read input {path}: {err.strerror}") from err
    if stat.S_ISDIR(mode):
        raise ConfigError(f"input {path} is a directory, not a file of requests")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"cannot read input {path}: permission denied")
