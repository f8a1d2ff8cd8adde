"""The reorder buffer: pass-through, or input order with a bounded look-ahead."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surge._engine.engine import Engine, EngineSettings
from surge._engine.ordering import Reorderer
from surge._http.transport import RawResponse
from surge.config import Endpoint, Limits, RetryPolicy, RunOptions
from surge.io.store import MemoryStore
from surge.models import Request, Result


def result(index: int) -> Result:
    return Result(custom_id=f"r{index}", index=index, status_code=200)


def collector(*, ordered: bool, capacity: int = 100) -> tuple[Reorderer, list[int]]:
    delivered: list[int] = []
    out = Reorderer(lambda r: delivered.append(r.index), ordered=ordered, capacity=capacity)
    return out, delivered


@pytest.mark.parametrize(
    ("pushes", "ordered", "delivered_after_each"),
    [
        ([2, 0, 1], False, [[2], [2, 0], [2, 0, 1]]),
        ([2, 0, 1], True, [[], [0], [0, 1, 2]]),
        ([0, 1, 2], True, [[0], [0, 1], [0, 1, 2]]),
        ([3, 2, 1, 0], True, [[], [], [], [0, 1, 2, 3]]),
        ([1, 0, 3, 2], True, [[], [0, 1], [0, 1], [0, 1, 2, 3]]),
    ],
)
def test_push_table(
    pushes: list[int], ordered: bool, delivered_after_each: list[list[int]]
) -> None:
    out, delivered = collector(ordered=ordered)
    for index, expected in zip(pushes, delivered_after_each, strict=True):
        out.push(result(index))
        assert delivered == expected
    assert out.pending == 0


@given(st.permutations(list(range(40))))
def test_ordered_delivers_in_index_order_whatever_the_push_order(order: list[int]) -> None:
    out, delivered = collector(ordered=True)
    for index in order:
        out.push(result(index))
        # Never more than the out-of-order items are held back.
        assert out.pending == len(order[: order.index(index) + 1]) - len(delivered)
    assert delivered == list(range(40))
    assert out.pending == 0


@given(st.permutations(list(range(20))))
def test_unordered_passes_through(order: list[int]) -> None:
    out, delivered = collector(ordered=False)
    for index in order:
        out.push(result(index))
    assert delivered == order


@given(st.permutations(list(range(12))), st.integers(min_value=0, max_value=12))
def test_flush_partial_delivers_the_rest_in_order(order: list[int], stop: int) -> None:
    out, delivered = collector(ordered=True)
    pushed = order[:stop]
    for index in pushed:
        out.push(result(index))
    out.flush_partial()
    assert sorted(delivered) == sorted(pushed)
    # The contiguous head first, then what came after the gap, still in index order.
    assert delivered == sorted(delivered)
    assert out.pending == 0


async def test_unordered_never_waits_for_room() -> None:
    out, _ = collector(ordered=False, capacity=1)
    await asyncio.wait_for(out.wait_for_room(10_000), 1)


async def test_wait_for_room_blocks_when_the_buffer_is_full_and_unblocks_on_progress() -> None:
    out, delivered = collector(ordered=True, capacity=3)
    for index in (0, 1, 2):
        await asyncio.wait_for(out.wait_for_room(index), 1)  # room for 0..2
    waiter = asyncio.create_task(out.wait_for_room(3))
    await asyncio.sleep(0.01)
    assert not waiter.done()  # 3 items ahead of the head: full

    out.push(result(2))  # later items do not make room...
    out.push(result(1))
    await asyncio.sleep(0.01)
    assert not waiter.done()

    out.push(result(0))  # ...the head does
    await asyncio.wait_for(waiter, 1)
    assert delivered == [0, 1, 2]


async def test_wait_for_room_waits_for_enough_progress() -> None:
    out, _ = collector(ordered=True, capacity=2)
    waiter = asyncio.create_task(out.wait_for_room(5))  # needs the head at 4
    for index in range(3):
        out.push(result(index))
        await asyncio.sleep(0.01)
        assert not waiter.done()
    out.push(result(3))
    await asyncio.wait_for(waiter, 1)


# -- the engine's use of the buffer at shutdown ---------------------------------------------


class _HeadOfLineTransport:
    """Answers 200 at once, except the request marked "slow": 503 after a short wait."""

    async def send(
        self, method: str, url: str, body: bytes, headers: Any, *, timeout: float | None
    ) -> RawResponse:
        if b'"slow"' in body:
            await asyncio.sleep(0.02)
            return RawResponse(503, {}, b"{}")
        return RawResponse(200, {}, b'{"choices": []}')

    async def close(self) -> None:
        pass


async def test_graceful_stop_in_ordered_mode_returns() -> None:
    settings = EngineSettings(
        endpoint=Endpoint(base_url="http://127.0.0.1:9/v1"),
        limits=Limits(concurrency=4),
        retry=RetryPolicy(max_retries=100, initial_delay=0.02, max_delay=0.02),
        options=RunOptions(model="m", ordered=True, reorder_buffer=3),
    )
    engine = Engine(settings, transport=_HeadOfLineTransport())

    async def source() -> AsyncIterator[Request]:
        yield Request(custom_id="slow", body={"model": "m", "x": "slow"})
        for i in range(50):
            yield Request(custom_id=f"r{i}", body={"model": "m"})

    task = asyncio.create_task(engine.run(source(), MemoryStore(), grace=0.2))
    await asyncio.sleep(0.15)  # buffer full behind the retrying head
    engine.request_stop()
    try:
        await asyncio.wait_for(asyncio.shield(task), 1.0)
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
