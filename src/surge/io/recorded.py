"""What the output held when a run opened it, read in file order as the input asks for it.

    index = RecordedIndex(path, end=size)   # after the tail repair; nothing read yet
    index.take(id_digest("row-7"))          # its current line's entry (fingerprint | flags), or None
    index.drain()                           # the input is over: what was never taken is stale
    index.stale, index.is_stale(key)

A resumed run asks for the ids of its input in input order, and the output surge wrote is
in (nearly) that order too: results are appended as they finish, a few hundred apart at
most. So the index does not load the file: ``take`` reads forward until it meets the id,
and only the lines it passed on the way (answers that finished out of order, lines of ids
the input no longer has) wait in a small table. Resuming a finished 2,000,000-line output
with the same input holds a few hundred entries, not two million. When the orders differ
(an input shuffled or with lines inserted, Batch API output, a new id looked up while
unread lines remain) ``take`` reads ahead to the end and the table holds the rest: never
more than a compact table of the whole file, which is what a full read would build.

**Superseding lines.** The last line for a custom_id is its current one (the reader rule,
see :mod:`surge.io.store`). A line written for an id the file already answered (a changed
request sent again, a retried failure) carries ``"supersedes": true`` in its metadata, so
at open one fast byte search over the file (no per-line work) finds every id with more
than one line and reads its last line: those ids are answered from that, and the cursor
ignores their other lines.
"""

from __future__ import annotations

import logging
import os
from array import array
from collections.abc import Iterator
from io import BufferedReader
from pathlib import Path

from .digests import DigestMap
from .records import SEEN, fast_entry, full_entry

__all__ = ["SUPERSEDES_MARKER", "RecordedIndex", "RecordedTable"]

log = logging.getLogger(__name__)

# How a superseding line's metadata says so (Result.to_output). Inside a JSON string the
# quotes would be escaped, so every hit is a real key; one elsewhere in a line (a model's
# own JSON answer) only makes that id answered from its last line, which is right anyway.
SUPERSEDES_MARKER = b'"supersedes":true'
# On an entry of _later: the ledger has taken it (entries read from a file never carry SEEN).
_TAKEN = SEEN
_SCAN_BLOCK = 1 << 20


class RecordedTable:
    """The in-memory form (tests, stores without a file): a prepared table, taken from."""

    def __init__(self, table: DigestMap | None = None) -> None:
        self._table = table if table is not None else DigestMap()

    def take(self, key: int) -> int | None:
        return self._table.pop(key)

    def peek(self, key: int) -> bool:
        return self._table.get(key) is not None

    def drain(self) -> None:
        pass

    @property
    def stale(self) -> int:
        return len(self._table)

    def is_stale(self, key: int) -> bool:
        return self._table.get(key) is not None

    def superseded(self) -> list[int]:
        return []

    @property
    def unreadable(self) -> int:
        return 0

    def close(self) -> None:
        pass


