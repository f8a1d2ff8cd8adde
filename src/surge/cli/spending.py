"""The cost, budget and cache parts of a ``surge run``: built from options, set up before it.

    extras = RunExtras.build(max_cost=5.0, cache_path="c.sqlite", prices_path=None,
                             endpoint=endpoint, stop=engine_stop)
    await extras.check_prices(input_path, requests)   # before anything is sent
    steps, listener = extras.steps, extras.meter
    print(extras.meter.describe()); print(extras.budget_message(resume_command))

With ``--max-cost``, every model in the input must have a price: the input is read once
(streaming, nothing sent) and an unknown model is a usage error naming it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field

from .._engine.attempt import Step
from .._engine.caching import CacheStep
from .._engine.costing import CostStep
from ..cache.sqlite import SqliteCache
from ..config import Endpoint
from ..cost.budget import Budget
from ..cost.meter import CostMeter
from ..cost.prices import PriceBook
from ..errors import ConfigError, InputError
from ..models import Request

__all__ = ["RunExtras"]


@dataclass(slots=True)
class RunExtras:
    book: PriceBook
    budget: Budget
    meter: CostMeter = field(default_factory=CostMeter)
    cache: SqliteCache | None = None
    steps: list[Step] = field(default_factory=list)
    stopped_by_budget: bool = False
    priced: bool = False

    @classmethod
    def build(
        cls,
        *,
        max_cost: float | None,
        cache_path: str | None,
        prices_path: str | None,
        endpoint: Endpoint,
        stop: Callable[[], None],
        priced: bool = True,
    ) -> RunExtras:
        """``priced=False`` (a quiet run without budget or prices file) skips pricing: loading
        the price library costs ~0.5 s of CPU, which nobody would see the result of."""
        extras = cls(book=PriceBook.load(prices_path), budget=Budget(max_cost))
        priced = priced or max_cost is not None or prices_path is not None

        def exhausted() -> None:
            if not extras.stopped_by_budget:
                extras.stopped_by_budget = True
                stop()

        if cache_path is not None:
            extras.cache = SqliteCache(cache_path)
            extras.steps.append(CacheStep(extras.cache, url_for=endpoint.url_for))
        extras.priced = priced
        if priced:
            # Off the critical path: the first request need not wait for ~0.5 s of loading
            # (the cost step looks prices up in a thread when an answer is in).
            extras.book.load_in_background()
            extras.steps.append(CostStep(extras.book, extras.budget, on_exhausted=exhausted))
        return extras

    async def check_prices(
        self, input_path: str, requests: AsyncIterable[Request | InputError]
    ) -> None:
        """With a budget, refuse to start when some model of the input has no price.

        ``requests`` reads the input once (its lines, or a table's rows), sending nothing.
        """
        if self.budget.limit is None:
            return
        if input_path == "-":
            raise ConfigError("--max-cost needs an input file (the models are checked first)")
        missing: dict[str, int] = {}
        async for item in requests:
            if not isinstance(item, Request):
                continue
            model = item.body.get("model")
            name = model if isinstance(model, str) else None
            # A first lookup may wait for the library to load: not on the event loop.
            known = self.book.known(name)
            price = (
                self.book.price(name) if known else await asyncio.to_thread(self.book.price, name)
            )
            if price is None:
                key = name or "(no model)"
                missing[key] = missing.get(key, 0) + 1
        if missing:
            names = ", ".join(f"{m} ({n} requests)" for m, n in sorted(missing.items()))
            raise ConfigError(
                f"--max-cost: no price known for {names}; give one with --prices FILE "
                '(JSON: {"MODEL": {"input": USD per 1M tokens, "output": USD per 1M tokens}})'
            )

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def progress_text(self) -> str:
        text = f"${self.meter.spent:,.4f}"
        if self.budget.limit is not None:
            text += f" of ${self.budget.limit:,.4f}"
        if self.meter.cache_hits:
            text += f" · cache hits {self.meter.cache_hits:,}"
        return text

    def budget_message(self, resume_command: str) -> str:
        """What was spent, and the command that continues with a higher budget."""
        limit = self.budget.limit or 0.0
        higher = max(limit * 2, self.budget.spent * 2, 0.01)
        command = _with_max_cost(resume_command, higher)
        return (
            f"surge: budget reached: spent ${self.budget.spent:,.4f} of ${limit:,.4f}; the next "
            "request could have gone over, so none was started. Finished results are in the "
            "output; continue (nothing is sent twice) with a higher budget, e.g.:\n"
            f"  {command}"
        )


def _with_max_cost(command: str, value: float) -> str:
    replacement = f"--max-cost {value:.2f}"
    new, count = re.subn(r"--max-cost(=|\s+)\S+", replacement, command)
    return new if count else f"{command} {replacement}"
