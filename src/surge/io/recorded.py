"""What the output held when a run opened it, read in file order as the input asks for it.

    index = RecordedIndex(path, end=size)   # after the tail repair; nothing read yet
    index.take(id_digest("row-7"))          # its current line's entry (fingerprint | flags), or None
    index.replay(lines, 0, seed, 0, claim)  # take the entries of the input lines it recognizes
    index.drain()                           # the input is over: what was never taken is stale
    index.stale, index.is_stale(key)

A resumed run asks for the ids of its input in input order, and the output surge wrote is
in (nearly) that order too: results are appended as they finish, a few hundred apart at
most. So the index does not load the file. It reads it a block of lines at a time
(:mod:`surge.io.entry_scan`, in another process for a big file) and keeps the last two blocks as its *window*, by id and by the digest of the
input line each answers (:mod:`surge.io.linedigest`): a resumed input line is looked up
there, and the window moves on once half of its newer block is taken. Entries that leave
the window untaken (answers that finished far out of order, lines of ids the input no
longer has) wait in a compact table. Resuming a finished 2,000,000-line output with the
same input holds two blocks, not two million entries. When the orders differ (an input
shuffled or with lines inserted, Batch API output, a new id looked up while unread lines
remain) ``take`` reads ahead to the end and the table holds the rest: never more than a
compact table of the whole file, which is what a full read would build.

**Superseding lines.** The last line for a custom_id is its current one (the reader rule,
see :mod:`surge.io.store`). A line written for an id the file already answered (a changed
request sent again, a retried failure) carries ``"supersedes": true`` in its metadata, so
at open one fast byte search over the file (no per-line work) finds every id with more
than one line and reads its last line: those ids are answered from that, and the blocks
leave out their other lines.
"""

from __future__ import annotations

import itertools
import logging
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path

from xxhash import xxh3_64_intdigest

from .digests import DigestMap
from .entry_scan import SUPERSEDES_MARKER, Block, find_superseding, open_entries
from .records import FAILED, SEEN, TRANSIENT

__all__ = ["SUPERSEDES_MARKER", "RecordedIndex", "RecordedTable"]

log = logging.getLogger(__name__)

Claim = Callable[[int], bool]

# On an entry of _later: the ledger has taken it (entries read from a file never carry SEEN).
_TAKEN = SEEN


