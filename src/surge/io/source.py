"""Stream input items, one at a time, with constant memory.

    async for item in read_lines("requests.jsonl", builder):
        ...   # a Request, or an InputError naming its line

``-`` reads standard input. The file is read in ~64 KiB batches in a worker thread so a
slow pipe never blocks the event loop, and nothing but the current batch is held.
The format is decided by the first non-blank line: ``{`` or ``"`` starts JSONL, anything
else is plain text with one prompt per line. Blank lines are not requests and are skipped.
A ``.csv``/``.tsv``/``.parquet`` file is a table, not lines: ``auto`` refuses it (a CSV
record may span lines, and its header is no prompt) and points to the table run
(:class:`surge.io.table_job.TableJob`, ``surge run data.csv --template ...``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from pathlib import Path
from typing import IO, Literal

from ..errors import ConfigError, InputError
from ..models import Request
from .formats import RequestBuilder
from .tables import table_format

__all__ = ["InputFormat", "count_lines", "iter_items", "read_lines"]

InputFormat = Literal["auto", "jsonl", "text"]

_BATCH_BYTES = 1 << 16


def count_lines(path: str | Path) -> int:
    """Count the lines :func:`read_lines` will yield (non-blank), streaming the file."""
    # Line by line, with the same notion of "blank" as read_lines: counting b"\n\n" pairs
    # missed runs of blank lines, a leading blank line and whitespace-only/CRLF blanks.
    with open(path, "rb") as f:
        return sum(1 for raw in f if raw.strip())


async def read_lines(
    path: str | Path,
    builder: RequestBuilder,
    *,
    input_format: InputFormat = "auto",
) -> AsyncIterator[Request | InputError]:
    """Requests from a file (or ``-`` for stdin), in order."""
    if input_format == "auto" and table_format(path) in ("csv", "parquet"):
        raise ConfigError(
            f"{path} is a table, not one request per line: run it as a table "
            "(surge run FILE --template '...{column}...' -o out.csv, or surge.run_table)"
        )
    if str(path) == "-":
        stream: IO[bytes] = sys.stdin.buffer
        close = False
    else:
        stream = open(path, "rb")  # noqa: SIM115 - closed in finally below
        close = True
    text_mode: bool | None = {"auto": None, "jsonl": False, "text": True}[input_format]
    line_no = 0
    try:
        while True:
            batch = await asyncio.to_thread(stream.readlines, _BATCH_BYTES)
            if not batch:
                return
            for raw in batch:
                line_no += 1
                try:
                    text = raw.decode("utf-8").rstrip("\r\n")
                    if line_no == 1:
                        # Editors on Windows save a BOM; it would make JSONL look like text.
                        text = text.removeprefix("\ufeff")
                except UnicodeDecodeError as err:
                    yield InputError(f"not valid UTF-8 (byte {err.start})", line=line_no)
                    continue
                stripped = text.strip()
                if not stripped:
                    continue
                if text_mode is None:
                    text_mode = not stripped.startswith(("{", '"'))
                try:
                    yield builder.from_line(text, line=line_no, text_mode=text_mode)
                except InputError as err:
                    yield err
    finally:
        if close:
            stream.close()


async def iter_items(
    items: Iterable[object] | AsyncIterable[object], builder: RequestBuilder
) -> AsyncIterator[Request | InputError]:
    """Requests from library inputs: strings, dicts, Request objects (sync or async)."""
    index = 0
    if isinstance(items, AsyncIterable):
        async for item in items:
            index += 1
            try:
                yield builder.from_item(item, line=index)
            except InputError as err:
                yield err
    else:
        for item in items:
            index += 1
            try:
                yield builder.from_item(item, line=index)
            except InputError as err:
                yield err
