"""Build a shared gate from a ``--limiter`` address.

    gate = shared_gate("redis://localhost:6379/0", limits, endpoint)
    gate = shared_gate("redis://localhost:6379/0?fallback=local", limits, endpoint)

Addresses: ``redis://``, ``rediss://`` (TLS) and ``unix://`` (a Redis on a Unix socket)
go to :class:`RedisBackend`; ``surge+unix:///path`` to the limiter server that
``surge run --workers`` starts. ``?fallback=local`` keeps a run going on a local limiter,
with a warning, if the shared one becomes unreachable; by default the run stops.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..config import Endpoint, Limits
from ..errors import ConfigError
from .gate import Gate
from .shared_gate import BudgetBackend, SharedGate

__all__ = ["guarded", "opened_gate", "shared_gate", "split_fallback"]

T = TypeVar("T")

_REDIS_SCHEMES = ("redis", "rediss", "unix")


def split_fallback(url: str) -> tuple[str, bool]:
    """The address without surge's ``fallback`` query parameter, and whether it was set."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    fallback = False
    kept = []
    for name, value in query:
        if name == "fallback":
            if value not in ("local", "stop"):
                raise ConfigError(f"--limiter: fallback must be 'local' or 'stop', got {value!r}")
            fallback = value == "local"
        else:
            kept.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), fallback


def _backend(url: str) -> BudgetBackend:
    scheme = urlsplit(url).scheme
    if scheme in _REDIS_SCHEMES:
        try:
            from .redis_gate import RedisBackend
        except ImportError:
            raise ConfigError(
                "--limiter redis:// needs the redis package: pip install 'surge[redis]'"
            ) from None
        return RedisBackend.from_url(url)
    if scheme == "surge+unix":
        from .budget_server import SocketBackend

        return SocketBackend(urlsplit(url).path)
    shown = f"{scheme}://..." if scheme else "an address without a scheme"
    raise ConfigError(f"--limiter must be a redis://HOST:PORT/DB address, got {shown}")


def shared_gate(
    url: str, limits: Limits, endpoint: Endpoint, *, fallback: bool | None = None
) -> SharedGate:
    """A :class:`SharedGate` for ``url`` (not yet connected: ``await gate.open()``)."""
    address, url_fallback = split_fallback(url)
    return SharedGate(
        limits,
        _backend(address),
        endpoint=endpoint,
        fallback=url_fallback if fallback is None else fallback,
    )


@contextlib.asynccontextmanager
async def opened_gate(
    limiter: str | Gate | None, limits: Limits, endpoint: Endpoint
) -> AsyncIterator[Gate | None]:
    """The gate for ``limiter=``: an address is connected now (a wrong one fails before
    anything is sent) and closed after; a Gate object or None is passed through."""
    if not isinstance(limiter, str):
        yield limiter
        return
    gate = shared_gate(limiter, limits, endpoint)
    try:
        await gate.open()
        yield gate
    finally:
        await gate.aclose()


async def guarded(gate: Gate | None, stop: Callable[[], None], run: Awaitable[T]) -> T:
    """Await ``run``; if the shared limiter is lost meanwhile, ``stop`` launching, let the
    run drain, then raise :class:`LimiterError` (every request in flight is recorded)."""
    if not isinstance(gate, SharedGate):
        return await run
    unsubscribe = gate.on_failure(stop)
    try:
        result = await run
    finally:
        unsubscribe()
    gate.raise_if_failed()
    return result
