"""Requests waiting to retry: a heap of due times, and one timer that hands them back.

    delays = DelayQueue(work_queue.put, clock=time.monotonic)
    delays.push(job, delay=1.5)      # the worker is free again at once
    task = asyncio.create_task(delays.run())   # puts each job on the work queue when due

A request's backoff belongs to that request alone: it gives back its worker (and so its
concurrency slot) while it waits, and no other request waits with it. No polling: the
timer sleeps until the earliest due time, or until an earlier one is pushed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["DelayQueue"]

T = TypeVar("T")


class DelayQueue(Generic[T]):
    def __init__(
        self, put: Callable[[T], Awaitable[None]], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._put = put
        self._clock = clock
        self._heap: list[tuple[float, int, T]] = []
        self._seq = itertools.count()
        self._changed = asyncio.Event()
        self._handing: T | None = None  # popped, and being put (the put may block)

    def __len__(self) -> int:
        return len(self._heap)

    def __repr__(self) -> str:
        due = f", next in {self._heap[0][0] - self._clock():.2f}s" if self._heap else ""
        return f"<DelayQueue waiting={len(self._heap)}{due}>"

    def push(self, item: T, delay: float) -> None:
        heapq.heappush(self._heap, (self._clock() + max(delay, 0.0), next(self._seq), item))
        self._changed.set()

    def clear(self) -> list[T]:
        """Take every waiting item out (a stop: they are left for the resumed run).

        Cancel :meth:`run` first: an item it was still handing over is included.
        """
        items = [item for _, _, item in self._heap]
        self._heap.clear()
        if self._handing is not None:
            items.append(self._handing)
            self._handing = None
        return items

    async def run(self) -> None:
        """Hand each item to ``put`` when it is due; runs until cancelled."""
        heap = self._heap
        while True:
            self._changed.clear()
            if not heap:
                await self._changed.wait()
                continue
            wait = heap[0][0] - self._clock()
            if wait > 0:
                try:
                    async with asyncio.timeout(wait):
                        await self._changed.wait()
                except TimeoutError:
                    pass
                continue
            _, _, item = heapq.heappop(heap)
            self._handing = item
            await self._put(item)
            self._handing = None
