"""Cost and cache hits as they accrue, for progress displays and summaries (a listener).

    meter = CostMeter()
    await surge.amap(prompts, on_event=meter)      # or Engine(..., listeners=(meter,))
    meter.spent, meter.cache_hits, meter.billed_failures

The meter only listens: it adds up the cost each finished result carries (every billed
attempt of that request, failed ones included, as the pricing step recorded it) and
counts results answered from the response cache. It never steers the run.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..events import Event, RequestFinished

__all__ = ["CostMeter"]


@dataclass(slots=True)
class CostMeter:
    spent: float = 0.0  # USD, every billed attempt
    priced: int = 0  # results whose cost is known
    unpriced: int = 0  # results of models without a price
    cache_hits: int = 0
    billed_failures: float = 0.0  # USD spent on requests that still failed

    def __call__(self, event: Event) -> None:
        if not isinstance(event, RequestFinished):
            return
        result = event.result
        if result.cached:
            self.cache_hits += 1
        if result.cost is None:
            if not result.cached and result.usage is not None:
                self.unpriced += 1  # it was billed, but at a price nobody knows
            return
        self.priced += 1
        self.spent += result.cost
        if not result.ok:
            self.billed_failures += result.cost

    def describe(self) -> str:
        """One line for a summary: "cost $0.0123 (failed but billed $0.0001) · 40 cache hits"."""
        parts = [f"cost ${self.spent:,.4f}"]
        if self.billed_failures:
            parts[0] += f" (failed but billed ${self.billed_failures:,.4f})"
        if self.unpriced:
            parts.append(f"{self.unpriced} results of models without a price")
        if self.cache_hits:
            parts.append(f"{self.cache_hits} cache hits (free, not sent)")
        return " · ".join(parts)
