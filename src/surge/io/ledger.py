"""The resume decision: for each input item, send it, record it as invalid, or skip it.

    ledger = store.open()                  # built from what the output already holds
    for item in source:
        match ledger.admit(item):
            case Request() as request: ...  # to be sent
            case Result() as line_error: ...  # written as is (an invalid input line)
            case Skip() as skip: ...         # already answered in the output
    ledger.end_of_input()                  # the whole input was seen: stale lines can go

The store builds the ledger on its file, so the one place that knows what is finished
is the output itself; the engine only asks. A request is finished when the output holds a
line for its custom_id *with the same fingerprint* (:func:`~surge.io.records.fingerprint`):
an edited prompt, another model or parameter is sent again, and its new line supersedes
the old one. ``keep_stale`` goes back to matching by custom_id alone.

custom_ids stay unique within a run: a repeated id is an error line named ``id#2``
(``#3``...), and a repeated content-derived id (the same prompt twice) is its next
occurrence, ``t-...-2``.

Memory stays flat in N: the ids of this run are a :class:`~surge.io.seen.SeenIds` (about
2 bytes each in memory), and what the output holds is read as the input asks for it
(:class:`~surge.io.recorded.RecordedIndex`), not loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson
from xxhash import xxh3_64_intdigest

from ..errors import InputError
from ..models import ErrorInfo, Request, Result
from .digests import DigestMap, DigestSet, id_digest
from .prompts import request_fingerprint
from .recorded import RecordedIndex, RecordedTable
from .records import (
    FAILED,
    FP_MASK,
    RECORDED,
    TRANSIENT,
    UNSENT,
    fingerprint,
)
from .seen import SeenIds

if TYPE_CHECKING:
    from ..events import RunStats

__all__ = ["Admission", "Ledger", "Skip", "fingerprint"]


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 4x, once per skipped line
class Skip:
    """An item whose result the output already holds."""

    custom_id: str
    failed: bool  # the recorded result is an error (kept: no --retry-failed)
    transient: bool = False  # ... one that could succeed if sent again


Admission = Request | Result | Skip


class Ledger:
    """The ids this run admitted (exactly, compactly) and what the output held for them."""

    def __init__(
        self,
        recorded: RecordedIndex | RecordedTable | DigestMap | None = None,
        *,
        retry_failed: bool = False,
        keep_stale: bool = False,
        remember_order: bool = False,
    ) -> None:
        if recorded is None or isinstance(recorded, DigestMap):
            recorded = RecordedTable(recorded)
        self._recorded = recorded
        self._ids = SeenIds()
        self._resent = DigestSet()  # ids whose output line this run supersedes
        self._repeats: dict[str, int] = {}  # content ids seen more than once: last occurrence
        self.retry_failed = retry_failed
        self.keep_stale = keep_stale
        self.input_complete = False
        # Library calls return one result per input, in order: they need the final ids.
        self.order: list[str] | None = [] if remember_order else None
        self._stats: RunStats | None = None

    def __repr__(self) -> str:
        return f"Ledger(seen={len(self._ids)}, complete={self.input_complete})"

    def attach(self, stats: RunStats) -> None:
        """Count re-sent (changed) requests and skipped transient failures in ``stats``."""
        self._stats = stats

    def end_of_input(self) -> None:
        """The source was read to its end: every id this run will ever see has been seen."""
        self.input_complete = True

    def note_stale_removed(self, count: int) -> None:
        """The store compacted the output and dropped ``count`` answers to removed lines."""
        if self._stats is not None:
            self._stats.stale_removed += count

    def recorded(self, custom_id: str) -> bool:
        """Whether the output held a line for ``custom_id`` not admitted yet in this run."""
        return self._recorded.peek(id_digest(custom_id))

    def supersedes(self, custom_id: str) -> bool:
        """Whether a line now written for ``custom_id`` replaces one the file holds.

        True for a request this run sent again (changed, or a failure retried). Lines
        written without admissions (a Batch fetch, the merge of ``--workers`` parts) ask
        the output itself; from then on the id counts as written, so a second line for it
        supersedes the first. Once per result line: no disk read of the id set here.
        """
        key = id_digest(custom_id)
        if key in self._resent:
            return True
        if len(self._ids):
            return False  # every line of a run that admits was admitted first
        self._resent.add(key)
        return self._recorded.take(key) is not None

    def resent(self) -> DigestSet:
        """Ids with a line written in this run that supersedes an older one."""
        return self._resent

    def close(self) -> None:
        """Release the id set's spill file."""
        self._ids.close()

    @property
    def stale(self) -> int:
        """Ids the output held that this input no longer has (after the store drained it)."""
        return self._recorded.stale

    # -- ids ---------------------------------------------------------------------------
    def _claim(self, custom_id: str) -> int | None:
        """Mark the id seen; its recorded entry (0: none), or None if already seen."""
        key = xxh3_64_intdigest(orjson.dumps(custom_id)) or 1  # id_digest, inlined
        if not self._ids.add(key):
            return None
        recorded = self._recorded.take(key)
        return 0 if recorded is None else recorded

    def _unique(self, custom_id: str) -> tuple[str, int]:
        """``custom_id``, or ``custom_id#2``, ``#3``... if taken."""
        entry = self._claim(custom_id)
        n = 1
        candidate = custom_id
        while entry is None:
            n += 1
            candidate = f"{custom_id}#{n}"
            entry = self._claim(candidate)
        return candidate, entry

    def _occurrence(self, base: str) -> tuple[str, int]:
        """The next free occurrence of a content-derived id (``base`` is taken): ``base-2``..."""
        n = self._repeats.get(base, 1)
        while True:
            n += 1
            candidate = f"{base}-{n}"
            entry = self._claim(candidate)
            if entry is not None:
                self._repeats[base] = n
                return candidate, entry

    # -- the decision ------------------------------------------------------------------
    @property
    def replayable(self) -> bool:
        """Whether :meth:`replay` can still recognize a line (no: nothing left to match)."""
        return self.order is None and self._recorded.replayable

    def replay(self, lines: Sequence[bytes], start: int, seed: int) -> tuple[int, int]:
        """Skip the raw input lines from ``start`` on whose answers the output holds,
        recognized by the digest of their bytes (:mod:`surge.io.linedigest`), without
        parsing them; stop at the first line that is not one. Returns ``(skipped, of
        which failed)``; the next line then takes :meth:`admit`.

        A line whose digest is recorded is byte for byte the line that answer was for,
        under the same options: the same custom_id and request, so :meth:`admit` would
        skip it too. The cases where it would not are left to it: a repeated id (the
        set of ids says so), a failure under ``retry_failed``, an answer recorded with
        no digest or under a content id's occurrence (``t-...-2`` depends on the lines
        before), and lines read far out of order.
        """
        refuse = FAILED if self.retry_failed else 0
        skipped, failed, transient = self._recorded.replay(
            lines, start, seed, refuse, self._ids.add
        )
        if transient and self._stats is not None:
            self._stats.skipped_failed_transient += transient
        return skipped, failed

    def admit(self, item: Request | InputError) -> Admission:
        if isinstance(item, InputError):
            # Never sent, so never skipped: it costs nothing to record it again.
            custom_id, entry = self._unique(item.custom_id or f"line-{item.line}")
            return self._line_error(custom_id, entry, item.line, item.code, str(item))
        # This runs once per input line, skipped ones included (a million of them before
        # the first request when a big run resumes): the common path calls little.
        if item.content_id and item.custom_id in self._repeats:
            recorded = None  # a prompt met again (asking the id set would mean a disk read)
        else:
            recorded = self._claim(item.custom_id)
        if recorded is None:
            if item.content_id:
                item.custom_id, recorded = self._occurrence(item.custom_id)
            else:
                # The error line gets its own id: sharing the original's would make a
                # resume believe the original finished (and each id stays unique).
                dup_id, entry = self._unique(item.custom_id)
                message = (
                    f"line {item.line}: duplicate custom_id {item.custom_id!r} "
                    "(an earlier line has it); not sent"
                )
                return self._line_error(dup_id, entry, item.line, "invalid_input", message)
        if recorded & FP_MASK == 0 and recorded & RECORDED and not self._retried(recorded):
            # Answered, recorded without a fingerprint (Batch API output, an older surge):
            # the custom_id is all there is to go by, and the request is not hashed.
            admission: Admission = self._decide(item, recorded, 0) or item
        else:
            admission = self._admit_request(item, recorded)
        if self.order is not None:
            self.order.append(admission.custom_id)
        return admission

    def _retried(self, recorded: int) -> bool:
        return self.retry_failed and bool(recorded & FAILED)

    def _admit_request(self, item: Request, recorded: int) -> Admission:
        """Send, or skip if the recorded line answers this very request (by fingerprint)."""
        item.fingerprint, bits = request_fingerprint(item)
        if recorded == bits | RECORDED and bits != UNSENT:  # answered, for this very request
            admission: Admission = Skip(item.custom_id, False)
        elif recorded & RECORDED:
            skip = self._decide(item, recorded, bits)
            if skip is None:
                self._resent.add(id_digest(item.custom_id))  # its new line replaces the old
            admission = skip or item
        else:
            admission = item
        return admission

    def _decide(self, request: Request, recorded: int, bits: int) -> Skip | None:
        """Skip when the recorded line answers this very request; None: send it."""
        failed = bool(recorded & FAILED)
        recorded_fp = recorded & FP_MASK
        if recorded_fp == UNSENT or (failed and self.retry_failed):
            return None
        # 0: a line from an older surge or from the Batch API, which records no
        # fingerprint; the custom_id is all there is to go by.
        if recorded_fp == bits or recorded_fp == 0 or self.keep_stale:
            transient = failed and bool(recorded & TRANSIENT)
            if transient and self._stats is not None:
                self._stats.skipped_failed_transient += 1
            return Skip(request.custom_id, failed, transient)
        if self._stats is not None:
            self._stats.resent_changed += 1
        return None

    def _line_error(
        self, custom_id: str, recorded: int, line: int | None, code: str, message: str
    ) -> Result:
        if recorded & RECORDED:
            self._resent.add(id_digest(custom_id))  # recorded again: the new line replaces it
        result = _line_error(custom_id, line, code, message)
        self._remember(result)
        return result

    def _remember(self, admission: Admission) -> Admission:
        if self.order is not None:
            self.order.append(admission.custom_id)
        return admission


def _line_error(custom_id: str, line: int | None, code: str, message: str) -> Result:
    return Result(custom_id=custom_id, line=line, error=ErrorInfo(code, message), line_error=True)
