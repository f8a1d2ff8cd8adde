"""The cache step: answer an attempt from the response cache, or store its success.

    steps = [CacheStep(SqliteCache("cache.sqlite"), url_for=endpoint.url_for), ...]

It sits outermost in the attempt pipeline (see ``attempt.py``), so a hit returns before
the budget and the rate limiter: it costs nothing, consumes no rate limit and sends
nothing. Only usable answers (``ok`` outcomes) are stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..cache.keys import cache_key
from ..cache.sqlite import SqliteCache
from .attempt import Attempt, Next, Outcome

__all__ = ["CacheStep"]

log = logging.getLogger(__name__)


class CacheStep:
    def __init__(self, cache: SqliteCache, *, url_for: Callable[[str], str]) -> None:
        self._cache = cache
        self._url_for = url_for

    def __repr__(self) -> str:
        return f"CacheStep({self._cache!r})"

    async def __call__(self, attempt: Attempt, call_next: Next) -> Outcome:
        key = cache_key(self._url_for(attempt.request.url), attempt.body)
        hit = self._cache.get(key)
        if isinstance(hit, dict):
            attempt.status = 200
            attempt.data = hit
            attempt.cached = True
            attempt.cost = 0.0
            return Outcome.ok()
        outcome = await call_next(attempt)
        if outcome.kind == "ok" and isinstance(attempt.data, dict):
            self._cache.put(key, attempt.data)
        return outcome
