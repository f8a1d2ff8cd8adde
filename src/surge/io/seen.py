"""The ids a run has admitted, exactly, in about 2 bytes of memory each.

    seen = SeenIds()
    seen.add(id_digest("row-7"))        # True: new
    seen.add(id_digest("row-7"))        # False: a repeat
    id_digest("row-7") in seen          # True
    seen.close()                        # drops the spill file

A run must know every custom_id it has admitted (a repeated id is an error line, a
repeated prompt its next occurrence), whatever N is. Even a compact table of 64-bit
digests costs 16-48 bytes per id (open addressing, doubling); at 2,000,000 ids that alone
breaks "memory flat in N". So the set is split:

* **in memory**, 30 bits of each digest: 16,384 buckets by the top 14 bits, each a sorted
  ``array('H')`` of the next 16 (a binary search and a short memmove per id, both in C);
* **on disk**, the full 64-bit digests, appended in 4 KB chunks to an anonymous temporary
  file, in 256 partitions by the low 8 bits.

A digest whose 30 bits are not in memory is new (the common case, no disk access). A
30-bit match is checked against its partition on disk: a true repeat (rare: a duplicate
id) or a 30-bit twin (at 2,000,000 ids, about one id in 500) costs a few reads of the
page cache, never a wrong answer. Fewer bits in memory would mean more disk reads; more
would mean more memory: at 2,000,000 ids this is ~4 MB, where a table of 64-bit digests
takes 32-64 MB. If no temporary file can be made, the chunks stay
in memory: still exact, no longer flat.
"""

from __future__ import annotations

import logging
import os
import tempfile
from array import array
from bisect import bisect_left

__all__ = ["SeenIds"]

log = logging.getLogger(__name__)

_BUCKET_SHIFT = 50  # 16,384 buckets by the top 14 bits
_LOW_SHIFT = 34  # ... each holding the next 16 bits
_LOW_MASK = 0xFFFF
_PARTITIONS = 256  # on disk, by the low 8 bits (independent of the bits kept in memory)
_CHUNK = 512  # digests per chunk: 4 KB


class _Spill:
    """Full digests on disk, by partition: appended in chunks, searched on a 30-bit match."""

    __slots__ = ("_chunks", "_fd", "_kept", "_size", "buffers")

    def __init__(self) -> None:
        self.buffers = [array("Q") for _ in range(_PARTITIONS)]  # SeenIds appends here
        self._chunks: list[list[int]] = [[] for _ in range(_PARTITIONS)]  # file offsets
        self._kept: list[bytes] = []  # chunks held in memory when there is no file
        self._fd: int | None = None
        self._size = 0

    def __contains__(self, key: int) -> bool:
        part = key & 0xFF
        if key in self.buffers[part]:
            return True
        for offset in self._chunks[part]:
            chunk = array("Q", self._read(offset))
            if key in chunk:
                return True
        return False

    def flush(self, part: int) -> None:
        """Write a full buffer of partition ``part`` to disk (it is emptied in place)."""
        buffer = self.buffers[part]
        data = buffer.tobytes()
        del buffer[:]
        if self._fd is None and not self._kept:
            self._open()
        if self._fd is None:
            self._chunks[part].append(-1 - len(self._kept))
            self._kept.append(data)
            return
        os.pwrite(self._fd, data, self._size)
        self._chunks[part].append(self._size)
        self._size += len(data)

    def _open(self) -> None:
        try:
            fd, name = tempfile.mkstemp(prefix="surge-ids-")
            os.unlink(name)  # at once: nothing is left behind, even after SIGKILL
            self._fd = fd
        except OSError as err:
            log.debug("no temporary file for the id set (%s); keeping it in memory", err)

    def _read(self, offset: int) -> bytes:
        if offset < 0:
            return self._kept[-1 - offset]
        assert self._fd is not None
        return os.pread(self._fd, _CHUNK * 8, offset)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._kept.clear()

    def __del__(self) -> None:  # a set nobody closed still gives its descriptor back
        if self._fd is not None:
            os.close(self._fd)


class SeenIds:
    """An exact set of nonzero 64-bit digests (see the module docstring for the layout)."""

    __slots__ = ("_buckets", "_len", "_pending", "_spill")

    def __init__(self) -> None:
        self._buckets = [array("H") for _ in range(1 << (64 - _BUCKET_SHIFT))]
        self._spill = _Spill()
        self._pending = self._spill.buffers  # not yet written to disk, by partition
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return f"SeenIds(len={self._len})"

    def add(self, key: int) -> bool:
        """Add ``key``; True if it was not there yet."""
        # Once per input line, a million times before the first request of a big resume:
        # the spill's append is inlined.
        bucket = self._buckets[key >> _BUCKET_SHIFT]
        low = (key >> _LOW_SHIFT) & _LOW_MASK
        i = bisect_left(bucket, low)
        if i < len(bucket) and bucket[i] == low and key in self._spill:
            return False
        bucket.insert(i, low)  # a 30-bit twin of another id keeps its own entry
        buffer = self._pending[key & 0xFF]
        buffer.append(key)
        if len(buffer) == _CHUNK:
            self._spill.flush(key & 0xFF)
        self._len += 1
        return True

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, int):
            return False
        bucket = self._buckets[key >> _BUCKET_SHIFT]
        low = (key >> _LOW_SHIFT) & _LOW_MASK
        i = bisect_left(bucket, low)
        return i < len(bucket) and bucket[i] == low and key in self._spill

    def close(self) -> None:
        """Release the spill file; the set must not be used afterwards."""
        self._spill.close()
        self._buckets = []
