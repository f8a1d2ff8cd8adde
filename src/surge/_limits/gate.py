"""The engine's one view of rate limiting: a lease per attempt.

    gate = LocalGate(Limits(rpm=3000, tpm=1_000_000))
    lease = await gate.acquire(request, body)        # waits for this attempt's turn
    ...send...
    gate.complete(lease, status=200, headers=resp_headers, body=parsed, pause=None)
    # or, when the attempt is never sent (a stop was requested meanwhile):
    gate.cancel(lease)

Everything about *how* a request is paced lives behind this seam: which limiter serves it
(one per endpoint and model, as providers limit each model separately), how many tokens
it is expected to cost, what the server's headers and ``usage`` correct, what a 429 means.
The engine only acquires, sends, and completes. ``pause`` is a server-directed wait (a
429's Retry-After): it holds the requests of the same limiter; a client-side backoff
belongs to the request alone. A 429 whose ``error_code`` is ``resource_unavailable`` (the
flex tier out of capacity) is no rate limit: it changes no pace and pauses no one; nor is
the same request refused again and again while the others are admitted
(:mod:`.refusals`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import _constants as C
from .._http.openai import error_from_response, usage_counts
from .._http.retry import is_permanent_429
from ..config import Limits
from ..models import Request
from .headers import RateLimitSnapshot, refused_limit
from .learning import ChargeRatio
from .limiter import AdaptiveLimiter
from .refusals import RefusalLog
from .seam import RateLimiter, Ticket
from .tokens import charged_tokens, provider_estimate

__all__ = ["FLEX_UNAVAILABLE", "Gate", "KeyState", "Lease", "LimitKey", "LocalGate"]

#: The error code of a flex-tier 429: capacity, not a rate limit, and not billed.
FLEX_UNAVAILABLE = "resource_unavailable"

LimitKey = tuple[str, str]  # (endpoint path, model)


@dataclass(slots=True)
class Lease:
    """One attempt's place in the schedule: what it reserved, and when it left."""

    tokens: int  # reserved: the provider-style estimate times the learned ratio
    ticket: Ticket
    body: dict[str, Any]  # the body sent: what the provider's charge depends on
    key: LimitKey = ("", "")  # which limiter serves it (one per endpoint and model)
    estimate: int = 0  # the provider-style estimate, unscaled
    estimated: int = 0  # estimates of this key's requests sent so far, this one included
    request_id: str = ""  # the request's custom_id: tells its repeated refusals apart


class Gate(Protocol):
    """What the engine needs from rate limiting (one lease per attempt)."""

    def warm(self) -> None:
        """Start slow set-up in the background; never blocks."""
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
        error_code: str | None = None,
    ) -> None:
        """The attempt has its answer (``status`` None: no answer, e.g. a reset).

        ``body`` is the parsed response (for ``usage``); ``pause`` a server-directed wait
        (a 429's Retry-After), or None; ``error_code`` the error body's code, if any.
        """
        ...


@dataclass(slots=True)
class KeyState:
    """What surge knows about one (endpoint, model): its limiter and learned numbers."""

    limiter: RateLimiter
    ratio: ChargeRatio = field(default_factory=ChargeRatio)
    expected_output: float = C.DEFAULT_EXPECTED_OUTPUT_TOKENS
    estimated: int = 0  # provider-style estimates of everything sent, summed
    token_headers: bool = False  # the server reports remaining tokens: it, not usage, rules
    refusals: RefusalLog = field(default_factory=RefusalLog)


def limit_key(request: Request, body: dict[str, Any]) -> LimitKey:
    model = body.get("model")
    return (request.url, model if isinstance(model, str) else "")


