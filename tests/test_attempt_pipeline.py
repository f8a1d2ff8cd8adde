"""The attempt chain: steps wrap the sender in order, and may answer without calling it."""

from __future__ import annotations

from surge._engine.attempt import Attempt, Next, Outcome, compose
from surge.models import Request


def _attempt() -> Attempt:
    request = Request(custom_id="a", body={"model": "m"})
    return Attempt(request, 1, request.body)


async def test_steps_run_outermost_first_and_see_the_outcome() -> None:
    seen: list[str] = []

    def step(name: str):  # type: ignore[no-untyped-def]
        async def run(attempt: Attempt, call_next: Next) -> Outcome:
            seen.append(f"{name}>")
            outcome = await call_next(attempt)
            seen.append(f"<{name}:{outcome.kind}")
            return outcome

        return run

    async def sender(attempt: Attempt) -> Outcome:
        seen.append("send")
        attempt.status = 200
        return Outcome.ok()

    chain = compose([step("cache"), step("limit")], sender)
    outcome = await chain(_attempt())
    assert outcome.kind == "ok"
    assert seen == ["cache>", "limit>", "send", "<limit:ok", "<cache:ok"]


async def test_a_step_can_answer_without_sending() -> None:
    sent: list[int] = []

    async def hit(attempt: Attempt, call_next: Next) -> Outcome:
        attempt.cached = True
        attempt.data = {"cached": True}
        return Outcome.ok()

    async def sender(attempt: Attempt) -> Outcome:
        sent.append(1)
        return Outcome.ok()

    attempt = _attempt()
    outcome = await compose([hit], sender)(attempt)
    assert outcome.kind == "ok" and attempt.cached and sent == []


async def test_a_retry_can_carry_a_new_body() -> None:
    async def reask(attempt: Attempt, call_next: Next) -> Outcome:
        await call_next(attempt)
        return Outcome("retry", reason="invalid_schema", body={**attempt.body, "fix": 1})

    async def sender(attempt: Attempt) -> Outcome:
        return Outcome.ok()

    outcome = await compose([reask], sender)(_attempt())
    assert outcome.kind == "retry" and outcome.body == {"model": "m", "fix": 1}
