"""A hard spending limit: reserve before sending, settle once the answer says what it cost.

    budget = Budget(limit=5.00)
    if budget.try_reserve(0.002):         # False: this request would break the limit
        ...send...
        budget.settle(0.002, actual=0.0017)
    budget.spent, budget.reserved, budget.refused

A request may start only if ``spent + reserved + its reservation <= limit``: the
reservation is its worst case (input tokens plus its ``max_tokens``, or the output length
learned so far), so requests in flight can never push the total over. Pure arithmetic:
no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Budget"]

_EPSILON = 1e-12  # float noise must not refuse a request that fits exactly


@dataclass(slots=True)
class Budget:
    limit: float | None = None  # USD; None: no limit, only accounting
    spent: float = 0.0
    reserved: float = 0.0
    refused: int = 0  # requests not started because they would not fit

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"a budget must be >= 0 USD, got {self.limit}")

    def fits(self, amount: float) -> bool:
        return self.limit is None or self.spent + self.reserved + amount <= self.limit + _EPSILON

    def try_reserve(self, amount: float) -> bool:
        """Hold ``amount`` for a request about to start; False (and nothing held) if it does not fit."""
        if not self.fits(amount):
            self.refused += 1
            return False
        self.reserved += amount
        return True

    def settle(self, reserved: float, actual: float) -> None:
        """A request ended: release what it held and count what it really cost."""
        self.reserved = max(self.reserved - reserved, 0.0)
        self.spent += actual

    @property
    def remaining(self) -> float | None:
        return None if self.limit is None else max(self.limit - self.spent, 0.0)
