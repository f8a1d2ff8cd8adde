"""A refused request is not a refused rate: tell the two apart (pure, no clock, no I/O).

    log = RefusalLog()
    log.refused("stuck")         # True: a first refusal may be the rate; the limiter decides
    for _ in range(500):
        log.admitted()           # the server goes on admitting the others...
    log.refused("stuck")         # False: ...while it refuses this one request again

A server may refuse one request over and over (its content trips a filter, a proxy rule
matches it) with the same 429 its rate limit sends, often with no headers to tell them
apart. Taken as evidence of a rate limit, every one of those refusals would cut the pace
of everyone else. What tells them apart is what happens around the refusal: when the
*same* request is refused again while the server admitted others and refused (almost)
no one else since its last refusal, the rate was not what was refused. Its repeats then
neither cut the pace nor pause anyone (the request's own backoff still applies).

A first refusal cannot be judged this way; the limiter weighs it (see
:meth:`~.limiter.AdaptiveLimiter.limited`: with no pace at all, a lone refusal sets none).
Memory stays bounded: only the most recently refused requests are remembered, and one
that is admitted at last is forgotten.
"""

from __future__ import annotations

from .. import _constants as C

__all__ = ["RefusalLog"]


class RefusalLog:
    """Refusals and admissions of one (endpoint, model), by request id."""

    __slots__ = ("_last", "admissions", "keep", "refusals", "share")

    def __init__(
        self,
        *,
        share: float = C.REFUSED_REQUEST_SHARE,
        keep: int = C.REFUSED_REQUESTS_KEPT,
    ) -> None:
        self.admissions = 0  # answers not refused for their rate, ever
        self.refusals = 0  # rate-limit refusals, ever
        self.share = share
        self.keep = keep
        # request id -> (admissions, refusals) as they were right after its last refusal
        self._last: dict[str, tuple[int, int]] = {}

    def admitted(self, request: str | None = None) -> None:
        """An answer that was not a rate-limit refusal (of ``request``, if known)."""
        self.admissions += 1
        if self._last and request is not None:
            self._last.pop(request, None)

    def refused(self, request: str) -> bool:
        """A rate-limit 429 of ``request``: True if it may say something about the rate.

        False when this request was refused before and, since then, the server admitted
        others and refused at most ``share`` as many (this one excluded).
        """
        self.refusals += 1
        last = self._last.pop(request, None)
        self._last[request] = (self.admissions, self.refusals)
        if len(self._last) > self.keep:
            del self._last[next(iter(self._last))]  # the one refused longest ago
        if last is None:
            return True
        admitted = self.admissions - last[0]
        others_refused = self.refusals - 1 - last[1]
        return not (admitted >= 1 and others_refused <= self.share * admitted)

    def __repr__(self) -> str:
        return (
            f"RefusalLog(admissions={self.admissions}, refusals={self.refusals}, "
            f"remembered={len(self._last)})"
        )
