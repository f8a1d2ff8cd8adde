"""What a run will cost and how long it will take, before anything is sent.

    estimate = Estimator(PriceBook(), expected_output=256)
    for request in requests:
        estimate.add(request)
    estimate.result.cost["batch"], wall_time(estimate.result, rpm=500, tpm=200_000,
                                             concurrency=50, latency=2.0)

Input tokens are counted exactly with the model's vocabulary (offline). Output tokens are
each request's declared ``max_tokens`` (or its newer names) when it has one, else
``expected_output``; a provider's rate limiter charges the same sum, so the wall time
uses it too. Costs are given for the three ways to send: online, flex (every request with
``service_tier: "flex"``) and the Batch API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .._limits.tokens import TokenCounter, encoding_for_model, expected_output_tokens
from ..models import Request
from .prices import PriceBook, Tier, tier_of

__all__ = ["Estimate", "Estimator", "wall_time"]


@dataclass(slots=True)
class Estimate:
    requests: int = 0
    invalid: int = 0  # input lines that cannot be sent (recorded as errors)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: dict[str, float] = field(
        default_factory=lambda: {"online": 0.0, "flex": 0.0, "batch": 0.0}
    )
    unpriced: dict[str, int] = field(default_factory=dict)  # model -> requests without a price
    models: dict[str, int] = field(default_factory=dict)

    @property
    def priced(self) -> bool:
        return not self.unpriced

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "invalid_lines": self.invalid,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "models": dict(self.models),
            "cost_usd": {k: round(v, 6) for k, v in self.cost.items()} if self.priced else None,
            "cost_usd_priced_part": {k: round(v, 6) for k, v in self.cost.items()},
            "unpriced_models": dict(self.unpriced),
        }


class Estimator:
    """Accumulates an :class:`Estimate` one request at a time (constant memory)."""

    def __init__(
        self,
        book: PriceBook,
        *,
        expected_output: int,
        counter: TokenCounter | None = None,
    ) -> None:
        self.book = book
        self.expected_output = expected_output
        self.counter = counter or TokenCounter()
        self.result = Estimate()
        self._loaded: set[str] = set()

    def __repr__(self) -> str:
        return f"Estimator({self.result.requests} requests)"

    def add(self, request: Request) -> None:
        body = request.body
        model = body.get("model") if isinstance(body.get("model"), str) else None
        encoding = encoding_for_model(model)
        if encoding not in self._loaded:
            self.counter.load(encoding)  # exact counts: the estimate is not in a hurry
            self._loaded.add(encoding)
        prompt = self.counter.prompt_tokens(body)
        declared = expected_output_tokens(body)
        n = body.get("n")
        choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
        output = (declared if declared is not None else self.expected_output) * choices
        if request.url.endswith("/embeddings"):
            output = 0
        est = self.result
        est.requests += 1
        est.input_tokens += prompt
        est.output_tokens += output
        key = model or "(no model)"
        est.models[key] = est.models.get(key, 0) + 1
        price = self.book.price(model)
        if price is None:
            est.unpriced[key] = est.unpriced.get(key, 0) + 1
            return
        tier: Tier = tier_of(body)
        est.cost["online"] += price.cost(input=prompt, output=output, tier=tier)
        est.cost["flex"] += price.cost(input=prompt, output=output, tier="flex")
        est.cost["batch"] += price.cost(input=prompt, output=output, tier="batch")


def wall_time(
    est: Estimate,
    *,
    rpm: float | None,
    tpm: float | None,
    concurrency: int,
    latency: float,
) -> float:
    """Seconds an online run should take: the slowest of the three limits.

    Requests per minute, tokens per minute (prompt + output budget, as providers count),
    and ``concurrency`` requests in flight, each taking ``latency`` seconds.
    """
    if est.requests == 0:
        return 0.0
    bounds = [est.requests * latency / max(concurrency, 1)]
    if rpm:
        bounds.append(est.requests / rpm * 60.0)
    if tpm:
        bounds.append((est.input_tokens + est.output_tokens) / tpm * 60.0)
    return max(bounds) if all(math.isfinite(b) for b in bounds) else math.inf
