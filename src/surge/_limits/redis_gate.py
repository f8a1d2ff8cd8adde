"""The shared budget in Redis: ``--limiter redis://HOST:PORT/DB``.

    backend = RedisBackend.from_url("redis://localhost:6379/0")
    gate = SharedGate(limits, backend, endpoint=endpoint)

Each operation of :class:`surge._limits.budget.Budget` is one Lua script, run atomically
by Redis on Redis's own clock (``TIME``), so clients on different machines with skewed
clocks share one schedule. One hash per (endpoint, model) holds both cells, the shared
pause and the learned limits; it expires an hour after its last use.

Why not the ``limits`` library: its Redis strategies answer "may I take N now?" (a
boolean, fixed or moving windows); surge needs a *weighted reservation that returns the
wait* (so clients sleep instead of polling), a *refund* when the real usage is known, a
*pause* every client obeys, and *learned limits* stored next to the cells. Those are four
short scripts over the same two numbers, written against the Python reference in
``budget.py`` and tested against a real ``redis-server``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .. import _constants as C
from .budget import Grant
from .shared_gate import BudgetUnavailable

__all__ = ["RedisBackend"]

log = logging.getLogger(__name__)

_TTL_SECONDS = 3600

# The last argument of every script is a clock override for tests (0: Redis's TIME).
_PRELUDE = """
local now = tonumber(ARGV[#ARGV])
if now <= 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local s = redis.call('HMGET', KEYS[1], 'tat_r', 'tat_t', 'paused', 'lim_r', 'lim_t')
local tat_r = tonumber(s[1]) or 0
local tat_t = tonumber(s[2]) or 0
local paused = tonumber(s[3]) or 0
local lim_r = tonumber(s[4]) or 0
local lim_t = tonumber(s[5]) or 0
local function rate(conf, learned, headroom)
  local v = conf
  if learned > 0 and (v <= 0 or learned < v) then v = learned end
  if v <= 0 then return 0 end
  return v * headroom / 60
end
local function f(x) return string.format('%.6f', x) end
"""

# KEYS[1]; ARGV: rpm (0: none), tpm, headroom, horizon, ttl, n, tokens_1..tokens_n, clock.
# Books requests in order until one does not fit in the horizon; returns
# {lim_r, lim_t, paused_left, granted_1, wait_1, granted_2, wait_2, ...}.
_RESERVE = (
    _PRELUDE
    + """
local rate_r = rate(tonumber(ARGV[1]), lim_r, tonumber(ARGV[3]))
local rate_t = rate(tonumber(ARGV[2]), lim_t, tonumber(ARGV[3]))
local horizon = tonumber(ARGV[4])
local n = tonumber(ARGV[6])
local out = {f(lim_r), f(lim_t), f(math.max(0, paused - now))}
local booked = false
for i = 1, n do
  local tokens = tonumber(ARGV[6 + i])
  local start = math.max(now, paused)
  if rate_r > 0 then start = math.max(start, tat_r) end
  if rate_t > 0 and tokens > 0 then start = math.max(start, tat_t) end
  local wait = start - now
  if wait > horizon then
    table.insert(out, 0)
    table.insert(out, f(wait - horizon))
    break
  end
  if rate_r > 0 then tat_r = start + 1 / rate_r end
  if rate_t > 0 and tokens > 0 then tat_t = math.max(tat_t, start) + tokens / rate_t end
  table.insert(out, 1)
  table.insert(out, f(wait))
  booked = true
end
if booked then
  redis.call('HSET', KEYS[1], 'tat_r', f(tat_r), 'tat_t', f(tat_t))
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
end
return out
"""
)

# KEYS[1]; ARGV: requests, tokens (negative: charge more), rpm, tpm, headroom
_REFUND = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local rate_r = rate(tonumber(ARGV[3]), lim_r, tonumber(ARGV[5]))
local rate_t = rate(tonumber(ARGV[4]), lim_t, tonumber(ARGV[5]))
local requests = tonumber(ARGV[1])
local tokens = tonumber(ARGV[2])
if rate_r > 0 and requests ~= 0 then tat_r = tat_r - requests / rate_r end
if rate_t > 0 and tokens ~= 0 then tat_t = tat_t - tokens / rate_t end
redis.call('HSET', KEYS[1], 'tat_r', f(tat_r), 'tat_t', f(tat_t))
return 1
"""
)

# KEYS[1]; ARGV: seconds, ttl
_PAUSE = (
    _PRELUDE
    + """
if tonumber(ARGV[1]) <= 0 then return 0 end
local untl = now + tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'paused', f(math.max(paused, untl)),
  'tat_r', f(math.max(tat_r, untl)), 'tat_t', f(math.max(tat_t, untl)))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
)

# KEYS[1]; ARGV: rpm (0: unknown), tpm, ttl (no clock needed)
_LEARN = """
if tonumber(ARGV[1]) > 0 then redis.call('HSET', KEYS[1], 'lim_r', ARGV[1]) end
if tonumber(ARGV[2]) > 0 then redis.call('HSET', KEYS[1], 'lim_t', ARGV[2]) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


def _redact(url: str) -> str:
    """The URL without a password (``redis://:secret@host`` becomes ``redis://host``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class RedisBackend:
    """A :class:`BudgetBackend` on one Redis database (``redis.asyncio``)."""

    def __init__(
        self,
        client: Any,
        description: str,
        *,
        headroom: float = C.LIMIT_HEADROOM,
        clock: float | None = None,
    ):
        self._client = client
        self.description = description
        self._headroom = headroom
        self.clock = clock  # tests only: a fixed "now" instead of Redis's TIME
        self._reserve = client.register_script(_RESERVE)
        self._refund = client.register_script(_REFUND)
        self._pause = client.register_script(_PAUSE)
        self._learn = client.register_script(_LEARN)

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 5.0) -> RedisBackend:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry_on_timeout=False,
        )
        return cls(client, _redact(url))

    async def _call(self, script: Any, key: str, args: list[Any]) -> Any:
        import redis.exceptions

        try:
            return await script(keys=[key], args=[*args, self.clock or 0])
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as err:
            raise BudgetUnavailable(str(err) or type(err).__name__) from err
        except redis.exceptions.ResponseError as err:  # a script error, or not a Redis at all
            raise BudgetUnavailable(f"Redis refused the limiter script: {err}") from err

    async def open(self) -> None:
        import redis.exceptions

        try:
            await self._client.ping()
        except (redis.exceptions.RedisError, OSError) as err:
            raise BudgetUnavailable(str(err) or type(err).__name__) from err

    async def reserve_many(
        self,
        key: str,
        *,
        tokens: list[int],
        rpm: float | None,
        tpm: float | None,
        horizon: float,
    ) -> list[Grant]:
        args = [rpm or 0, tpm or 0, self._headroom, horizon, _TTL_SECONDS, len(tokens), *tokens]
        raw = await self._call(self._reserve, key, args)
        lim_r, lim_t, left = float(raw[0]), float(raw[1]), float(raw[2])
        return [
            Grant(bool(int(raw[i])), float(raw[i + 1]), lim_r, lim_t, left)
            for i in range(3, len(raw), 2)
        ]

    async def reserve(
        self, key: str, *, tokens: int, rpm: float | None, tpm: float | None, horizon: float
    ) -> Grant:
        """One request (a slice of one)."""
        (grant,) = await self.reserve_many(key, tokens=[tokens], rpm=rpm, tpm=tpm, horizon=horizon)
        return grant

    async def refund(
        self, key: str, *, requests: int, tokens: int, rpm: float | None, tpm: float | None
    ) -> None:
        await self._call(self._refund, key, [requests, tokens, rpm or 0, tpm or 0, self._headroom])

    async def pause(self, key: str, seconds: float) -> None:
        await self._call(self._pause, key, [seconds, _TTL_SECONDS])

    async def learn(self, key: str, *, rpm: float | None, tpm: float | None) -> None:
        await self._call(self._learn, key, [rpm or 0, tpm or 0, _TTL_SECONDS])

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except Exception as err:  # closing a dead connection must not mask the run's outcome
            log.debug("closing the Redis client: %s", err)
