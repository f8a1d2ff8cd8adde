"""The resume decision: for each input item, send it, record it as invalid, or skip it.

    ledger = store.open()                  # built from what the output already holds
    for item in source:
        match ledger.admit(item):
            case Request() as request: ...  # to be sent
            case Result() as line_error: ...  # written as is (an invalid input line)
            case Skip() as skip: ...         # already finished in the output

The store builds the ledger from its file, so the one place that knows what is finished
is the output itself; the engine only asks.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from ..models import ErrorInfo, Request, Result

__all__ = ["Admission", "Ledger", "Skip"]


@dataclass(frozen=True, slots=True)
class Skip:
    """An item whose result the output already holds."""

    custom_id: str
    failed: bool  # the recorded result is an error (kept: no --retry-failed)


Admission = Request | Result | Skip


class Ledger:
    """What the output holds, and the custom_ids seen so far in this run's input."""

    def __init__(self, finished: set[str] | None = None, failed: set[str] | None = None) -> None:
        self._finished = finished or set()
        self._failed = failed or set()
        self._seen: set[str] = set()

    @property
    def finished(self) -> frozenset[str]:
        """The custom_ids the output already holds."""
        return frozenset(self._finished)

    def _skip(self, custom_id: str) -> Skip | None:
        if custom_id in self._finished:
            return Skip(custom_id, custom_id in self._failed)
        return None

    def admit(self, item: Request | InputError) -> Admission:
        if isinstance(item, InputError):
            custom_id = f"line-{item.line}"
            return self._skip(custom_id) or Result(
                custom_id=custom_id,
                line=item.line,
                error=ErrorInfo(item.code, str(item)),
                line_error=True,
            )
        if item.custom_id in self._seen:
            # The error line gets its own id: sharing the original's would make a
            # resume believe the original finished (and each id stays unique).
            dup_id = f"{item.custom_id}#line-{item.line}"
            return self._skip(dup_id) or Result(
                custom_id=dup_id,
                line=item.line,
                error=ErrorInfo(
                    "invalid_input",
                    f"line {item.line}: duplicate custom_id {item.custom_id!r} "
                    "(an earlier line has it); not sent",
                ),
                line_error=True,
            )
        self._seen.add(item.custom_id)
        return self._skip(item.custom_id) or item
