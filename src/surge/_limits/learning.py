"""What the server really charges, learned online (pure: readings in, a ratio out).

    ratio = ChargeRatio()
    ratio.reading(estimated=0, at=0.0, remaining=470_000, limit=480_000)
    ratio.reading(estimated=10_000, at=1.0, remaining=468_000, limit=480_000)
    ratio.value      # ~1.8: 10,000 estimated tokens cost 2,000 + 1 s of refill (8,000)

A provider charges its tokens limit from its own estimate, which is not surge's estimate
and not the bill: OpenAI counts about ``characters / 4`` plus ``max_tokens``; another
server may count real tokens. Two successive ``x-ratelimit-remaining-tokens`` readings
(ordered by when their requests left) tell what the server charged in between: the drop,
plus what its bucket refilled meanwhile (``limit / 60`` per second). Divided by what surge
estimated for the same requests, that is the ratio to scale every later estimate by.
Readings near a full bucket are skipped (a full bucket stops refilling, so the drop would
understate the charge), and so is any span with a refused request in it (not charged).
Without such headers, ``usage`` is the only measure: :meth:`sample` takes one request's.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import _constants as C

__all__ = ["ChargeRatio"]


@dataclass(frozen=True, slots=True)
class _Reading:
    estimated: float  # surge's estimates of everything sent up to this request, summed
    at: float  # when that request left
    remaining: float


class ChargeRatio:
    """``charged ≈ value × estimated``, per model, learned from headers or usage."""

    __slots__ = ("_anchor", "samples", "value")

    def __init__(self, value: float = 1.0) -> None:
        self.value = value
        self.samples = 0
        self._anchor: _Reading | None = None

    def __repr__(self) -> str:
        return f"ChargeRatio({self.value:.3f}, samples={self.samples})"

    def _learn(self, sample: float, weight: float) -> None:
        sample = min(max(sample, C.RATIO_MIN), C.RATIO_MAX)
        self.samples += 1
        # The first samples are averaged plainly; later ones move an exponential average.
        step = max(1.0 / self.samples, C.RATIO_SMOOTHING) * weight
        self.value += (sample - self.value) * min(step, 1.0)

    def reading(self, *, estimated: float, at: float, remaining: float, limit: float) -> None:
        """A response's ``remaining`` tokens; ``estimated`` counts up to its own request."""
        if remaining >= limit * C.RATIO_FULL_BUCKET:
            self._anchor = None
            return
        anchor = self._anchor
        if anchor is None:
            self._anchor = _Reading(estimated, at, remaining)
            return
        span = estimated - anchor.estimated
        if span <= 0:
            return  # an answer that overtook a later one: older than the anchor
        if span < limit / 60.0 * C.RATIO_MIN_SPAN:
            return  # too short to measure against the refill's timing noise
        charged = anchor.remaining - remaining + (at - anchor.at) * limit / 60.0
        self._anchor = _Reading(estimated, at, remaining)
        if charged > 0:
            self._learn(charged / span, 1.0)

    def sample(self, *, estimated: float, charged: float) -> None:
        """One request's estimate and what its ``usage`` says it was charged."""
        if estimated > 0 and charged > 0:
            self._learn(charged / estimated, C.RATIO_USAGE_WEIGHT)

    def interrupt(self) -> None:
        """A refused or failed request: the span since the last reading is not a charge."""
        self._anchor = None
