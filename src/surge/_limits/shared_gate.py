"""A :class:`Gate` whose budget lives outside this process (Redis, a Ray actor, a server).

    gate = SharedGate(Limits(rpm=1200), RedisBackend.from_url("redis://localhost:6379/0"),
                      endpoint=Endpoint(base_url=url, api_key=key))
    await gate.open()                       # reach the budget now: a bad URL fails early
    lease = await gate.acquire(request, body)
    gate.complete(lease, status=200, headers=h, body=parsed)
    await gate.aclose()

Every process (or Ray actor) pointed at the same budget shares one key's limits: the key
is (a hash of the endpoint and API key, the model), so no secret ever reaches a key name.
The gate estimates each request's tokens as :class:`LocalGate` does, asks the budget for
a reservation (see :mod:`.budget`), sleeps the wait it is given, and afterwards settles:
real usage refunds the estimate, a 429 hands its slot back and pauses everyone for its
Retry-After, the server's ``x-ratelimit-limit-*`` is shared as the learned limit.

Within one process, requests queue per key in FIFO order and one task books them in
slices: a call books every queued request that fits in the next ``HORIZON`` seconds, so a
thousand waiting requests cost one round trip per slice, and a refusal says how long to
wait: nothing polls.

If the budget becomes unreachable, the gate stops the run (the callbacks given to
:meth:`on_failure` are called, e.g. ``engine.request_stop``) and :meth:`raise_if_failed`
raises :class:`LimiterError` once the run has drained; with ``fallback=True`` it warns
and goes on with a local limiter instead (this process alone then paces to the limits).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .. import _constants as C
from .._http.openai import usage_counts
from ..config import Endpoint, Limits
from ..errors import LimiterError
from ..models import Request
from .budget import Grant
from .gate import FLEX_UNAVAILABLE, Lease, LimitKey, LocalGate, limit_key
from .headers import parse_headers
from .seam import Ticket
from .tokens import charged_tokens, provider_estimate

__all__ = ["BudgetBackend", "BudgetUnavailable", "SharedGate", "endpoint_id"]

log = logging.getLogger(__name__)

# Reservations are made at most this far ahead of their start (see budget.py).
HORIZON = 0.1
# With no limit known anywhere, the budget is asked for news (a learned limit, a pause)
# at most this often instead of on every request.
IDLE_SYNC_INTERVAL = 0.25
# Shared leases carry no local ticket; these two tell a booked slot from none at all.
_BOOKED = Ticket()
_UNBOOKED = Ticket(at=-1.0)


# At most this many queued requests are booked in one call.
SLICE = 64


@dataclass(slots=True)
class _Waiter:
    tokens: int
    future: asyncio.Future[Grant]


class BudgetUnavailable(Exception):
    """The shared budget could not be reached (raised by backends)."""


class BudgetBackend(Protocol):
    """Where the shared budget lives; every call is one atomic step on its clock."""

    description: str  # for messages: "redis://host:6379/0" (never a password)

    async def open(self) -> None: ...

    async def reserve_many(
        self,
        key: str,
        *,
        tokens: list[int],
        rpm: float | None,
        tpm: float | None,
        horizon: float,
    ) -> list[Grant]:
        """Book requests (their token costs, in order) until one does not fit."""
        ...

    async def refund(
        self, key: str, *, requests: int, tokens: int, rpm: float | None, tpm: float | None
    ) -> None: ...

    async def pause(self, key: str, seconds: float) -> None: ...

    async def learn(self, key: str, *, rpm: float | None, tpm: float | None) -> None: ...

    async def close(self) -> None: ...


def endpoint_id(endpoint: Endpoint) -> str:
    """A short stable name for (base URL, API key): limits belong to a key on an endpoint."""
    raw = f"{endpoint.resolved_base_url()}\0{endpoint.resolved_api_key() or ''}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


class SharedGate:
    """The engine's gate, backed by a :class:`BudgetBackend` shared with other processes."""

    def __init__(
        self,
        limits: Limits,
        backend: BudgetBackend,
        *,
        endpoint: Endpoint,
        fallback: bool = False,
    ) -> None:
        self._limits = limits
        self._backend = backend
        self._prefix = f"surge:{endpoint_id(endpoint)}"
        self._fallback = fallback
        self._expected_output: float = C.DEFAULT_EXPECTED_OUTPUT_TOKENS
        self._waiting: dict[str, deque[_Waiter]] = {}
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._learned: dict[str, tuple[float, float]] = {}  # key -> (rpm, tpm) as last seen
        self._quiet_until: dict[str, float] = {}  # key -> no news needed before (monotonic)
        self._tasks: set[asyncio.Task[None]] = set()
        self._local: LocalGate | None = None
        self._failure: LimiterError | None = None
        self._on_failure: list[Callable[[], None]] = []

    @property
    def description(self) -> str:
        return self._backend.description

    # -- life cycle -------------------------------------------------------------------
    async def open(self) -> None:
        """Reach the budget now, so that a wrong address fails before anything is sent."""
        try:
            await self._backend.open()
        except BudgetUnavailable as err:
            raise LimiterError(
                f"cannot reach the shared limiter {self.description}: {err}"
            ) from None

    async def aclose(self) -> None:
        for pump in self._pumps.values():
            pump.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._backend.close()

    def on_failure(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (e.g. ``engine.request_stop``) if the budget becomes unreachable.

        Returns a function that unsubscribes it (a gate may outlive one run).
        """
        self._on_failure.append(callback)
        return lambda: self._on_failure.remove(callback)

    @property
    def failure(self) -> LimiterError | None:
        return self._failure

    def raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _fail(self, err: BaseException) -> None:
        if self._failure is not None or self._local is not None:
            return
        if self._fallback:
            log.warning(
                "shared limiter %s unreachable (%s); going on with a local limiter: "
                "this process alone now paces to the limits",
                self.description,
                err,
            )
            self._local = LocalGate(self._limits)
            return
        self._failure = LimiterError(
            f"the shared limiter {self.description} became unreachable ({err}); "
            "stopped launching requests (requests in flight were finished and recorded)"
        )
        log.error("%s", self._failure)
        for callback in self._on_failure:
            callback()

    # -- Gate ----------------------------------------------------------------------------
    def warm(self) -> None:
        """Nothing to load: the provider-style estimate needs no tokenizer."""

    def _key(self, key: LimitKey) -> str:
        """The budget's name for (endpoint path, model): no secret, one per model."""
        path, model = key
        return f"{self._prefix}:{path}:{model}"

    def _tracks_tokens(self, key: str) -> bool:
        return bool(self._limits.tpm) or self._learned.get(key, (0.0, 0.0))[1] > 0

    def _estimate(self, key: str, body: dict[str, Any]) -> int:
        if not self._tracks_tokens(key):
            return 0
        return provider_estimate(body, expected_output=self._expected_output)

    def _limited(self, key: str) -> bool:
        rpm, tpm = self._learned.get(key, (0.0, 0.0))
        return bool(self._limits.rpm or self._limits.tpm or rpm or tpm)

    async def acquire(self, request: Request, body: dict[str, Any]) -> Lease:
        if self._local is not None:
            return await self._local.acquire(request, body)
        lease_key = limit_key(request, body)
        key = self._key(lease_key)
        if self._failure is not None:
            return self._unreserved(lease_key, body)
        if not self._limited(key) and time.monotonic() < self._quiet_until.get(key, 0.0):
            return self._unreserved(lease_key, body)  # no limit anywhere, no news is due
        tokens = self._estimate(key, body)
        try:
            grant = await self._reserve(key, tokens)
        except BudgetUnavailable as err:
            self._fail(err)
            if self._local is not None:
                return await self._local.acquire(request, body)
            if not self._on_failure:
                raise self._failure from None  # type: ignore[misc]
            return self._unreserved(lease_key, body)
        if grant.wait > 0:
            log.debug("shared limiter: waiting %.3fs (tokens=%d)", grant.wait, tokens)
            await asyncio.sleep(grant.wait)
        return Lease(tokens, _BOOKED, body, lease_key, tokens)

    def _unreserved(self, key: LimitKey, body: dict[str, Any]) -> Lease:
        return Lease(0, _UNBOOKED, body, key)

    @staticmethod
    def _shared(lease: Lease) -> bool:
        return lease.ticket is _BOOKED or lease.ticket is _UNBOOKED

    async def _reserve(self, key: str, tokens: int) -> Grant:
        """Queue for this key's slice pump; return this request's grant (already booked)."""
        waiter = _Waiter(tokens, asyncio.get_running_loop().create_future())
        self._waiting.setdefault(key, deque()).append(waiter)
        pump = self._pumps.get(key)
        if pump is None or pump.done():
            self._pumps[key] = asyncio.get_running_loop().create_task(self._pump(key))
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._refund(key, 1, tokens)  # booked, then abandoned: hand it back
            raise

    async def _pump(self, key: str) -> None:
        """Book slices for the queue's head, in order; sleep only when the head must wait.

        One call books every queued request that fits in the horizon (at most
        ``SLICE`` of them), so a process pays one round trip per slice, not per request.
        """
        queue = self._waiting[key]
        while queue:
            while queue and queue[0].future.done():  # cancelled while queued
                queue.popleft()
            batch = [w for w in itertools.islice(queue, SLICE) if not w.future.done()]
            if not batch:
                continue
            try:
                if self._failure is not None or self._local is not None:
                    # Lost while these requests queued: do not wait for another timeout.
                    raise BudgetUnavailable("lost earlier in this run")
                grants = await self._backend.reserve_many(
                    key,
                    tokens=[w.tokens for w in batch],
                    rpm=self._limits.rpm,
                    tpm=self._limits.tpm,
                    horizon=HORIZON,
                )
            except Exception as err:  # whatever went wrong, the budget cannot be asked
                lost = err if isinstance(err, BudgetUnavailable) else BudgetUnavailable(repr(err))
                while queue:
                    waiter = queue.popleft()
                    if not waiter.future.done():
                        waiter.future.set_exception(lost)
                return
            self._remember(key, grants[-1])
            for waiter, grant in zip(batch, grants, strict=False):
                if not grant.granted:
                    # Come back when half a horizon of slots is in reach, not just one:
                    # the next call then books a slice (the head's slot is still ahead).
                    log.debug("shared limiter: next slot in %.3fs", grant.wait)
                    await asyncio.sleep(grant.wait + HORIZON / 2)
                    break
                queue.remove(waiter)
                if waiter.future.done():  # cancelled meanwhile: its slot goes back
                    self._refund(key, 1, waiter.tokens)
                else:
                    waiter.future.set_result(grant)

    def _remember(self, key: str, grant: Grant) -> None:
        self._learned[key] = (grant.rpm, grant.tpm)
        self._quiet_until[key] = time.monotonic() + max(IDLE_SYNC_INTERVAL, grant.paused)

    def cancel(self, lease: Lease) -> None:
        if not self._shared(lease):
            if self._local is not None:
                self._local.cancel(lease)
            return
        if lease.ticket is _BOOKED and self._failure is None:
            self._refund(self._key(lease.key), 1, lease.tokens)

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
        if not self._shared(lease):
            if self._local is not None:
                self._local.complete(
                    lease,
                    status=status,
                    headers=headers,
                    body=body,
                    pause=pause,
                    error_code=error_code,
                )
            return
        if self._failure is not None or self._local is not None:
            return
        key = self._key(lease.key)
        if headers is not None:
            self._learn(key, headers)
        tokens = lease.tokens
        if status is not None and status < 300:
            usage = usage_counts(body)
            if usage is None:
                return
            self._expected_output += (usage.output - self._expected_output) * 0.05
            if tokens:
                charged = charged_tokens(lease.body, prompt=usage.input, completion=usage.output)
                if charged != tokens:
                    self._refund(key, 0, tokens - charged)
        elif status == 429:
            if error_code == FLEX_UNAVAILABLE:
                # Capacity, not a rate limit: nothing was used, nobody pauses.
                if lease.ticket is _BOOKED:
                    self._refund(key, 1, tokens)
                return
            # As LocalGate: the slot is not handed back (a refusal means the schedule was
            # too dense; a refund would send the next request into the same window), and
            # the server's Retry-After pauses every process sharing the key.
            if pause is not None and pause > 0:
                self._quiet_until[key] = time.monotonic() + pause
                self._spawn(self._backend.pause(key, pause))

    def _learn(self, key: str, headers: Mapping[str, str]) -> None:
        snapshot = parse_headers(headers)
        if snapshot is None:
            return
        rpm = snapshot.requests.limit if snapshot.requests is not None else None
        tpm = snapshot.tokens.limit if snapshot.tokens is not None else None
        known_rpm, known_tpm = self._learned.get(key, (0.0, 0.0))
        if (rpm and rpm != known_rpm) or (tpm and tpm != known_tpm):
            self._learned[key] = (rpm or known_rpm, tpm or known_tpm)
            self._spawn(self._backend.learn(key, rpm=rpm, tpm=tpm))

    def _refund(self, key: str, requests: int, tokens: int) -> None:
        if not (requests or tokens):
            return
        self._spawn(
            self._backend.refund(
                key, requests=requests, tokens=tokens, rpm=self._limits.rpm, tpm=self._limits.tpm
            )
        )

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        async def guarded() -> None:
            try:
                await coro
            except BudgetUnavailable as err:
                self._fail(err)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def __repr__(self) -> str:
        state = "failed" if self._failure else "local fallback" if self._local else "shared"
        return f"SharedGate({self.description}, {state}, pending={len(self._tasks)})"
