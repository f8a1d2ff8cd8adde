"""The entries of an output file's lines, a block at a time, read in a second process when
the file is big.

    entries = open_entries(f, path, end)  # f: the output file at path, opened "rb"
    while (block := entries.next_block()) is not None:
        keys, values, sources = block      # array("Q") each, in file order
    entries.unreadable                     # line numbers that held no result record
    entries.close()

Resuming a big output reads every line of it before the first new request can go out, and
the parsing (:func:`~surge.io.records.fast_entry`, ~1.5 µs a line in Python) was the
larger half of that time. A file of more than :data:`CHILD_MIN_BYTES` is therefore read by
a child Python process that writes each block's three arrays to a pipe, while this one
goes through the input: on two cores the two halves overlap. The child imports only
:mod:`surge.io.records` and what it needs (not the whole library: ~50 ms to start), and
its id digests equal ours (:func:`~surge.io.digests.id_digest` is the same in every
process). It runs at most a block or two ahead: the pipe holds no more, so the memory stays
flat. If it cannot start, or stops early, the rest is read here from where it stopped.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from array import array
from pathlib import Path
from typing import IO, BinaryIO

from .records import fast_entry, full_entry

__all__ = ["CHILD_MIN_BYTES", "Block", "ChildEntries", "LocalEntries", "open_entries"]

log = logging.getLogger(__name__)

Block = tuple[array, array, array]  # type: ignore[type-arg]
# Smaller files are read in this process: starting the child would cost more than it saves.
CHILD_MIN_BYTES = 16 << 20
BLOCK_ENTRIES = 4096
_READ = 1 << 18
# A block on the pipe: entries, unreadable lines, bytes and lines read up to its end.
_HEADER = 4
# The child imports surge.io.records under an empty stand-in for the package, so that
# surge/__init__.py (the whole library) is not imported.
_BOOT = """
import sys, types
package = types.ModuleType("surge")
package.__path__ = [sys.argv[1]]
sys.modules["surge"] = package
from surge.io.entry_scan import child_main
child_main(sys.argv[2], int(sys.argv[3]))
"""


class LocalEntries:
    """Parse the lines here, from byte ``pos`` (line ``number``) to ``end``."""

    def __init__(self, f: BinaryIO, end: int, *, pos: int = 0, number: int = 0) -> None:
        self._f = f
        self._end = end
        self.pos = pos
        self.number = number
        self.unreadable: list[int] = []
        f.seek(pos)

    def next_block(self) -> Block | None:
        """The entries of the next lines, :data:`BLOCK_ENTRIES` or so; None at ``end``."""
        f, end = self._f, self._end
        keys, values, sources = array("Q"), array("Q"), array("Q")
        while len(keys) < BLOCK_ENTRIES and self.pos < end:
            lines = f.readlines(_READ)
            if not lines:
                self.pos = end
                break
            pos, number = self.pos, self.number
            for raw in lines:
                if pos >= end:
                    break  # appended by this run: not what the output held at open
                pos += len(raw)
                number += 1
                entry = fast_entry(raw) or full_entry(raw)  # read_entry, inlined
                if entry is None:
                    self.unreadable.append(number)
                else:
                    keys.append(entry[0])
                    values.append(entry[1])
                    sources.append(entry[2])
            self.pos, self.number = pos, number
        return (keys, values, sources) if keys else None

    def close(self) -> None:
        pass  # the file is the caller's


class ChildEntries:
    """The same blocks, parsed by a child process (see the module docstring)."""

    def __init__(self, f: BinaryIO, path: Path, end: int) -> None:
        self._f = f
        self._end = end
        self.pos = 0
        self.number = 0
        self.unreadable: list[int] = []
        self._local: LocalEntries | None = None
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
        if self._local is not None:
            return self._next_local()
        header = array("Q")
        try:
            header.frombytes(_read_exactly(self._pipe, 8 * _HEADER))
            n, m, pos, number = header
            data = array("Q")
            data.frombytes(_read_exactly(self._pipe, 8 * (3 * n + m)))
        except (OSError, EOFError) as err:
            log.debug("the output reader process stopped (%s); reading on here", err)
            self._stop_child()
            self._local = LocalEntries(self._f, self._end, pos=self.pos, number=self.number)
            return self._next_local()
        self.pos, self.number = pos, number
        self.unreadable.extend(data[3 * n :])
        if not n:
            if pos < self._end:  # only unreadable lines in this block: go on
                return self.next_block()
            return None
        return data[:n], data[n : 2 * n], data[2 * n : 3 * n]

    def _next_local(self) -> Block | None:
        assert self._local is not None
        block = self._local.next_block()
        self.unreadable = self._local.unreadable
        return block

    def _stop_child(self) -> None:
        self._pipe.close()
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()

    def close(self) -> None:
        self._stop_child()


def open_entries(f: BinaryIO, path: Path, end: int) -> LocalEntries | ChildEntries:
    """A reader of the entries of ``f`` (the file at ``path``) up to byte ``end``: in a
    child process for a big file."""
    if end >= CHILD_MIN_BYTES:
        try:
            return ChildEntries(f, path, end)
        except (OSError, ValueError, TypeError) as err:  # no interpreter to start
            log.debug("cannot start the output reader process (%s); reading here", err)
    return LocalEntries(f, end)


def _read_exactly(pipe: IO[bytes], size: int) -> bytes:
    data = pipe.read(size)
    if len(data) != size:
        raise EOFError(f"{len(data)} of {size} bytes")
    return data


def child_main(path: str, end: int) -> None:
    """The child process: every block of ``path`` up to ``end``, then an empty one."""
    out = sys.stdout.buffer
    with open(path, "rb") as f:
        entries = LocalEntries(f, end)
        while True:
            block = entries.next_block()
            unreadable = array("Q", entries.unreadable)
            entries.unreadable.clear()
            keys, values, sources = block if block is not None else (array("Q"),) * 3
            header = array("Q", (len(keys), len(unreadable), entries.pos, entries.number))
            out.write(header.tobytes())
            for part in (keys, values, sources, unreadable):
                out.write(part.tobytes())
            out.flush()
            if block is None:
                return
