"""The entries of an output file's lines, a block at a time, read in a second process when
the file is big.

    entries = open_entries(f, path, end)  # f: the output file at path, opened "rb"
    while (block := entries.next_block()) is not None:
        keys, values, sources = block      # array("Q") each, in file order
    entries.unreadable                     # line numbers that held no result record
    entries.close()

Resuming a big output reads every line of it before the first new request can go out, and
reading it (:func:`~surge.io.records.fast_entry`, 1.5-2.5 µs a line in Python) was the
larger half of that time. A file of more than :data:`CHILD_MIN_BYTES` is therefore read by
a child Python process that writes each block's three arrays to a pipe, while this one
goes through the input: on two cores the two halves overlap. The child imports only
:mod:`surge.io.records` and what it needs (not the whole library: ~50 ms to start), and
its id digests equal ours (:func:`~surge.io.digests.id_digest` is the same in every
process). It runs at most a block or two ahead: the pipe holds no more, so the memory stays
flat. If it cannot start, or stops early, the rest is read here from where it stopped.

:func:`find_superseding` finds the superseding lines (``"supersedes": true``, see
:mod:`surge.io.recorded`) by one byte search over the file; the index runs it here while
the child starts reading.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from array import array
from io import BufferedReader
from pathlib import Path
from typing import IO

from .entry_lines import BLOCK_ENTRIES, Block, LocalEntries, fast_entry, full_entry

__all__ = [
    "BLOCK_ENTRIES",
    "CHILD_MIN_BYTES",
    "SUPERSEDES_MARKER",
    "Block",
    "ChildEntries",
    "LocalEntries",
    "find_all",
    "find_superseding",
    "open_entries",
]

log = logging.getLogger(__name__)

# Smaller files are read in this process: starting the child would cost more than it saves.
CHILD_MIN_BYTES = 16 << 20
# How a superseding line's metadata says so (Result.to_output). Inside a JSON string the
# quotes would be escaped, so every hit is a real key; one elsewhere in a line (a model's
# own JSON answer) only makes that id answered from its last line, which is right anyway.
SUPERSEDES_MARKER = b'"supersedes":true'
_SCAN_BLOCK = 1 << 20
# A message on the pipe: entries, unreadable lines, bytes and lines read up to its end.
_HEADER = 4
# The child imports surge.io.entry_lines under an empty stand-in for the package, so that
# surge/__init__.py (the whole library) is not imported.
_BOOT = """
import sys, types
package = types.ModuleType("surge")
package.__path__ = [sys.argv[1]]
sys.modules["surge"] = package
from surge.io.entry_lines import child_main
child_main(sys.argv[2], int(sys.argv[3]))
"""


class ChildEntries:
    """The same, parsed by a child process (see the module docstring)."""

    def __init__(self, f: BufferedReader, path: Path, end: int) -> None:
        self._f = f
        self._end = end
        self.pos = 0
        self.number = 0
        self.unreadable: list[int] = []
        self._local: LocalEntries | None = None
        self._done = False  # the child sent its last (empty) block
        source_root = str(Path(__file__).resolve().parent.parent)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, source_root, os.fspath(path), str(end)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self._proc.stdout is not None
        self._pipe: IO[bytes] = self._proc.stdout

    def next_block(self) -> Block | None:
        if self._done:
            return None
        if self._local is None:
            message = self._receive()
            if message is not None:
                block, unreadable, self.pos, self.number = message
                self.unreadable.extend(unreadable)
                if not len(block[0]):
                    self._done = True
                    return None
                return block
            self._local = LocalEntries(self._f, self._end, pos=self.pos, number=self.number)
        local_block = self._local.next_block()
        self.unreadable.extend(self._local.unreadable)
        self._local.unreadable.clear()
        return local_block

    def _receive(self) -> tuple[Block, array, int, int] | None:  # type: ignore[type-arg]
        """The next message, or None if the child stopped (it is then stopped for good)."""
        try:
            header = array("Q")
            header.frombytes(_read_exactly(self._pipe, 8 * _HEADER))
            n, m, pos, number = header
            data = array("Q")
            data.frombytes(_read_exactly(self._pipe, 8 * (3 * n + m)))
        except (OSError, EOFError, ValueError) as err:
            log.debug("the output reader process stopped (%s); reading on here", err)
            self._stop_child()
            return None
        block = (data[:n], data[n : 2 * n], data[2 * n : 3 * n])
        return block, data[3 * n :], pos, number

    def _stop_child(self) -> None:
        self._pipe.close()
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()

    def close(self) -> None:
        self._stop_child()


def open_entries(f: BufferedReader, path: Path, end: int) -> LocalEntries | ChildEntries:
    """A reader of the entries of ``f`` (the file at ``path``) up to byte ``end``: in a
    child process for a big file."""
    if end >= CHILD_MIN_BYTES:
        try:
            return ChildEntries(f, path, end)
        except (OSError, ValueError) as err:  # no interpreter to start
            log.debug("cannot start the output reader process (%s); reading here", err)
    return LocalEntries(f, end)


def _read_exactly(pipe: IO[bytes], size: int) -> bytes:
    data = pipe.read(size)
    if len(data) != size:
        raise EOFError(f"{len(data)} of {size} bytes")
    return data


def find_superseding(f: BufferedReader, end: int) -> dict[int, int]:
    """The entry of the last line of each id that has superseding lines (in the first
    ``end`` bytes of ``f``): one byte search over the file, no per-line work."""
    later: dict[int, int] = {}
    hits = find_all(f, SUPERSEDES_MARKER, end)
    fd = f.fileno()
    for hit in hits:
        line = _line_around(fd, hit)
        entry = fast_entry(line) or full_entry(line)
        if entry is not None:
            later[entry[0]] = entry[1]  # in file order: the last line wins
    return later


def find_all(f: BufferedReader, needle: bytes, end: int) -> list[int]:
    """Offsets of ``needle`` in the first ``end`` bytes of a binary file.

    Read into one reused 1 MB buffer (a bigger block is no faster and would show in the
    peak memory of the run); the last bytes of a block are searched again with the next.
    """
    hits: list[int] = []
    f.seek(0)
    overlap = len(needle) - 1
    buf = bytearray(_SCAN_BLOCK + overlap)
    view = memoryview(buf)
    kept = 0  # bytes at the front of buf carried over from the previous block
    pos = 0  # file offset of buf[kept]
    while pos < end:
        n = f.readinto(view[kept : kept + min(_SCAN_BLOCK, end - pos)])
        if not n:
            break
        size = kept + n
        base = pos - kept
        i = buf.find(needle, 0, size)
        while i >= 0:
            hits.append(base + i)
            i = buf.find(needle, i + 1, size)
        kept = min(overlap, size)
        buf[:kept] = buf[size - kept : size]
        pos += n
    view.release()
    return hits


def _line_around(fd: int, offset: int) -> bytes:
    """The whole line that contains byte ``offset`` of a file."""
    start = offset
    while start > 0:
        size = min(start, 1 << 16)
        block = os.pread(fd, size, start - size)
        nl = block.rfind(b"\n")
        if nl >= 0:
            start = start - size + nl + 1
            break
        start -= size
    parts = []
    pos = start
    while True:
        block = os.pread(fd, 1 << 16, pos)
        if not block:
            break
        nl = block.find(b"\n")
        if nl >= 0:
            parts.append(block[: nl + 1])
            break
        parts.append(block)
        pos += len(block)
    return b"".join(parts)
