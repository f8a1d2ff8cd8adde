"""Which fault an attempt meets, and how long it takes: seeded, order-independent draws.

Example::

    counter = AttemptCounter()
    key = body_key(b'{"model": "m", ...}')
    plan = plan_attempt(cfg, key, counter.next(key), completion_tokens=12)
    plan.fault, plan.delay                  # e.g. ("error_503", 0.0) or (None, 0.31)

Draws hash ``(seed, body digest, n)`` where ``n`` counts earlier admitted attempts of the
same body, so a run is reproducible under any concurrency or arrival order, and a retry of
a request gets a fresh (still deterministic) draw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .config import FAULT_KINDS, SimConfig
from .content import unit_float


def body_key(body: bytes) -> str:
    """A short digest of a raw request body."""
    return hashlib.blake2b(body, digest_size=8).hexdigest()


class AttemptCounter:
    """How many times each distinct body was admitted so far.

    Example::

        c = AttemptCounter()
        c.next("k"), c.next("k"), c.next("other")   # (0, 1, 0)
    """

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def next(self, key: str) -> int:
        n = self._seen.get(key, 0)
        self._seen[key] = n + 1
        return n

    def clear(self) -> None:
        self._seen.clear()

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(frozen=True, slots=True)
class Plan:
    """What happens to one admitted attempt."""

    fault: str | None  # None, "fail_first", or one of FAULT_KINDS
    delay: float  # seconds before answering (slow_start adds its own wait on top)


def choose_fault(cfg: SimConfig, key: str, attempt: int) -> str | None:
    """The fault for the ``attempt``-th admitted attempt of body ``key``, if any."""
    if attempt < cfg.fail_first:
        return "fail_first"
    if cfg.fault_total <= 0:
        return None
    u = unit_float("fault", cfg.seed, key, attempt)
    edge = 0.0
    for kind in FAULT_KINDS:
        edge += getattr(cfg, kind)
        if u < edge:
            return kind
    return None


def answer_delay(cfg: SimConfig, key: str, attempt: int, completion_tokens: int) -> float:
    """Seconds of simulated model time: fixed part with jitter, plus per output token."""
    delay = cfg.latency + cfg.per_token_latency * completion_tokens
    if cfg.latency_jitter > 0:
        delay += cfg.latency_jitter * (2.0 * unit_float("latency", cfg.seed, key, attempt) - 1.0)
    return max(delay, 0.0)


def plan_attempt(cfg: SimConfig, key: str, attempt: int, completion_tokens: int) -> Plan:
    return Plan(choose_fault(cfg, key, attempt), answer_delay(cfg, key, attempt, completion_tokens))
