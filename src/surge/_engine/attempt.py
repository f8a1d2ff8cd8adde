"""One attempt of one request, as a pipeline of small steps around the HTTP call.

    chain = compose([cache_step, budget_step, validate_step, LimitStep(gate)], SendStep(...))
    outcome = await chain(Attempt(request, number=1, body=request.body))

The order of an attempt::

    build → fail-fast watch → cache lookup → budget → validate → limiter → send → parse
                                  ↑ (a hit returns here: no rate limit, no cost)

The engine composes ``[FailFastStep, *steps, LimitStep]`` around the sender: the
fail-fast watch (``failfast.py``) sees every attempt that was sent and stops the run when
the endpoint itself is wrong; the caller's steps (cache, budget, validation) come next;
the rate limiter is innermost, so only attempts that really go out consume rate limit.
An exception escaping a step becomes that request's ``internal_error`` result.

Each step is an async callable ``step(attempt, call_next) -> Outcome``, like aiohttp's
client middlewares: it may look at the attempt before calling ``call_next`` (a cache hit
answers without calling it at all; a budget refuses), and at the outcome after (a cache
stores a success; a validator turns a 200 that does not match the schema into a retry with
a corrected body; the limiter settles what the server charged). The innermost callable,
the *sender*, makes the one HTTP attempt and classifies what came back.

An :class:`Outcome` is one of

* ``ok``: a usable answer (2xx with a JSON body, and whatever later steps demand);
* ``retry``: try again after ``delay`` seconds, with ``body`` if a step changed it;
* ``fail``: final, with an :class:`~surge.ErrorInfo` (and the server's answer, if any);
* ``abandon``: not sent and not finished (a stop was requested): left for the resume.

The engine turns the final outcome into a :class:`~surge.Result`; it knows nothing of
caches, budgets or schemas.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..errors import RequestError
from ..models import ErrorInfo, Request

__all__ = ["Attempt", "Next", "Outcome", "Step", "compose"]


@dataclass(slots=True)
class Attempt:
    """The state of one attempt, filled in as it passes through the steps."""

    request: Request  # as the caller gave it: never mutated
    number: int  # 1-based
    body: dict[str, Any]  # what this attempt sends (a re-ask may differ from request.body)
    # Filled by the sender once the server answered:
    status: int | None = None
    headers: Mapping[str, str] | None = None
    data: Any = None  # the parsed JSON body (or the raw text when it was not JSON)
    request_id: str | None = None
    server_delay: float | None = None  # the wait the server asked for (Retry-After)
    sent_at: float | None = None  # monotonic time the request left
    transport_error: RequestError | None = None  # no answer at all: why (reset, refused...)
    # Filled by later steps:
    parsed: Any = None  # a structured answer, validated
    cached: bool = False  # answered from the response cache
    cost: float | None = None  # USD, when a pricing step knows it
    notes: dict[str, Any] = field(default_factory=dict)  # step metadata for the output


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Literal["ok", "retry", "fail", "abandon"]
    error: ErrorInfo | None = None
    delay: float = 0.0  # retry: seconds to wait (a client backoff, or the server's word)
    reason: str = ""  # retry: why, for events and logs ("HTTP 503", "invalid_response")
    body: dict[str, Any] | None = None  # retry: the body for the next attempt, if changed

    @classmethod
    def ok(cls) -> Outcome:
        return _OK

    @classmethod
    def abandon(cls) -> Outcome:
        return _ABANDON


_OK = Outcome("ok")
_ABANDON = Outcome("abandon")

Next = Callable[[Attempt], Awaitable[Outcome]]


class Step(Protocol):
    async def __call__(self, attempt: Attempt, call_next: Next) -> Outcome: ...


def compose(steps: Sequence[Step], sender: Next) -> Next:
    """Wrap ``sender`` in ``steps``, the first step outermost."""
    chain = sender
    for step in reversed(steps):
        chain = _bind(step, chain)
    return chain


def _bind(step: Step, call_next: Next) -> Next:
    async def run(attempt: Attempt) -> Outcome:
        return await step(attempt, call_next)

    return run
