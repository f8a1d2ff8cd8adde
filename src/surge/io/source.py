"""Stream input items, one at a time, with constant memory.

    async for item in read_lines("requests.jsonl", builder):
        ...   # a Request, or an InputError naming its line

``-`` reads standard input line by line as it arrives (a pipe or a terminal is read by the
event loop itself, so a slow producer's lines go out at once and Ctrl-C never waits for
it). Any readable path works, FIFOs and ``/dev/fd/N`` (bash ``<(...)``) included. A file is
read in ~64 KiB batches in a worker thread so the event loop never blocks, and nothing
but the current batch is held.
The format is decided by the first non-blank lines (:func:`detect_text_mode`): JSON
starts JSONL, anything else is plain text with one prompt per line. Blank lines are not
requests and are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import IO, Literal

import orjson

from ..errors import ConfigError, InputError
from ..models import Request
from .formats import RequestBuilder

__all__ = ["InputFormat", "count_lines", "detect_text_mode", "iter_items", "read_lines"]

InputFormat = Literal["auto", "jsonl", "text"]

_BATCH_BYTES = 1 << 16
_DETECT_LINES = 20
_JSON_START = ("{", '"')


def _is_json(text: str) -> bool:
    try:
        return isinstance(orjson.loads(text), dict | str)
    except orjson.JSONDecodeError:
        return False


def detect_text_mode(lines: Sequence[str], *, first_line: int = 1) -> bool:
    """True for plain text, False for JSONL, from the first non-blank lines of an input.

        detect_text_mode(['{"prompt": "hi"}'])                  # False: JSONL
        detect_text_mode(["{curly} braces are fine", "next"])   # True: text

    A first line that starts like JSON but does not parse is a bad JSONL line when a
    later line is JSON, a text prompt when a later line is not JSON-like; with nothing
    to tell them apart, :class:`ConfigError` asks for ``--input-format``.
    """
    texts = [line.strip() for line in lines if line.strip()]
    if not texts or not texts[0].startswith(_JSON_START):
        return True
    if _is_json(texts[0]):
        return False
    others = texts[1:]
    if any(t.startswith(_JSON_START) and _is_json(t) for t in others):
        return False
    if any(not t.startswith(_JSON_START) for t in others):
        return True
    raise ConfigError(
        f"cannot tell whether the input is JSONL or text: line {first_line} starts with "
        f"{texts[0][0]!r} but is not JSON; pass --input-format jsonl or --input-format text"
    )


def _decoded(batch: Sequence[bytes]) -> list[str]:
    return [raw.decode("utf-8", "replace").removeprefix("\ufeff") for raw in batch]


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
    batches = _stdin_batches() if str(path) == "-" else _file_batches(path)
    text_mode: bool | None = {"auto": None, "jsonl": False, "text": True}[input_format]
    line_no = 0
    try:
        async for batch in batches:
            for position, raw in enumerate(batch):
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
                    ahead = _decoded(batch[position : position + _DETECT_LINES])
                    text_mode = detect_text_mode(ahead, first_line=line_no)
                try:
                    yield builder.from_line(text, line=line_no, text_mode=text_mode)
                except InputError as err:
                    yield err
    finally:
        await batches.aclose()


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
