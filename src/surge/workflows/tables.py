"""A prompt over every row of a table, from Python: ``surge.run_table``.

    run = await surge.run_table(
        "reviews.csv", "sentiment.parquet",
        template="Classify this review: {review}", schema=Sentiment, model="gpt-4.1-mini",
    )
    run.rows, run.finished, run.stats.failed, run.log      # the table is written

The same job as ``surge run reviews.csv --template ... -o sentiment.parquet``: every input
column kept, the answer (or each field of the structured answer) added, with status and
error columns, in input order. The result log beside the output
(``sentiment.parquet.surge.jsonl``) makes the call resumable: run it again and only the
rows without a result are sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import _constants as C
from .._schema import OutputSchema
from .._sync import run_sync
from ..api import run_source
from ..config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
from ..events import Listener, RunStats
from ..io.formats import RequestBuilder
from ..io.table_job import TableJob

__all__ = ["TableRun", "run_table", "run_table_sync"]


@dataclass(frozen=True, slots=True)
class TableRun:
    output: Path
    log: Path  # the result log, the source of truth for resume
    rows: int  # rows written to the output table
    finished: int  # of those, rows with a result (ok or error)
    stats: RunStats  # this call's requests


async def run_table(
    input_path: str | Path,
    output: str | Path,
    *,
    template: str | None = None,
    system_template: str | None = None,
    body_templates: dict[str, str] | None = None,
    id_column: str | None = None,
    schema: Any = None,
    validation_retries: int = C.DEFAULT_VALIDATION_RETRIES,
    model: str | None = None,
    endpoint: Endpoint | str | None = None,
    limits: Limits | None = None,
    retry: RetryPolicy | None = None,
    timeout: Timeout | float | None = None,
    options: RunOptions | None = None,
    on_event: Listener | None = None,
) -> TableRun:
    """Send one request per row of ``input_path`` and write ``output`` with the answers.

    Raises :class:`surge.ConfigError` before anything is sent when a template names a
    column the table does not have.
    """
    options = options or RunOptions()
    if model is not None:
        options = replace(options, model=model)
    job = TableJob.build(
        input_path,
        output,
        template=template,
        system=system_template,
        body_templates=tuple((body_templates or {}).items()),
        id_column=id_column,
        schema=OutputSchema.coerce(schema) if schema is not None else None,
    )
    stats = await run_source(
        job.requests(RequestBuilder(options)),
        job.log_path,
        endpoint=endpoint,
        limits=limits,
        retry=retry,
        timeout=timeout,
        options=options,
        on_event=on_event,
        schema=job.schema,
        validation_retries=validation_retries,
    )
    rows, finished = await asyncio.to_thread(job.write_table)
    return TableRun(job.output, job.log_path, rows, finished, stats)


def run_table_sync(input_path: str | Path, output: str | Path, **kwargs: Any) -> TableRun:
    """Synchronous :func:`run_table`. Works inside a running event loop (Jupyter) too."""
    return run_sync(run_table(input_path, output, **kwargs))