class RecordedTable:
    """The in-memory form (tests, stores without a file): a prepared table, taken from."""

    def __init__(self, table: DigestMap | None = None) -> None:
        self._table = table if table is not None else DigestMap()

    def take(self, key: int) -> int | None:
        return self._table.pop(key)

    @property
    def replayable(self) -> bool:
        return False  # no input-line digests without a file

    def replay(
        self, lines: Sequence[bytes], start: int, seed: int, refuse: int, claim: Claim
    ) -> tuple[int, int, int]:
        return 0, 0, 0

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
        self._pending = DigestMap()  # read, left the window without being taken
        self._later = DigestMap()  # ids with superseding lines -> their last line's entry
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            self._entries = open_entries(self._f, path, end)
        except BaseException:
            self._f.close()
            raise
        try:
            # Meanwhile a child process may already be reading the lines (entry_scan).
            for key, value in find_superseding(self._f, end).items():
                self._later[key] = value
        except BaseException:
            self.close()
            raise
        self._has_later = len(self._later) > 0
        self._warned = 0  # unreadable lines logged so far
        self._eof = False
        # The window: the last two blocks read, id digest -> entry (taken ones removed)
        # and source digest -> id digest.
        self._old: dict[int, int] = {}
        self._old_src: dict[int, int] = {}
        self._new: dict[int, int] = {}
        self._new_src: dict[int, int] = {}
        self._new_size = 0

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
        value = self._old.pop(key, None)
        if value is not None:
            return value
        value = self._new.pop(key, None)
        if value is not None:
            if len(self._new) * 2 < self._new_size:
                self._shift()
            return value
        pending = self._pending
        if pending._len:  # len(), without a Python-level __len__ call: once per line
            value = pending.pop(key)
            if value is not None:
                return value
        while not self._eof:  # read ahead (what is passed on the way waits in _pending)
            self._shift()
            value = self._new.pop(key, None)
            if value is not None:
                return value
        return None

    def replay(
        self, lines: Sequence[bytes], start: int, seed: int, refuse: int, claim: Claim
    ) -> tuple[int, int, int]:
        """Take the entries of the lines that answer ``lines[start:]``, recognized by their
        digests (:mod:`surge.io.linedigest`, under ``seed``), while ``claim(id digest)``
        admits each; stop at the first line the window holds no entry for, whose entry
        has a flag of ``refuse``, or whose id ``claim`` refuses (it is left untaken).
        Returns ``(taken, of which failed, of which transient)``.

        Only the window is looked at: it is for the lines a resume meets in (nearly) the
        order of the output. The loop of :meth:`surge.io.ledger.Ledger.replay`, here
        because it runs once per line, a million times before a big resume's first request.
        """
        if not self._new_size and not self._eof and not self._old:
            self._shift()  # nothing read yet
        old, old_src, new, new_src = self._old, self._old_src, self._new, self._new_src
        taken = failed = transient = 0
        for raw in itertools.islice(lines, start, None):
            source = xxh3_64_intdigest(raw, seed) or 1  # line_digest, inlined
            key = old_src.get(source, 0)  # 0: no id digest is
            value = old.get(key)
            if value is not None:
                if value & refuse or not claim(key):
                    break
                del old[key]
            else:
                key = new_src.get(source, 0)
                value = new.get(key)
                if value is None or value & refuse or not claim(key):
                    break
                del new[key]
                if len(new) * 2 < self._new_size:
                    self._shift()
                    old, old_src, new, new_src = self._old, self._old_src, self._new, self._new_src
            taken += 1
            if value & FAILED:
                failed += 1
                if value & TRANSIENT:
                    transient += 1
        return taken, failed, transient

    @property
    def replayable(self) -> bool:
        """Whether :meth:`take_source` can still find anything."""
        return not self._eof or bool(self._old) or bool(self._new)

    def peek(self, key: int) -> bool:
        """Whether the output holds a line for ``key`` not taken yet (reads ahead if needed)."""
        value = self._later.get(key)
        if value is not None:
            return not value & _TAKEN
        if key in self._old or key in self._new or self._pending.get(key) is not None:
            return True
        while not self._eof:
            self._shift()
            if key in self._new:
                return True
        return False

    def drain(self) -> None:
        """Read what is left: every entry never taken is then stale."""
        while not self._eof:
            self._shift()
        self._shift()  # the window's last block too

    @property
    def stale(self) -> int:
        """Ids the output held that were never taken (complete after :meth:`drain`)."""
        untaken = sum(1 for _, value in self._later.items() if not value & _TAKEN)
        return len(self._pending) + len(self._old) + len(self._new) + untaken

    def is_stale(self, key: int) -> bool:
        if key in self._old or key in self._new or self._pending.get(key) is not None:
            return True
        value = self._later.get(key)
        return value is not None and not value & _TAKEN

    def superseded(self) -> list[int]:
        """Ids with more than one line in the file (the compaction keeps only the last)."""
        return [key for key, _ in self._later.items()]

    @property
    def unreadable(self) -> int:
        """Lines read so far that hold no result record (the compaction drops them)."""
        return len(self._entries.unreadable)

    def close(self) -> None:
        self._entries.close()
        self._f.close()

    # -- reading --------------------------------------------------------------------------
    def _shift(self) -> None:
        """Move the window a block on: the older block's untaken entries go to _pending."""
        pending = self._pending
        for key, value in self._old.items():
            pending[key] = value
        self._old, self._old_src = self._new, self._new_src
        block = self._read_block()
        if block is None:
            self._eof = True
            self._new, self._new_src, self._new_size = {}, {}, 0
            return
        keys, values, sources = block
        new = dict(zip(keys, values, strict=True))  # an id twice in a block: the last wins
        # An id met again without a marker (files older surges wrote): the last line wins.
        for key in self._old.keys() & new.keys():
            del self._old[key]
        if pending._len:
            for key in keys:
                pending.pop(key)
        self._new, self._new_size = new, len(new)
        self._new_src = dict(zip(sources, keys, strict=True))

    def _read_block(self) -> Block | None:
        """The entries of the next block of lines (None at ``end``), without the lines of
        ids that have superseding lines (answered from ``_later``)."""
        block = self._entries.next_block()
        unreadable = self._entries.unreadable
        for number in unreadable[self._warned :]:
            log.warning("%s:%d: unreadable output line ignored", self.path, number)
        self._warned = len(unreadable)
        if block is None or not self._has_later:
            return block
        later = self._later
        kept = [i for i, key in enumerate(block[0]) if later.get(key) is None]
        keys, values, sources = (array("Q", (part[i] for i in kept)) for part in block)
        return keys, values, sources
