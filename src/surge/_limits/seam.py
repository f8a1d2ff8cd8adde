"""The seam between the gate and a limiter: what one (endpoint, model) limiter must do.

    ticket = await limiter.acquire(tokens=850)   # wait for the turn; reserve 850 x the ratio
    limiter.observe(headers, ticket)             # the server's limits and remaining quota
    limiter.answered(ticket, ticket.cost)        # not refused: measures, slow start
    limiter.limited("tokens", ticket)            # refused for its rate: slow down
    limiter.settle(reserved=ticket.cost, actual=612)
    limiter.release()

:class:`~.limiter.AdaptiveLimiter` is the in-process implementation; a shared one (Redis,
a Ray actor) implements the same few methods for each key, holding the same learned
numbers (the ceilings, the pace after a refusal, the token scale).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from .headers import RateLimitSnapshot

__all__ = ["KINDS", "Kind", "RateLimiter", "Ticket"]

Kind = Literal["requests", "tokens"]
KINDS: tuple[Kind, Kind] = ("requests", "tokens")


@dataclass(frozen=True, slots=True)
class Ticket:
    """What had been sent when a request left (its own cost included).

    A response's ``x-ratelimit-remaining-*`` counts everything the server admitted up to
    that request; what was sent *after* it is ``sent_now - ticket``, so the server's
    figure can be brought up to date exactly, however late the response arrives.
    """

    requests: int = 0
    tokens: int = 0
    at: float = 0.0  # when the request left (the limiter's clock)
    cost: int = 0  # the tokens this request reserved (its estimate, scaled)


class RateLimiter(Protocol):
    """The seam between the gate and any limiter implementation (one per endpoint and model)."""

    async def acquire(self, tokens: int) -> Ticket: ...

    def observe(
        self, headers: Mapping[str, str], ticket: Ticket | None = None
    ) -> RateLimitSnapshot | None: ...

    def answered(self, ticket: Ticket, tokens: int) -> None: ...

    def limited(self, kind: Kind | None, ticket: Ticket) -> None: ...

    def settle(self, reserved: int, actual: int, *, refused: bool = False) -> None: ...

    def scale_tokens(self, scale: float) -> None: ...

    def pause(self, seconds: float) -> None: ...

    def release(self) -> None: ...
