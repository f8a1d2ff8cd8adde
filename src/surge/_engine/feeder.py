"""The feeder: every input item through the ledger, the work it leaves into the queue.

    finished = await feed(source, ledger, stats, stopping, enqueue)

The resume decision is the ledger's (:mod:`surge.io.ledger`); this loop only asks it, counts
the skips, turns a request that cannot be sent into its error line, and hands the rest
to ``enqueue`` in input order. Every line of a resumed run passes here before its first
new request, so the loop takes the input a batch at a time and checks a skipped line's
custom_id only (it was sendable when it was sent).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..events import RunStats
from ..io.ledger import Ledger, Skip
from ..io.source import batches_of
from ..models import Request, Result
from .validate import id_problem, refusal, request_problem

__all__ = ["Job", "feed"]


@dataclass(slots=True)
class Job:
    """One request on its way: the engine's own record (the caller's Request is untouched)."""

    request: Request
    index: int  # position among the requests of this run (ordering, results)
    body: dict[str, Any]
    number: int = 0  # attempts made so far
    first_sent: float | None = None


async def feed(
    source: AsyncIterable[Request | InputError],
    ledger: Ledger,
    stats: RunStats,
    stopping: Callable[[], bool],
    enqueue: Callable[[Job | Result], Awaitable[None]],
) -> bool:
    """Admit every item of ``source`` and enqueue the work; False if a stop came first."""
    index = 0
    admit = ledger.admit
    async for batch in batches_of(source):
        for item in batch:
            if stopping():
                return False
            if isinstance(item, Request) and not item.content_id:  # made ids are fine
                problem = id_problem(item.custom_id)
                if problem is not None:
                    item = InputError(problem, line=item.line)
            work = admit(item)
            if isinstance(work, Skip):
                stats.skipped += 1
                if work.failed:
                    stats.skipped_failed += 1
                continue
            if isinstance(work, Request) and (problem := request_problem(work)) is not None:
                work = refusal(work, problem)
            if isinstance(work, Result):
                work.index = index  # an invalid line's error result
                job: Job | Result = work
            else:
                job = Job(work, index, work.body)
            index += 1
            await enqueue(job)
    return True
