"""The service-tier step: ask for the flex tier, and fall back to the default one if told.

    step = ServiceTierStep("flex", FlexFallback(after=3))
    chain = compose([step, LimitStep(gate, stopping)], sender)

OpenAI's flex tier (``service_tier: "flex"``) costs half but answers 429 with the code
``resource_unavailable`` when capacity is short. That answer is neither billed nor a rate
limit: the gate leaves every pace alone and the request backs off on its own (the
sender's retry). With a :class:`~surge.config.FlexFallback`, once a request has had
``after`` such answers, or ``deadline`` seconds have passed since its first flex attempt,
its next attempt goes at the default tier. The request's output record says so under
``surge.service_tier`` (``{"requested": "flex", "used": "default", "unavailable": 3}``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._http.openai import error_from_response
from .._limits.gate import FLEX_UNAVAILABLE
from ..config import FlexFallback
from .attempt import Attempt, Next, Outcome

__all__ = ["ServiceTierStep"]


@dataclass(slots=True)
class _Track:
    first: float  # when the first flex attempt left
    unavailable: int = 0  # flex 429s so far
    fell_back: bool = False


class ServiceTierStep:
    """Set the tier on bodies that name none; count flex refusals; fall back when due."""

    def __init__(
        self,
        tier: str | None,
        fallback: FlexFallback | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tier = tier
        self._fallback = fallback
        self._clock = clock
        self._tracks: dict[int, _Track] = {}  # per request (by identity), while it runs

    async def __call__(self, attempt: Attempt, call_next: Next) -> Outcome:
        if self._tier is not None and "service_tier" not in attempt.body:
            attempt.body = {**attempt.body, "service_tier": self._tier}
        key = id(attempt.request)
        track = self._tracks.get(key)
        flex = attempt.body.get("service_tier") == "flex"
        if flex and track is None:
            track = self._tracks[key] = _Track(first=self._clock())
        try:
            outcome = await call_next(attempt)
        except BaseException:
            self._tracks.pop(key, None)
            raise
        if track is None:
            return outcome
        refused = flex and attempt.status == 429
        if refused and error_from_response(429, attempt.data).code == FLEX_UNAVAILABLE:
            track.unavailable += 1
        attempt.notes["service_tier"] = {
            "requested": "flex",
            "used": "default" if track.fell_back else "flex",
            "unavailable": track.unavailable,
        }
        if outcome.kind != "retry":
            del self._tracks[key]
            return outcome
        if flex and self._due(track):
            track.fell_back = True
            body: dict[str, Any] = {**(outcome.body or attempt.body), "service_tier": "default"}
            # A new request at another tier: nothing to back off from.
            return Outcome("retry", delay=0.0, reason=outcome.reason, body=body)
        return outcome

    def _due(self, track: _Track) -> bool:
        fallback = self._fallback
        if fallback is None or track.unavailable == 0:
            return False
        if fallback.after is not None and track.unavailable >= fallback.after:
            return True
        return fallback.deadline is not None and self._clock() - track.first >= fallback.deadline
