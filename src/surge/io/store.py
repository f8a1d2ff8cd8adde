"""The output file is the single source of truth for what is finished.

    store = JsonlStore("results.jsonl", retry_failed=False)
    done = store.open()          # repairs a torn last line; returns finished custom_ids
    store.write(result)          # one line, handed to the OS at once (survives SIGKILL)
    store.close()

Resume reads the same file the run writes: a custom_id is finished when its line is in
the file. A process killed mid-write leaves at most one torn last line; ``open`` cuts it
off, so that request is simply sent again. With ``retry_failed`` the error lines are
dropped (atomically, via a rewritten copy) so those requests run again and the final
file still holds each custom_id once.

Stores implement :class:`ResultStore`, the seam for other backends (a database, a shared
store for several processes).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import orjson

from ..errors import OutputError
from ..models import Result
from .ledger import Ledger

__all__ = ["JsonlStore", "MemoryStore", "ResultStore", "read_results"]

log = logging.getLogger(__name__)


class ResultStore(Protocol):
    def open(self) -> Ledger:
        """Prepare for writing; return the resume decision built from what is finished."""
        ...

    def write(self, result: Result) -> None: ...

    def close(self) -> None: ...


class MemoryStore:
    """Keeps nothing on disk (library calls without ``output=``)."""

    def open(self) -> Ledger:
        return Ledger()

    def write(self, result: Result) -> None:
        pass

    def close(self) -> None:
        pass


def _is_failure(record: dict[str, object]) -> bool:
    if record.get("error"):
        return True
    response = record.get("response")
    if not isinstance(response, dict):
        return True
    status = response.get("status_code")
    return not isinstance(status, int) or status >= 300


class JsonlStore:
    """Append-only JSONL in the Batch API output format."""

    def __init__(self, path: str | Path, *, retry_failed: bool = False) -> None:
        self.path = Path(path)
        self.retry_failed = retry_failed
        self._fd: int | None = None
        self.resumed_failures = 0  # error lines dropped for --retry-failed
        self.failed_ids: set[str] = set()  # error lines kept (finished, but not ok)

    def open(self) -> Ledger:
        finished: set[str] = set()
        if self.path.exists():
            finished = self._scan()
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise OutputError(f"cannot open {self.path} for writing: {err.strerror}") from err
        return Ledger(finished, self.failed_ids)

    def _scan(self) -> set[str]:
        finished: set[str] = set()
        failed_lines = 0
        try:
            # Inside the try: an unreadable path (a directory, no permission) must
            # surface as OutputError, not as a bare OSError from the repair.
            self._repair_torn_tail()
            with open(self.path, "rb") as f:
                for number, raw in enumerate(f, start=1):
                    try:
                        record = orjson.loads(raw)
                        custom_id = record["custom_id"]
                    except (orjson.JSONDecodeError, KeyError, TypeError):
                        log.warning("%s:%d: unreadable output line ignored", self.path, number)
                        continue
                    if _is_failure(record):
                        if self.retry_failed:
                            failed_lines += 1
                            continue
                        self.failed_ids.add(str(custom_id))
                    finished.add(str(custom_id))
        except OSError as err:
            raise OutputError(f"cannot read {self.path} to resume: {err.strerror}") from err
        if failed_lines:
            self._drop_failures()
            self.resumed_failures = failed_lines
        return finished

    def _repair_torn_tail(self) -> None:
        """Cut a last line that was not completely written (no trailing newline)."""
        size = self.path.stat().st_size
        if size == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            # Walk back to the previous newline, 64 KiB at a time.
            end = size
            while end > 0:
                start = max(0, end - (1 << 16))
                f.seek(start)
                chunk = f.read(end - start)
                cut = chunk.rfind(b"\n")
                if cut >= 0:
                    f.truncate(start + cut + 1)
                    log.warning(
                        "%s: removed a torn last line (%d bytes)", self.path, size - start - cut - 1
                    )
                    return
                end = start
            f.truncate(0)

    def _drop_failures(self) -> None:
        tmp = self.path.with_name(self.path.name + ".surge-tmp")
        with open(self.path, "rb") as src, open(tmp, "wb") as dst:
            for raw in src:
                try:
                    record = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(record, dict) and not _is_failure(record):
                    dst.write(raw)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, self.path)

    def write(self, result: Result) -> None:
        if self._fd is None:
            raise OutputError("store is not open")
        data = orjson.dumps(result.to_output()) + b"\n"
        # One write() per line: the kernel has it the moment this returns, so SIGKILL
        # cannot lose a finished result; O_APPEND keeps concurrent lines whole.
        written = os.write(self._fd, data)
        while written < len(data):  # rare partial write on a full disk or signal
            written += os.write(self._fd, data[written:])

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):  # fsync is best effort (pipes, some FSs)
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None


def read_results(path: str | Path) -> Iterator[Result]:
    """Every readable record of an output file, as :class:`Result` objects (streamed)."""
    with open(path, "rb") as f:
        for raw in f:
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict) and "custom_id" in record:
                yield Result.from_output(record)