class RecordedIndex:
    """The entries of an output file's lines up to ``end``, read lazily (see module doc)."""

    def __init__(self, path: Path, *, end: int) -> None:
        self.path = path
        self._end = end
        self._pending = DigestMap()  # read, not taken yet
        self._later = DigestMap()  # ids with superseding lines -> their last line's entry
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.unreadable = 0
        try:
            self._find_superseding()
        except BaseException:
            self._f.close()
            raise
        self._has_later = len(self._later) > 0
        self._pos = 0  # bytes read so far
        self._number = 0  # lines read so far (for warnings)
        self._keys = array("Q")  # entries read; those from index _i on are not passed yet
        self._values = array("Q")
        self._i = 0

    def __repr__(self) -> str:
        return (
            f"RecordedIndex({str(self.path)!r}, size={self._end}, "
            f"pending={len(self._pending)}, superseded={len(self._later)})"
        )

    # -- the ledger's questions -----------------------------------------------------------
    def take(self, key: int) -> int | None:
        """The entry of ``key``'s current line (then forgotten), or None if it has none."""
        if self._has_later:
            value = self._later.get(key)
            if value is not None:
                if value & _TAKEN:
                    return None
                self._later[key] = value | _TAKEN
                return value
        pending = self._pending
        if pending._len:  # len(), without a Python-level __len__ call: once per line
            value = pending.pop(key)
            if value is not None:
                return value
        # The common case of a resume: the next line of the file is this id's.
        keys, i = self._keys, self._i
        while True:
            if i == len(keys):
                if not self._next_block():
                    self._i = 0
                    return None
                keys, i = self._keys, 0
            k = keys[i]
            i += 1
            if k == key:
                self._i = i
                return self._values[i - 1]
            pending[k] = self._values[
                i - 1
            ]  # passed on the way (repeated without marker: last wins)

    def peek(self, key: int) -> bool:
        """Whether the output holds a line for ``key`` not taken yet (reads ahead if needed)."""
        value = self._later.get(key)
        if value is not None:
            return not value & _TAKEN
        if self._pending.get(key) is not None:
            return True
        for k, value in self._entries:
            self._pending[k] = value
            if k == key:
                return True
        return False

    def drain(self) -> None:
        """Read what is left: every entry never taken is then stale."""
        for k, value in self._entries:
            self._pending[k] = value

    @property
    def stale(self) -> int:
        """Ids the output held that were never taken (complete after :meth:`drain`)."""
        untaken = sum(1 for _, value in self._later.items() if not value & _TAKEN)
        return len(self._pending) + untaken

    def is_stale(self, key: int) -> bool:
        if self._pending.get(key) is not None:
            return True
        value = self._later.get(key)
        return value is not None and not value & _TAKEN

    def superseded(self) -> list[int]:
        """Ids with more than one line in the file (the compaction keeps only the last)."""
        return [key for key, _ in self._later.items()]

    def close(self) -> None:
        self._f.close()

    # -- reading --------------------------------------------------------------------------
    @property
    def _entries(self) -> Iterator[tuple[int, int]]:
        """The entries not passed yet, in file order (for peek and drain)."""
        while True:
            i = self._i
            if i == len(self._keys):
                if not self._next_block():
                    self._i = 0
                    return
                i = 0
            self._i = i + 1
            yield self._keys[i], self._values[i]

    def _next_block(self) -> bool:
        """Read the entries of the next lines into ``_keys``/``_values``; False at ``end``.

        Older lines of ids with superseding lines are left out. A block at a time is much
        cheaper than a call per line, and arrays hold no object per entry: nothing for the
        garbage collector to walk (a list of tuples cost ~0.5 µs a line in collections).
        """
        f, end, later, has_later = self._f, self._end, self._later, self._has_later
        keys, values = array("Q"), array("Q")
        while not keys and self._pos < end:
            lines = f.readlines(1 << 18)
            if not lines:
                break
            pos, number = self._pos, self._number
            for raw in lines:
                if pos >= end:
                    break  # appended by this run: not what the output held at open
                pos += len(raw)
                number += 1
                entry = fast_entry(raw) or full_entry(raw)  # read_entry, inlined
                if entry is None:
                    self.unreadable += 1  # the compaction drops it
                    log.warning("%s:%d: unreadable output line ignored", self.path, number)
                elif not has_later or later.get(entry[0]) is None:
                    keys.append(entry[0])
                    values.append(entry[1])
            self._pos, self._number = pos, number
        self._keys, self._values = keys, values
        return len(keys) > 0

    def _find_superseding(self) -> None:
        """One byte search over the file for superseding lines; read the last of each id."""
        hits = _find_all(self._f, SUPERSEDES_MARKER, self._end)
        self._f.seek(0)
        if not hits:
            return
        fd = self._f.fileno()
        for hit in hits:
            line = _line_around(fd, hit)
            entry = fast_entry(line) or full_entry(line)
            if entry is not None:
                self._later[entry[0]] = entry[1]  # in file order: the last line wins


def _find_all(f: BufferedReader, needle: bytes, end: int) -> list[int]:
    """Offsets of ``needle`` in the first ``end`` bytes of a binary file.

    Read into one reused 1 MB buffer (a bigger block is no faster and would show in the
    peak memory of the run); the last bytes of a block are searched again with the next.
    """
    hits: list[int] = []
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
