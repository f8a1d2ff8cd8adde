"""Guards around an output file: what it may be, who writes it, what it must already hold.

    check_output_path(path)          # a regular file (or a new one), not a device or /proc
    lock = OutputLock(path); lock.acquire()   # one writer: a second run fails at once
    check_own(path)                  # appends only to surge / Batch API output
    repair_tail(path)                # cuts a torn last line, completes a whole one

Every refusal is an :class:`~surge.errors.OutputError` naming the path and the reason,
raised before a byte of the file is changed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from pathlib import Path
from typing import BinaryIO

import orjson

from ..errors import OutputError, OutputRefusedError
from .records import is_output_record

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; one writer is then on trust
    fcntl = None  # type: ignore[assignment]

__all__ = ["OutputLock", "check_output_path", "check_own", "repair_tail"]

log = logging.getLogger(__name__)

_KERNEL_DIRS = ("/proc", "/sys", "/dev")
_SURGE_PREFIX = b'{"id":"batch_req_'
_MAX_FIRST_LINE = 64 << 20  # a result line longer than this is not a result line


def check_output_path(path: Path) -> None:
    """Refuse outputs that cannot hold an appendable JSONL file (before touching them)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        parent = path.parent
        if not parent.is_dir():
            raise OutputRefusedError(
                f"cannot create {path}: directory {parent} does not exist"
            ) from None
        st = None
    except OSError as err:
        raise OutputRefusedError(f"cannot use {path} as output: {err.strerror}") from err
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputRefusedError(f"{path} is a directory; -o needs a file name")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputRefusedError(
            f"{path} is not a regular file (a device, FIFO or socket): surge appends to a "
            "file it can read back; use -o - to stream results to stdout"
        )
    resolved = str(path.resolve())
    if any(resolved == d or resolved.startswith(d + "/") for d in _KERNEL_DIRS):
        raise OutputRefusedError(f"{path} is a kernel file ({resolved}), not a place for results")


class OutputLock:
    """An exclusive ``flock`` on a hidden sidecar file holding the writer's PID.

    The lock lives in ``.NAME.surge-lock`` next to the output (not on the output itself:
    compaction replaces the output file, which would drop a lock held on it). The kernel
    releases it when the process dies, however it dies.
    """

    def __init__(self, output: Path) -> None:
        self.output = output
        self.path = output.with_name(f".{output.name}.surge-lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        if fcntl is None:  # pragma: no cover
            return
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise OutputError(f"cannot lock {self.output}: {err.strerror}") from err
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                holder = _read_pid(fd)
                os.close(fd)
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise OutputError(f"cannot lock {self.output}: {err.strerror}") from err
                by = f" by process {holder}" if holder else ""
                raise OutputRefusedError(
                    f"{self.output} is in use{by} (another surge run writes it); "
                    "wait for it to finish, or choose another -o"
                ) from None
            # The previous holder may have removed the file between our open and our lock:
            # then we hold a lock nobody else can see. Start again on the current file.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self._fd = fd
                return
            os.close(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # while still locked: nobody can be half-way in
        os.close(self._fd)
        self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def check_own(path: Path) -> None:
    """Refuse (untouched) a non-empty file whose first line is not a result record."""
    with open(path, "rb") as f:
        first = f.readline(_MAX_FIRST_LINE)
    if not first:
        return
    complete = first.endswith(b"\n")
    try:
        record = orjson.loads(first)
    except orjson.JSONDecodeError:
        record = None
    if is_output_record(record):
        return
    if not complete and first.startswith(_SURGE_PREFIX):
        return  # the first result line was being written when the run died
    raise OutputRefusedError(
        f"{path} exists and does not hold surge or Batch API output (its first line is not "
        "a result record); refusing to write to it. Choose another -o"
    )


def repair_tail(path: Path) -> None:
    """Make the file end with a newline: complete a whole last record, cut a torn one."""
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        start = _last_line_start(f, size)
        f.seek(start)
        tail = f.read(size - start)
        try:
            whole = is_output_record(orjson.loads(tail))
        except orjson.JSONDecodeError:
            whole = False
        if whole:
            # Complete but for its newline (written by another tool, or a crash between
            # the record and its newline): the answer is there, keep it.
            f.seek(size)
            f.write(b"\n")
            log.warning("%s: added the missing newline after the last result", path)
        else:
            f.truncate(start)
            log.warning("%s: removed a torn last line (%d bytes)", path, size - start)


def _last_line_start(f: BinaryIO, size: int) -> int:
    """Offset just after the last newline (0 if there is none), read backwards."""
    end = size
    while end > 0:
        start = max(0, end - (1 << 16))
        f.seek(start)
        chunk = f.read(end - start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0
