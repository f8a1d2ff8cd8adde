"""The fail-fast tripwire as a table of attempts, and the delay queue with a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from surge._engine.delays import DelayQueue
from surge._engine.failfast import EndpointProblem, Tripwire, explain
from surge.errors import APIConnectionError, APITimeoutError

REFUSED = APIConnectionError("refused", at_connect=True)
RESET = APIConnectionError("reset")
TIMEOUT = APITimeoutError("slow")


@pytest.mark.parametrize(
    ("attempts", "trips_at"),
    [
        ([(401, None)], 0),
        ([(403, None)], 0),
        ([(404, None)], 0),
        ([(307, None)], 0),
        ([(None, REFUSED)], 0),
        ([(200, None), (401, None)], None),  # proven first: one request's own error
        ([(429, None), (404, None)], None),
        ([(503, None), (None, REFUSED)], None),
        ([(None, RESET), (None, TIMEOUT), (401, None)], 2),  # transient: still armed
        ([(None, RESET), (None, TIMEOUT), (500, None)], None),
    ],
)
def test_tripwire(
    attempts: list[tuple[int | None, Exception | None]], trips_at: int | None
) -> None:
    wire = Tripwire()
    tripped = None
    for n, (status, error) in enumerate(attempts):
        problem = wire.observe(status, "msg", transport_error=error)  # type: ignore[arg-type]
        if problem is not None and tripped is None:
            tripped = n
    assert tripped == trips_at


def test_explain_names_the_option_to_check() -> None:
    url = "http://h/v1"
    assert "--api-key" in explain(EndpointProblem(401, "bad key"), url)
    assert "'m1'" in explain(EndpointProblem(404, "no model", "m1"), url)
    assert "--base-url" in explain(EndpointProblem(None, "refused"), url)
    assert "redirect" in explain(EndpointProblem(301, "moved"), url)


async def test_delay_queue_hands_items_back_in_due_order() -> None:
    now = [0.0]
    out: asyncio.Queue[str] = asyncio.Queue()
    delays: DelayQueue[str] = DelayQueue(out.put, clock=lambda: now[0])
    delays.push("late", 0.05)
    delays.push("soon", 0.01)
    task = asyncio.create_task(delays.run())
    await asyncio.sleep(0)
    assert out.empty()
    now[0] = 0.02
    delays.push("now", 0.0)  # wakes the timer: "soon" is due by the fake clock as well
    assert await asyncio.wait_for(out.get(), 1) == "soon"
    assert await asyncio.wait_for(out.get(), 1) == "now"
    assert len(delays) == 1 and delays.clear() == ["late"]
    task.cancel()