class LocalGate:
    """One process: an :class:`AdaptiveLimiter` per (endpoint, model), created on first use.

    ``limiter_factory`` makes the limiter of a new key (a shared implementation, e.g. one
    backed by Redis, plugs in here); the learned numbers per key are :class:`KeyState`.
    """

    def __init__(
        self,
        limits: Limits,
        *,
        limiter_factory: Callable[[LimitKey], RateLimiter] | None = None,
    ) -> None:
        self._limits = limits
        self._factory = limiter_factory or self._local_limiter
        self.keys: dict[LimitKey, KeyState] = {}

    def _local_limiter(self, key: LimitKey) -> RateLimiter:
        limits = self._limits
        return AdaptiveLimiter(
            rpm=limits.rpm,
            tpm=limits.tpm,
            # Nothing configured: let the server speak (headers, or not) before a crowd goes.
            probe_first=limits.rpm is None and limits.tpm is None,
            first_wave=C.FIRST_WAVE,
            max_in_flight=limits.concurrency,
        )

    def state(self, key: LimitKey) -> KeyState:
        state = self.keys.get(key)
        if state is None:
            state = self.keys[key] = KeyState(self._factory(key))
        return state

    def warm(self) -> None:
        """Nothing to load: the provider-style estimate needs no tokenizer."""

    async def acquire(self, request: Request, body: dict[str, Any]) -> Lease:
        key = limit_key(request, body)
        state = self.state(key)
        estimate = provider_estimate(body, expected_output=state.expected_output)
        ticket = await state.limiter.acquire(estimate)  # reserves it times the ratio
        state.estimated += estimate
        return Lease(ticket.cost, ticket, body, key, estimate, state.estimated, request.custom_id)

    def cancel(self, lease: Lease) -> None:
        limiter = self.state(lease.key).limiter
        limiter.release()
        limiter.settle(lease.tokens, 0, refused=True)

    def complete(
        self,
        lease: Lease,
        *,
        status: int | None,
        headers: Mapping[str, str] | None,
        body: Any,
        pause: float | None = None,
        error_code: str | None = None,
    ) -> None:
        state = self.state(lease.key)
        limiter = state.limiter
        snapshot = limiter.observe(headers, lease.ticket) if headers is not None else None
        limiter.release()
        tokens = lease.tokens
        if status == 429:
            state.ratio.interrupt()
            if error_code == FLEX_UNAVAILABLE or _permanent(body):
                # Capacity (flex), or a request no pace can admit (larger than the whole
                # limit, no credit left): no quota was used, and the pace is left alone;
                # a cut here would slow every other request for nothing.
                limiter.settle(tokens, 0, refused=True)
                limiter.answered(lease.ticket, 0)
                return
            if not state.refusals.refused(lease.request_id):
                # This request alone keeps being refused while the others are admitted:
                # not the rate. Its own backoff applies; no pace is cut, no one paused.
                limiter.settle(tokens, 0, refused=True)
                return
            # The server counted nothing, but the slot is not handed back: a refusal
            # means the schedule was too dense, and a refund would send the next request
            # into the same exhausted window at once (a cascade of 429s).
            limiter.settle(tokens, tokens)
            limiter.limited(refused_limit(body), lease.ticket)
            if pause is not None:
                limiter.pause(pause)
            return
        limiter.answered(lease.ticket, tokens)  # not refused for its rate, whatever it got
        state.refusals.admitted(lease.request_id)
        if status is None or status >= 400:
            # No answer, or an error: what the server counted is unknown (a 4xx is
            # usually refused before counting; a 5xx or reset may have been counted).
            limiter.settle(tokens, 0 if status is not None and status < 500 else tokens)
            state.ratio.interrupt()
            return
        self._learn_from_headers(state, lease, snapshot)
        usage = usage_counts(body)
        if usage is None:
            limiter.settle(tokens, tokens)
            return
        # Exponential moving average: adapts within ~20 answers, cheap on the hot path.
        state.expected_output += (usage.output - state.expected_output) * 0.05
        if state.token_headers:
            limiter.settle(tokens, tokens)  # the bill is not the rate limit's charge
            return
        charged = charged_tokens(lease.body, prompt=usage.input, completion=usage.output)
        self._rescale(state, lambda: state.ratio.sample(estimated=lease.estimate, charged=charged))
        limiter.settle(tokens, charged)

    def _learn_from_headers(
        self, state: KeyState, lease: Lease, snapshot: RateLimitSnapshot | None
    ) -> None:
        tokens = snapshot.tokens if snapshot is not None else None
        if tokens is None or tokens.remaining is None or not tokens.limit:
            return
        state.token_headers = True
        remaining, limit = tokens.remaining, tokens.limit
        self._rescale(
            state,
            lambda: state.ratio.reading(
                estimated=lease.estimated, at=lease.ticket.at, remaining=remaining, limit=limit
            ),
        )

    @staticmethod
    def _rescale(state: KeyState, learn: Callable[[], None]) -> None:
        learn()
        state.limiter.scale_tokens(state.ratio.value)


def _permanent(body: Any) -> bool:
    """A 429 that waiting cannot fix ("Request too large", ``insufficient_quota``)."""
    error = error_from_response(429, body)
    return is_permanent_429(error.code, error.message)
