"""A rate budget shared by many clients: the pure model every shared limiter implements.

    budget = Budget()
    grant = budget.reserve("ep:gpt-4o", tokens=850, rpm=1200, tpm=None, now=t, horizon=0.1)
    if grant.granted:
        ...  # sleep grant.wait, then send
    else:
        ...  # nothing reserved: ask again in grant.wait seconds
    grants = budget.reserve_many("ep:gpt-4o", tokens=[850, 900], rpm=1200, tpm=None,
                                 now=t, horizon=0.1)     # a slice for several waiters at once
    budget.refund("ep:gpt-4o", requests=0, tokens=850 - 612, rpm=1200, tpm=None)  # real usage
    budget.pause("ep:gpt-4o", 2.5, now=t)                 # a 429's Retry-After, for everyone
    budget.learn("ep:gpt-4o", rpm=1200, tpm=None)         # the server's x-ratelimit-limit-*

One key per (endpoint, model). Requests and tokens are GCRA cells on one clock (the
budget's, never the clients'): ``tat`` is the theoretical arrival time of the next unit;
a request departs at ``start = max(now, pause, tat of each limit)`` and pushes each
``tat`` to ``start + cost / rate`` ("pay after", as the in-process :class:`Cell`).

A reservation is made only when its start is at most ``horizon`` seconds away; further
out, nothing is reserved and the client is told when to ask again. So the schedule never
holds more than ``horizon`` seconds of promises: a pause, a refund or a newly learned
limit applies to everything after that, and a client that dies holds almost nothing.

The rate of a call is ``min(configured, learned) * headroom / 60`` per second, where
``configured`` comes with each call (each client's own ``--rpm``/``--tpm``) and
``learned`` is shared: once one client has read the server's limit, everyone uses it.

This class is the reference: the Redis scripts (``redis_gate.py``) do the same
arithmetic server-side, and the Ray actor and the ``--workers`` limiter server hold one
instance of it. Pure: ``now`` is always an argument.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import _constants as C

__all__ = ["Budget", "Grant", "KeyState", "rate_per_second"]


@dataclass(frozen=True, slots=True)
class Grant:
    """The answer to a reservation.

    ``granted``: the request is booked and may leave after ``wait`` seconds; otherwise
    nothing is booked and the client asks again after ``wait`` seconds. ``rpm``/``tpm``
    are the limits learned from the server so far (0: none), ``paused`` the seconds left
    of a shared pause.
    """

    granted: bool
    wait: float
    rpm: float = 0.0
    tpm: float = 0.0
    paused: float = 0.0


@dataclass(slots=True)
class KeyState:
    tat_requests: float = 0.0
    tat_tokens: float = 0.0
    paused_until: float = 0.0
    learned_rpm: float = 0.0  # 0: not learned
    learned_tpm: float = 0.0


def rate_per_second(configured: float | None, learned: float, headroom: float) -> float:
    """Units per second for one limit (0: unlimited): the lower of configured and learned."""
    value = configured or 0.0
    if learned > 0 and (value <= 0 or learned < value):
        value = learned
    return value * headroom / 60.0 if value > 0 else 0.0


class Budget:
    """Every key's cells, in one place (an actor, a server process)."""

    def __init__(self, headroom: float = C.LIMIT_HEADROOM) -> None:
        self.headroom = headroom
        self.keys: dict[str, KeyState] = {}

    def _state(self, key: str) -> KeyState:
        state = self.keys.get(key)
        if state is None:
            state = self.keys[key] = KeyState()
        return state

    def _rates(self, state: KeyState, rpm: float | None, tpm: float | None) -> tuple[float, float]:
        return (
            rate_per_second(rpm, state.learned_rpm, self.headroom),
            rate_per_second(tpm, state.learned_tpm, self.headroom),
        )

    def reserve(
        self,
        key: str,
        *,
        tokens: int,
        rpm: float | None,
        tpm: float | None,
        now: float,
        horizon: float,
    ) -> Grant:
        state = self._state(key)
        rate_r, rate_t = self._rates(state, rpm, tpm)
        start = max(now, state.paused_until)
        if rate_r > 0:
            start = max(start, state.tat_requests)
        if rate_t > 0 and tokens > 0:
            start = max(start, state.tat_tokens)
        wait = start - now
        paused = max(0.0, state.paused_until - now)
        if wait > horizon:
            return Grant(False, wait - horizon, state.learned_rpm, state.learned_tpm, paused)
        if rate_r > 0:
            state.tat_requests = start + 1.0 / rate_r
        if rate_t > 0 and tokens > 0:
            state.tat_tokens = max(state.tat_tokens, start) + tokens / rate_t
        return Grant(True, wait, state.learned_rpm, state.learned_tpm, paused)

    def reserve_many(
        self,
        key: str,
        *,
        tokens: list[int],
        rpm: float | None,
        tpm: float | None,
        now: float,
        horizon: float,
    ) -> list[Grant]:
        """Book a slice: requests in order, up to the first one that does not fit in the
        horizon (its refusal is the last grant returned), in one atomic step."""
        grants: list[Grant] = []
        for cost in tokens:
            grant = self.reserve(key, tokens=cost, rpm=rpm, tpm=tpm, now=now, horizon=horizon)
            grants.append(grant)
            if not grant.granted:
                break
        return grants

    def refund(
        self, key: str, *, requests: int, tokens: int, rpm: float | None, tpm: float | None
    ) -> None:
        """Hand back ``requests`` slots and ``tokens`` (negative: charge more)."""
        state = self.keys.get(key)
        if state is None:
            return
        rate_r, rate_t = self._rates(state, rpm, tpm)
        if rate_r > 0 and requests:
            state.tat_requests -= requests / rate_r
        if rate_t > 0 and tokens:
            state.tat_tokens -= tokens / rate_t

    def pause(self, key: str, seconds: float, *, now: float) -> None:
        """Nothing starts for ``seconds``; afterwards the schedule goes on spaced out."""
        if not seconds > 0:
            return
        state = self._state(key)
        until = now + seconds
        state.paused_until = max(state.paused_until, until)
        state.tat_requests = max(state.tat_requests, until)
        state.tat_tokens = max(state.tat_tokens, until)

    def learn(self, key: str, *, rpm: float | None, tpm: float | None) -> None:
        """The server announced its limits (``None``: not announced, keep what is known)."""
        state = self._state(key)
        if rpm is not None and rpm > 0:
            state.learned_rpm = rpm
        if tpm is not None and tpm > 0:
            state.learned_tpm = tpm
