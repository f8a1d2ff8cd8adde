"""The feeder: every input item through the ledger, the work it leaves into the queue.

    finished = await feed(source, ledger, stats, stopping, enqueue)

The resume decision is the ledger's (:mod:`surge.io.ledger`); this loop only asks it, counts
the skips, turns a request that cannot be sent into its error line, and hands the rest
to ``enqueue`` in input order. Every line of a resumed run passes here before its first
new request, so the loop takes the input a batch at a time. An input file comes as raw
lines (:class:`~surge.io.line_parser.LineBatch`): the ledger first skips the lines it
recognizes by their digest (:meth:`~surge.io.ledger.Ledger.replay`), and only the others
are parsed into requests and admitted one by one.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..events import RunStats
from ..io.ledger import Ledger, Skip
from ..io.line_parser import ITEMS_PER_BATCH, Item, LineBatch
from ..io.source import InputLines, batches_of
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
    async for batch in _batches(source, ledger, stats):
        if stopping():  # a batch of lines may all be skipped: no item to check it on
            return False
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


async def _batches(
    source: AsyncIterable[Item], ledger: Ledger, stats: RunStats
) -> AsyncIterator[Iterable[Item]]:
    if not isinstance(source, InputLines):
        async for batch in batches_of(source):
            yield batch
        return
    async for lines in source.line_batches():
        yield _unrecognized(lines, ledger, stats) if isinstance(lines, LineBatch) else lines


# After a line the ledger does not recognize, the next lines are parsed without asking it,
# twice as many after each line in a row it misses (up to this): a run whose every line
# changed (another --model) costs next to nothing more than one that recognizes none.
_MAX_UNASKED = 256


def _unrecognized(batch: LineBatch, ledger: Ledger, stats: RunStats) -> Iterator[Item]:
    """The items of the lines the ledger does not recognize (it skips the others), in order.

    A generator: each line is replayed only after the items before it were admitted.
    """
    i, end, unasked = 0, len(batch), 1
    while i < end:
        seed = batch.seed
        if seed is not None and ledger.replayable:
            skipped, failed = ledger.replay(batch.lines, i, seed)
            if skipped:
                stats.skipped += skipped
                stats.skipped_failed += failed
                i += skipped
                unasked = 1
                if i == end:
                    return
            stop = min(end, i + unasked)
            unasked = min(2 * unasked, _MAX_UNASKED)
        elif seed is None and batch.parser.text_mode is None:
            stop = i + 1  # the format is not known yet (the next non-blank line decides)
        else:
            stop = min(end, i + ITEMS_PER_BATCH)  # nothing to recognize (a fresh run)
        yield from batch.items(i, stop)
        i = stop
