"""The engine's one view of rate limiting: a lease per attempt.

    gate = LocalGate(Limits(rpm=3000, tpm=1_000_000))
    lease = await gate.acquire(request, body)        # waits for this attempt's turn
    ...send...
    gate.complete(lease, status=200, headers=resp_headers, body=parsed, pause=None)
    # or, when the attempt is never sent (a stop was requested meanwhile):
    gate.cancel(lease)

Everything about *how* a request is paced lives behind this seam: which limiter serves it,
how many tokens it is expected to cost, what the server's headers and ``usage`` correct,
what a 429 means for everyone else. The engine only acquires, sends, and completes.
``pause`` is a server-directed wait (a 429's Retry-After): the one thing allowed to hold
every other request; a client-side backoff belongs to the request alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .. import _constants as C
from .._http.openai import usage_counts
from ..config import Limits
from ..models import Request
from .limiter import AdaptiveLimiter, RateLimiter, Ticket
from .tokens import TokenCounter, charged_tokens, estimate_cost

__all__ = ["Gate", "Lease", "LocalGate"]


@dataclass(slots=True)
class Lease:
    """One attempt's place in the schedule: what it reserved, and when it left."""

    tokens: int
    ticket: Ticket
    body: dict[str, Any]  # the body sent: what the provider's charge depends on
    key: str = ""  # which limiter serves it (one per endpoint and model)


class Gate(Protocol):
    """What the engine needs from rate limiting (one lease per attempt)."""

    def warm(self) -> None:
        """Start slow set-up (a tokenizer) in the background; never blocks."""
        ...

    async def acquire(self, request: Request, body: dict[str, Any]) -> Lease:
        """Wait until this attempt (with this body) may be sent; reserve its cost."""
        ...

    def cancel(self, lease: Lease) -> None:
        """The attempt was never sent: hand its reservation back."""
        ...

    def complete(
        self,
        lease: Lease,
        *,
        status: int | None,
        headers: Mapping[str, str] | None,
        body: Any,
        pause: float | None = None,
    ) -> None:
        """The attempt has its answer (``status`` None: no answer, e.g. a reset).

        ``body`` is the parsed response (for ``usage``); ``pause`` a server-directed wait
        that holds every request (a 429's Retry-After), or None.
        """
        ...


class LocalGate:
    """One process, one :class:`AdaptiveLimiter` for the RPM and TPM of the endpoint."""

    def __init__(
        self,
        limits: Limits,
        *,
        limiter: RateLimiter | None = None,
        counter: TokenCounter | None = None,
    ) -> None:
        self.limiter: RateLimiter = limiter or AdaptiveLimiter(rpm=limits.rpm, tpm=limits.tpm)
        self._tokens = counter or TokenCounter()
        self._expected_output: float = C.DEFAULT_EXPECTED_OUTPUT_TOKENS

    def warm(self) -> None:
        if getattr(self.limiter, "tracks_tokens", False):
            self._tokens.warm()

    def _estimate(self, body: dict[str, Any]) -> int:
        if not getattr(self.limiter, "tracks_tokens", True):
            return 0
        prompt = self._tokens.prompt_tokens(body)
        return estimate_cost(body, prompt=prompt, expected_output=self._expected_output)

    async def acquire(self, request: Request, body: dict[str, Any]) -> Lease:
        tokens = self._estimate(body)
        ticket = await self.limiter.acquire(tokens)
        return Lease(tokens, ticket, body)

    def cancel(self, lease: Lease) -> None:
        self.limiter.release()
        self.limiter.settle(lease.tokens, 0, refused=True)

    def complete(
        self,
        lease: Lease,
        *,
        status: int | None,
        headers: Mapping[str, str] | None,
        body: Any,
        pause: float | None = None,
    ) -> None:
        limiter = self.limiter
        if headers is not None:
            limiter.observe(headers, lease.ticket)
        limiter.release()
        tokens = lease.tokens
        if status is not None and status < 300:
            usage = usage_counts(body)
            if usage is None:
                limiter.settle(tokens, tokens)
                return
            # Exponential moving average: adapts within ~20 answers, cheap on the hot path.
            self._expected_output += (usage.output - self._expected_output) * 0.05
            charged = charged_tokens(lease.body, prompt=usage.input, completion=usage.output)
            limiter.settle(tokens, charged if tokens else 0)
        elif status == 429:
            limiter.settle(tokens, 0, refused=True)  # a refused request costs no quota
            if pause is not None:
                limiter.pause(pause)
        else:
            limiter.settle(tokens, tokens)
