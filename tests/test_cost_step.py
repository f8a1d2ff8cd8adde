"""The cost step in the attempt pipeline: reservations, refusals, billed retries."""

from __future__ import annotations

from typing import Any

import pytest

from surge._engine.attempt import Attempt, Outcome, compose
from surge._engine.costing import CostStep
from surge.cost.budget import Budget
from surge.cost.prices import Price, PriceBook
from surge.models import Request

BOOK = PriceBook({"m": Price(input=1_000_000.0, output=1_000_000.0)}, library=False)  # $1/token


def _body(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {"usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


async def test_refuses_before_sending_when_the_reservation_does_not_fit():
    stops: list[int] = []
    budget = Budget(limit=20.0)
    step = CostStep(BOOK, budget, on_exhausted=lambda: stops.append(1))
    sent: list[int] = []

    async def sender(attempt: Attempt) -> Outcome:
        sent.append(1)
        attempt.status, attempt.data = 200, _usage(9, 3)
        return Outcome.ok()

    chain = compose([step], sender)
    request = Request(custom_id="a", body=_body(max_tokens=5))
    attempt = Attempt(request, 1, request.body)
    assert (await chain(attempt)).kind == "ok"  # reserves 9 prompt tokens + 5 = $14
    assert attempt.cost == pytest.approx(12.0) and budget.spent == pytest.approx(12.0)
    assert budget.reserved == 0.0
    second = Attempt(request, 1, request.body)
    assert (await chain(second)).kind == "abandon"  # 12 + 14 > 20: never started
    assert sent == [1] and stops == [1] and budget.refused == 1


async def test_every_billed_attempt_counts_on_the_result():
    budget = Budget()
    step = CostStep(BOOK, budget)
    answers = iter(
        [(200, _usage(5, 2), "retry"), (503, {"error": {}}, "retry"), (200, _usage(5, 1), "ok")]
    )

    async def sender(attempt: Attempt) -> Outcome:
        attempt.status, attempt.data, kind = next(answers)
        return Outcome(kind)  # type: ignore[arg-type]

    chain = compose([step], sender)
    request = Request(custom_id="a", body=_body())
    costs = []
    for number in (1, 2, 3):
        attempt = Attempt(request, number, request.body)
        await chain(attempt)
        costs.append(attempt.cost)
    assert costs == [pytest.approx(7.0), pytest.approx(7.0), pytest.approx(13.0)]
    assert budget.spent == pytest.approx(13.0)


async def test_unknown_price_with_a_budget_stops_and_without_one_is_free_of_cost():
    stops: list[int] = []

    async def sender(attempt: Attempt) -> Outcome:
        attempt.status, attempt.data = 200, _usage(5, 1)
        return Outcome.ok()

    request = Request(custom_id="a", body={"model": "nope", "messages": []})
    limited = compose([CostStep(BOOK, Budget(1.0), on_exhausted=lambda: stops.append(1))], sender)
    assert (await limited(Attempt(request, 1, request.body))).kind == "abandon" and stops == [1]
    free = compose([CostStep(BOOK, Budget())], sender)
    attempt = Attempt(request, 1, request.body)
    assert (await free(attempt)).kind == "ok" and attempt.cost is None
