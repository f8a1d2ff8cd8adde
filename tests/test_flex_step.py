"""The service-tier step: flex refusals counted per request, fallback by count or deadline."""

from __future__ import annotations

from typing import Any

import pytest

from surge._engine.attempt import Attempt, Outcome, compose
from surge._engine.flex import ServiceTierStep
from surge.config import FlexFallback
from surge.errors import ConfigError
from surge.models import Request

UNAVAILABLE = {"error": {"code": "resource_unavailable", "message": "no capacity"}}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def attempts_until_done(step: ServiceTierStep, answers: list[int]) -> list[Attempt]:
    """Run one request through ``step`` and a sender that answers ``answers`` in turn."""
    request = Request(custom_id="r", body={"model": "m", "messages": []})
    seen: list[Attempt] = []
    queue = list(answers)

    async def sender(attempt: Attempt) -> Outcome:
        seen.append(attempt)
        attempt.status = queue.pop(0)
        if attempt.status == 429:
            attempt.data = UNAVAILABLE
            return Outcome("retry", delay=1.0, reason="HTTP 429")
        attempt.data = {"service_tier": attempt.body.get("service_tier")}
        return Outcome.ok()

    chain = compose([step], sender)
    body: dict[str, Any] = request.body
    for number in range(1, len(answers) + 1):
        outcome = await chain(Attempt(request, number, body))
        if outcome.kind != "retry":
            break
        body = outcome.body or seen[-1].body
    return seen


async def test_falls_back_after_n_unavailable_answers() -> None:
    step = ServiceTierStep("flex", FlexFallback(after=2))
    seen = await attempts_until_done(step, [429, 429, 200])
    assert [a.body["service_tier"] for a in seen] == ["flex", "flex", "default"]
    assert seen[-1].notes["service_tier"] == {
        "requested": "flex",
        "used": "default",
        "unavailable": 2,
    }


async def test_falls_back_after_the_deadline() -> None:
    clock = Clock()
    step = ServiceTierStep("flex", FlexFallback(deadline=30), clock=clock)
    request = Request(custom_id="r", body={"model": "m"})

    async def refuse(attempt: Attempt) -> Outcome:
        attempt.status, attempt.data = 429, UNAVAILABLE
        return Outcome("retry", delay=2.0, reason="HTTP 429")

    chain = compose([step], refuse)
    first = await chain(Attempt(request, 1, request.body))
    assert first.body is None  # still within the deadline: flex again, with its backoff
    clock.now += 31
    second = await chain(Attempt(request, 2, {**request.body, "service_tier": "flex"}))
    assert second.body is not None and second.body["service_tier"] == "default"
    assert second.delay == 0.0


async def test_without_fallback_flex_stays_and_a_body_tier_is_kept() -> None:
    step = ServiceTierStep("flex", None)
    seen = await attempts_until_done(step, [429, 429, 429, 200])
    assert all(a.body["service_tier"] == "flex" for a in seen)
    assert seen[-1].notes["service_tier"]["unavailable"] == 3
    # A body that names its own tier keeps it; a non-flex request gets no note.
    request = Request(custom_id="d", body={"model": "m", "service_tier": "default"})

    async def ok(attempt: Attempt) -> Outcome:
        attempt.status = 200
        return Outcome.ok()

    attempt = Attempt(request, 1, request.body)
    await compose([step], ok)(attempt)
    assert attempt.body["service_tier"] == "default" and "service_tier" not in attempt.notes


@pytest.mark.parametrize(
    ("text", "after", "deadline"),
    [("3", 3, None), ("90s", None, 90.0), ("10m", None, 600.0), ("2, 1m", 2, 60.0)],
)
def test_flex_fallback_parse(text: str, after: int | None, deadline: float | None) -> None:
    assert FlexFallback.parse(text) == FlexFallback(after=after, deadline=deadline)


@pytest.mark.parametrize("text", ["", "soon", "0", "-5s", "3,x"])
def test_flex_fallback_parse_rejects_nonsense(text: str) -> None:
    with pytest.raises(ConfigError):
        FlexFallback.parse(text)
