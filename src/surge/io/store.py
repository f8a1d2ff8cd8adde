"""The output file is the single source of truth for what is finished.

    store = JsonlStore("results.jsonl")
    ledger = store.open()        # lock, check, repair, read back: the resume decision
    store.write(result)          # one line, handed to the OS at once (survives SIGKILL)
    store.close()                # one current line per custom_id, then unlock

Resume reads the same file the run writes. ``open`` takes an exclusive lock (a second run
on the same file fails at once), refuses files that are not surge / Batch API output,
cuts a torn last line (so that request is simply sent again) and builds the
:class:`~surge.io.ledger.Ledger` on a :class:`~surge.io.recorded.RecordedIndex` of the
file: the ``custom_id`` and fingerprint of each line, read as the input asks for them.

**Reader rule.** Until a run completes, a file may hold more than one line for a
custom_id (a changed request sent again, a failure retried with ``--retry-failed``): the
*last* line for a custom_id is the current one. A line that replaces an older one says so
(``"supersedes": true`` in its metadata). When the whole input was read, ``close``
compacts the file to exactly one current line per custom_id of that input (dropping the
answers to lines no longer in the input, unless ``keep_stale``), atomically: a new file
is written, fsynced and renamed over the old one.

Stores implement :class:`ResultStore`, the seam for other backends (a database, a shared
store for several processes). ``open_store`` picks one for an output argument.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Protocol

import orjson

from .._constants import OUTPUT_METADATA_KEY
from ..errors import OutputError
from ..models import Result
from .digests import DigestMap, DigestSet
from .ledger import Ledger
from .outfile import OutputLock, check_output_path, check_own, repair_tail
from .recorded import SUPERSEDES_MARKER, RecordedIndex, RecordedTable
from .records import record_key

__all__ = [
    "JsonlStore",
    "MemoryStore",
    "ResultStore",
    "StreamStore",
    "latest_results",
    "open_store",
    "read_results",
]

log = logging.getLogger(__name__)


class ResultStore(Protocol):
    def open(self) -> Ledger:
        """Prepare for writing; return the resume decision built from what is finished."""
        ...

    def write(self, result: Result) -> None: ...

    def close(self) -> None: ...


class MemoryStore:
    """Keeps nothing on disk (library calls without ``output=``)."""

    def __init__(self) -> None:
        self._ledger: Ledger | None = None

    def open(self) -> Ledger:
        self._ledger = Ledger()
        return self._ledger

    def write(self, result: Result) -> None:
        pass

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None


def _write_all(fd: int, data: bytes, *, undo_partial: bool = False) -> None:
    # One write() per line: the kernel has it the moment this returns, so SIGKILL cannot
    # lose a finished result; O_APPEND keeps the line whole.
    written = 0
    try:
        written = os.write(fd, data)
        while written < len(data):  # a partial write: the disk or a size limit is full
            written += os.write(fd, data[written:])
    except OSError:
        if written and undo_partial:
            # Leave the file ending on a whole line, as a resume expects to find it.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, os.fstat(fd).st_size - written)
        raise


def _os_message(err: OSError) -> str:
    return err.strerror or str(err)


class StreamStore:
    """Results to standard output (``-o -``): nothing is read back, so nothing resumes."""

    def __init__(self, fd: int | None = None) -> None:
        self._fd = fd
        self._ledger: Ledger | None = None

    def open(self) -> Ledger:
        if self._fd is None:
            sys.stdout.flush()
            self._fd = sys.stdout.fileno()
        self._ledger = Ledger()
        return self._ledger

    def write(self, result: Result) -> None:
        if self._fd is None:
            raise OutputError("store is not open")
        try:
            _write_all(self._fd, orjson.dumps(result.to_output()) + b"\n")
        except OSError as err:
            raise OutputError(f"cannot write to standard output: {_os_message(err)}") from err

    def close(self) -> None:
        self._fd = None
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None


class JsonlStore:
    """Append-only JSONL in the Batch API output format, locked for one writer."""

    def __init__(
        self,
        path: str | Path,
        *,
        retry_failed: bool = False,
        keep_stale: bool = False,
        remember_order: bool = False,
    ) -> None:
        self.path = Path(path)
        self.retry_failed = retry_failed
        self.keep_stale = keep_stale
        self.remember_order = remember_order
        self.ledger: Ledger | None = None
        self._fd: int | None = None
        self._lock: OutputLock | None = None
        self._recorded: RecordedIndex | RecordedTable = RecordedTable()
        self._written = 0

    def __repr__(self) -> str:
        return f"JsonlStore({str(self.path)!r}, written={self._written}, {self._recorded!r})"

    def open(self) -> Ledger:
        check_output_path(self.path)
        lock = OutputLock(self.path)
        lock.acquire()
        try:
            if self.path.exists():
                self._recorded = self._index()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            self._recorded.close()
            lock.release()
            raise OutputError(f"cannot open {self.path}: {_os_message(err)}") from err
        except BaseException:
            self._recorded.close()
            lock.release()
            raise
        self._lock = lock
        self.ledger = Ledger(
            self._recorded,
            retry_failed=self.retry_failed,
            keep_stale=self.keep_stale,
            remember_order=self.remember_order,
        )
        return self.ledger

    def _index(self) -> RecordedIndex:
        try:
            check_own(self.path)
            repair_tail(self.path)
            # Only what is there now: the lines this run appends are not read back.
            return RecordedIndex(self.path, end=self.path.stat().st_size)
        except OSError as err:
            raise OutputError(f"cannot read {self.path} to resume: {_os_message(err)}") from err

    def write(self, result: Result) -> None:
        if self._fd is None or self.ledger is None:
            raise OutputError("store is not open")
        supersedes = self.ledger.supersedes(result.custom_id)
        data = orjson.dumps(result.to_output(supersedes=supersedes)) + b"\n"
        try:
            _write_all(self._fd, data, undo_partial=True)
        except OSError as err:
            raise OutputError(f"cannot write to {self.path}: {_os_message(err)}") from err
        self._written += 1

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):  # fsync is best effort (some FSs)
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        ledger = self.ledger
        try:
            if ledger is not None and ledger.input_complete:
                self._finish(ledger)
        except OSError as err:
            # The file is still valid under the reader rule (last line wins); say so.
            log.warning(
                "%s: could not compact (%s); the last line for each custom_id is current",
                self.path,
                _os_message(err),
            )
        finally:
            self._recorded.close()
            if ledger is not None:
                ledger.close()
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def _finish(self, ledger: Ledger) -> None:
        """The whole input was read: compact to one current line per custom_id if needed."""
        recorded = self._recorded
        recorded.drain()  # what was never taken now waits in the index: the stale ids
        superseded = DigestSet()
        for key in recorded.superseded():
            superseded.add(key)
        for key in ledger.resent():
            superseded.add(key)
        stale = 0 if self.keep_stale else recorded.stale
        if not (len(superseded) or stale or recorded.unreadable):
            return
        drop_stale = (lambda key: False) if self.keep_stale else recorded.is_stale
        removed = compact(self.path, superseded, drop_stale)
        log.debug("%s: compacted, %d lines dropped", self.path, removed)
        ledger.note_stale_removed(stale)


def compact(path: Path, superseded: DigestSet, drop: Callable[[int], bool]) -> int:
    """Rewrite ``path`` with one line per custom_id: the last one, unless ``drop`` says so.

    Only the ids in ``superseded`` can have more than one line; their last line numbers
    are found in a first pass, so memory follows them, not the file. Returns how many
    lines were dropped (unreadable ones included). Atomic: a temporary file next to it is
    written, fsynced and renamed over ``path``; a crash at any moment leaves one file or
    the other.
    """
    last = DigestMap()
    if len(superseded):
        with open(path, "rb") as f:
            for number, raw in enumerate(f):
                key = record_key(raw)
                if key is not None and key in superseded:
                    last[key] = number
    tmp = path.with_name(f".{path.name}.surge-tmp")
    dropped = 0
    try:
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            for number, raw in enumerate(src):
                key = record_key(raw)
                if key is None or drop(key):
                    dropped += 1
                    continue
                newest = last.get(key) if len(last) else None
                if newest is None:
                    dst.write(raw)
                elif newest == number:
                    dst.write(_unmarked(raw))  # alone now: it supersedes nothing any more
                else:
                    dropped += 1
            dst.flush()
            os.fsync(dst.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o7777)  # the user's permissions survive
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return dropped


_META = b'"' + OUTPUT_METADATA_KEY.encode() + b'":{'
_MARK = b"," + SUPERSEDES_MARKER


def _unmarked(raw: bytes) -> bytes:
    """A line without its metadata's supersedes flag (a compacted file has no such lines,
    so the next resume's scan finds nothing to read ahead for)."""
    i = raw.rfind(_MARK)
    return raw[:i] + raw[i + len(_MARK) :] if i > raw.rfind(_META) >= 0 else raw


def open_store(
    output: str | Path | None,
    *,
    retry_failed: bool = False,
    keep_stale: bool = False,
    remember_order: bool = False,
) -> ResultStore:
    """The store for an output argument: none (memory), ``-`` (stdout) or a JSONL file."""
    if output is None:
        return MemoryStore()
    if str(output) == "-":
        return StreamStore()
    return JsonlStore(
        output, retry_failed=retry_failed, keep_stale=keep_stale, remember_order=remember_order
    )


def read_results(path: str | Path) -> Iterator[Result]:
    """Every readable record of an output file, as :class:`Result` objects (streamed).

    A file written by a run that did not complete may hold superseded lines: see
    :func:`latest_results` for the current one per custom_id.
    """
    with open(path, "rb") as f:
        for raw in f:
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict) and "custom_id" in record:
                yield Result.from_output(record)


def latest_results(path: str | Path, custom_ids: Collection[str]) -> dict[str, Result]:
    """The current result (the last line) of each of ``custom_ids`` found in ``path``."""
    latest: dict[str, Result] = {}
    for result in read_results(path):
        if result.custom_id in custom_ids:
            latest[result.custom_id] = result
    return latest
