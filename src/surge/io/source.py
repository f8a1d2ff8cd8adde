"""Stream input items, one at a time, with constant memory.

    async for item in read_lines("requests.jsonl", builder):
        ...   # a Request, or an InputError naming its line

``-`` reads standard input line by line as it arrives (a pipe or a terminal is read by the
event loop itself, so a slow producer's lines go out at once and Ctrl-C never waits for
it). Any readable path works, FIFOs and ``/dev/fd/N`` (bash ``<(...)``) included. A file is
read in ~256 KiB batches in a worker thread so the event loop never blocks, and nothing
but the current batch is held.
The lines become items in :mod:`surge.io.line_parser` (the format is decided by the first
non-blank lines: JSON starts JSONL, anything else is plain text with one prompt per line).
Blank lines are not requests and are skipped.
A ``.csv``/``.tsv``/``.parquet`` file is a table, not lines: ``auto`` refuses it (a CSV
record may span lines, and its header is no prompt) and points to the table run
(:class:`surge.io.table_job.TableJob`, ``surge run data.csv --template ...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import stat
import sys
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import IO

from ..errors import ConfigError, InputError
from ..models import Request
from .formats import RequestBuilder
from .line_parser import (
    ITEMS_PER_BATCH,
    InputFormat,
    Item,
    LineBatch,
    LineParser,
    detect_text_mode,
)
from .tables import table_format

__all__ = [
    "InputFormat",
    "InputLines",
    "Item",
    "LineBatch",
    "batches_of",
    "count_lines",
    "detect_text_mode",
    "iter_items",
    "read_lines",
]


# A file is read a quarter megabyte at a time (a resumed run goes through a million lines
# before its first request: fewer hand-offs to the reading thread).
_BATCH_BYTES = 1 << 18
_COUNT_BYTES = 1 << 20
# A newline whose next line is blank, and a blank first line (ASCII whitespace only, as
# bytes.strip counts it).
_BLANK_NEXT = re.compile(rb"\n(?=[ \t\r\x0b\x0c]*\n)")
_BLANK_FIRST = re.compile(rb"[ \t\r\x0b\x0c]*\n")


def count_lines(path: str | Path) -> int:
    """Count the lines :func:`read_lines` will yield (non-blank), streaming the file.

    With the same notion of "blank" as read_lines (only ASCII whitespace), a megabyte at
    a time in C: it runs in a thread next to the run itself, and a loop over a million
    lines in Python would take the interpreter from it for a third of a second. Each
    newline ends a line; the blank ones are found by one regular-expression search.
    """
    count = 0
    with open(path, "rb") as f:
        while block := f.read(_COUNT_BYTES):
            if not block.endswith(b"\n"):
                block += f.readline()  # whole lines only
            count += block.count(b"\n") - len(_BLANK_NEXT.findall(block))
            if _BLANK_FIRST.match(block):
                count -= 1
            if not block.endswith(b"\n") and not block[block.rfind(b"\n") + 1 :].isspace():
                count += 1  # the last line, without its newline (and not blank)
    return count


def read_lines(
    path: str | Path,
    builder: RequestBuilder,
    *,
    input_format: InputFormat = "auto",
) -> InputLines:
    """Requests from a file (or ``-`` for stdin), in order."""
    return InputLines(path, builder, input_format)


class InputLines:
    """The items of an input, in order: ``async for item in lines`` one at a time, or
    ``async for batch in lines.batches()`` a list at a time. The engine's feeder takes
    batches: a resumed run skips a million lines without an async step for each.
    """

    def __init__(self, path: str | Path, builder: RequestBuilder, input_format: InputFormat):
        self._path = path
        self._parser = LineParser(builder, input_format)
        self._stream: AsyncGenerator[list[Item], None] | None = None
        self._buffer: list[Item] = []
        self._next = 0  # the next item of _buffer to hand out one at a time

    def _batches(self) -> AsyncGenerator[list[Item], None]:
        if self._stream is None:
            self._stream = self._read()
        return self._stream

    def _check_not_table(self) -> None:
        path = self._path
        if self._parser.text_mode is None and table_format(path) in ("csv", "parquet"):
            raise ConfigError(
                f"{path} is a table, not one request per line: run it as a table "
                "(surge run FILE --template '...{column}...' -o out.csv, or surge.run_table)"
            )

    async def _read(self) -> AsyncGenerator[list[Item], None]:
        path = self._path
        self._check_not_table()
        raw_batches = _stdin_batches() if str(path) == "-" else _file_batches(path)
        try:
            async for raw in raw_batches:
                for start in range(0, len(raw), ITEMS_PER_BATCH):
                    items = self._parser.items(raw[start : start + ITEMS_PER_BATCH])
                    if items:
                        yield items
        finally:
            await raw_batches.aclose()

    async def line_batches(self) -> AsyncIterator[LineBatch | list[Item]]:
        """The rest of the input as raw lines, parsed only when asked (:class:`LineBatch`):
        what a resumed run recognizes by its digest is never parsed. Items already
        parsed (taken one at a time before) come first, as a list."""
        if self._next < len(self._buffer):
            rest = self._buffer[self._next :]
            self._buffer, self._next = [], 0
            yield rest
        if self._stream is not None:  # items were taken one at a time: go on the same way
            async for batch in self._stream:
                yield batch
            return
        self._check_not_table()
        raw_batches = _stdin_batches() if str(self._path) == "-" else _file_batches(self._path)
        parser, first = self._parser, 1
        try:
            async for raw in raw_batches:
                yield LineBatch(raw, first, parser)
                first += len(raw)
        finally:
            await raw_batches.aclose()

    async def batches(self) -> AsyncIterator[list[Item]]:
        """The rest of the items, a non-empty list at a time."""
        if self._next < len(self._buffer):
            rest = self._buffer[self._next :]
            self._buffer, self._next = [], 0
            yield rest
        async for batch in self._batches():
            yield batch

    def __aiter__(self) -> InputLines:
        return self

    async def __anext__(self) -> Item:
        if self._next >= len(self._buffer):
            self._buffer = await anext(self._batches())  # StopAsyncIteration at the end
            self._next = 0
        item = self._buffer[self._next]
        self._next += 1
        return item

    async def aclose(self) -> None:
        """Stop reading and close the input (also done when it is read to the end)."""
        if self._stream is not None:
            await self._stream.aclose()


async def _file_batches(path: str | Path) -> AsyncGenerator[list[bytes], None]:
    stream = open(path, "rb")  # noqa: SIM115 - closed in finally below
    try:
        while batch := await asyncio.to_thread(stream.readlines, _BATCH_BYTES):
            yield batch
    finally:
        stream.close()


async def _stdin_batches() -> AsyncGenerator[list[bytes], None]:
    """Standard input's lines as they arrive: each batch is what one read returned."""
    stdin = sys.stdin.buffer
    mode = os.fstat(stdin.fileno()).st_mode
    if stat.S_ISREG(mode):  # ``< file``: a regular file never blocks for long
        while batch := await asyncio.to_thread(stdin.readlines, _BATCH_BYTES):
            yield batch
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_BATCH_BYTES, loop=loop)
    fd = os.dup(stdin.fileno())  # the transport closes its own copy, never fd 0
    pipe: IO[bytes] = os.fdopen(fd, "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader, loop=loop), pipe
    )
    parts: list[bytes] = []  # the line being read, until its newline arrives
    try:
        while chunk := await reader.read(_BATCH_BYTES):
            if b"\n" not in chunk:
                parts.append(chunk)
                continue
            lines = chunk.split(b"\n")
            if parts:
                parts.append(lines[0])
                lines[0] = b"".join(parts)
                parts = []
            tail = lines.pop()
            if tail:
                parts.append(tail)
            yield [line + b"\n" for line in lines]
        if parts:
            yield [b"".join(parts)]
    finally:
        transport.close()
        with contextlib.suppress(OSError):
            os.set_blocking(stdin.fileno(), True)  # the pipe is shared with the caller


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


async def batches_of(items: AsyncIterable[Item]) -> AsyncIterator[Sequence[Item]]:
    """The items of a source a list at a time when it offers that (:class:`InputLines`),
    else one at a time."""
    if isinstance(items, InputLines):
        async for batch in items.batches():
            yield batch
    else:
        async for item in items:
            yield (item,)
