"""The cost step: reserve an attempt's worst-case cost, then charge what it really cost.

    step = CostStep(PriceBook(), Budget(limit=5.0), on_exhausted=engine.request_stop)

Before the attempt: if a budget is set, its reservation (input tokens plus ``max_tokens``,
or the output length learned from earlier answers, at the model's price and tier) must
fit in ``limit - spent - reserved``; if it does not, the attempt is not started, the run
is asked to stop (``on_exhausted``) and the request is left for a resumed run. After the
attempt: every answer that reports ``usage`` is charged, a failed one too (a provider
bills it), and the request's running total goes on ``attempt.cost`` for its result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .. import _constants as C
from .._http.openai import usage_counts
from .._limits.tokens import TokenCounter, expected_output_tokens
from ..cost.budget import Budget
from ..cost.prices import Price, PriceBook, tier_of
from .attempt import Attempt, Next, Outcome

__all__ = ["CostStep"]

log = logging.getLogger(__name__)


class CostStep:
    def __init__(
        self,
        book: PriceBook,
        budget: Budget,
        *,
        on_exhausted: Callable[[], None] | None = None,
        counter: TokenCounter | None = None,
    ) -> None:
        self.book = book
        self.budget = budget
        self._on_exhausted = on_exhausted
        self._counter = counter or TokenCounter()
        self._expected_output = float(C.DEFAULT_EXPECTED_OUTPUT_TOKENS)
        self._running: dict[int, float] = {}  # id(request) -> USD billed so far
        self._lookups: dict[str, asyncio.Future[Price | None]] = {}

    def __repr__(self) -> str:
        return f"CostStep({self.budget!r})"

    def _reservation(self, attempt: Attempt, price: Price) -> float:
        body = attempt.body
        prompt = self._counter.prompt_tokens(body)
        declared = expected_output_tokens(body)
        n = body.get("n")
        choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
        output = (declared if declared is not None else self._expected_output) * choices
        if attempt.request.url.endswith("/embeddings"):
            output = 0
        return price.cost(input=prompt, output=int(output + 0.999), tier=tier_of(body))

    async def __call__(self, attempt: Attempt, call_next: Next) -> Outcome:
        model = attempt.body.get("model")
        name = model if isinstance(model, str) else None
        budget = self.budget
        reserved = 0.0
        # Without a budget the price is needed only once the answer is in.
        price = await self._price(name) if budget.limit is not None else None
        if budget.limit is not None:
            if price is None:  # the CLI refuses this up front; a library caller learns here
                log.warning("no price for model %r: cannot keep the budget; stopping", model)
                self._exhausted()
                return Outcome.abandon()
            reserved = self._reservation(attempt, price)
            if not budget.try_reserve(reserved):
                log.info(
                    "budget: %s needs $%.6f, $%.6f spent + $%.6f reserved of $%.6f; stopping",
                    attempt.request.custom_id, reserved, budget.spent, budget.reserved,
                    budget.limit,
                )  # fmt: skip
                self._exhausted()
                self._running.pop(id(attempt.request), None)
                return Outcome.abandon()
        actual = 0.0
        try:
            outcome = await call_next(attempt)
        except BaseException:
            budget.settle(reserved, 0.0)
            raise
        usage = usage_counts(attempt.data) if attempt.status is not None else None
        if usage is not None and not attempt.cached:
            if price is None:
                price = await self._price(name)
            if price is not None:
                actual = price.cost(
                    input=usage.input,
                    output=usage.output,
                    cached=usage.cached_input,
                    tier=tier_of(attempt.body),
                )
            if not attempt.request.url.endswith("/embeddings"):
                self._expected_output += (usage.output - self._expected_output) * 0.05
        budget.settle(reserved, actual)
        key = id(attempt.request)
        total = self._running.pop(key, 0.0) + actual
        if outcome.kind == "retry":
            self._running[key] = total
        if price is not None or total:
            attempt.cost = total
        return outcome

    async def _price(self, model: str | None) -> Price | None:
        """The model's price; a first lookup runs in a thread (the library loads in ~0.5 s)
        so the event loop, and every other request, never waits for it."""
        if self.book.known(model) or model is None:
            return self.book.price(model)
        lookup = self._lookups.get(model)
        if lookup is None:  # one lookup per model, however many requests wait for it
            lookup = self._lookups[model] = asyncio.ensure_future(
                asyncio.to_thread(self.book.price, model)
            )
        return await asyncio.shield(lookup)

    def _exhausted(self) -> None:
        if self._on_exhausted is not None:
            self._on_exhausted()
