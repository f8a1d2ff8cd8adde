"""Deliver results as they complete, or in input order through a bounded buffer.

    out = Reorderer(deliver, ordered=True, capacity=10_000)
    await out.wait_for_room(index)   # the feeder: don't run too far ahead of the writer
    out.push(result)                 # a worker: result.index says where it belongs

In ordered mode a result waits until every earlier one is delivered; the feeder stops
launching new requests when the head of the line is ``capacity`` items behind, so the
buffer (and memory) is bounded whatever the latency spread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..models import Result

__all__ = ["Reorderer"]


class Reorderer:
    def __init__(self, deliver: Callable[[Result], None], *, ordered: bool, capacity: int) -> None:
        self._deliver = deliver
        self.ordered = ordered
        self.capacity = capacity
        self._next = 0
        self._pending: dict[int, Result] = {}
        self._room = asyncio.Event()
        self._room.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def wait_for_room(self, index: int) -> None:
        if not self.ordered:
            return
        while index - self._next >= self.capacity:
            self._room.clear()
            await self._room.wait()

    def push(self, result: Result) -> None:
        if not self.ordered:
            self._deliver(result)
            return
        self._pending[result.index] = result
        advanced = False
        while self._next in self._pending:
            self._deliver(self._pending.pop(self._next))
            self._next += 1
            advanced = True
        if advanced:
            self._room.set()

    def flush_partial(self) -> None:
        """At shutdown in ordered mode: deliver what is buffered, keeping its order.

        Results after a gap are still written (they are finished and paid for); resume
        fills the gap later, so the file stays correct though no longer fully ordered.
        """
        for index in sorted(self._pending):
            self._deliver(self._pending.pop(index))
