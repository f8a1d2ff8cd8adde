"""Retry policy as pure functions: what to retry, and how long to wait.

    decision = decide(RetryPolicy(), attempt=1, status=503, headers={}, rand=0.5)
    decision.retry, decision.delay   # True, ~0.44

No I/O and no clock here: the engine passes in the outcome of an attempt and a random
number, and gets back a decision. That keeps the policy a table-testable function.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .. import _constants as C
from ..config import RetryPolicy

__all__ = [
    "RetryDecision",
    "backoff_delay",
    "decide",
    "is_permanent_429",
    "retry_after_seconds",
]


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay: float = 0.0
    server_delay: float | None = None  # what the server asked for, if it did


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait a server asks for: ``retry-after-ms`` first, then ``retry-after`` seconds.

    HTTP-date ``retry-after`` values are ignored (providers send seconds). Absurd values
    (negative, not finite) give ``None``; very long ones are capped.
    """
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except ValueError:
            continue
        if math.isfinite(value) and value >= 0:
            return min(value, C.MAX_RETRY_AFTER)
    return None


def backoff_delay(policy: RetryPolicy, retries_so_far: int, rand: float) -> float:
    """Exponential backoff with jitter: ``initial * 2**n`` capped, times 0.75..1.0."""
    # Capping the exponent keeps 2.0**n finite (it overflows past n=1023) for huge
    # max_retries; 2**64 times any sane initial delay is far beyond max_delay anyway.
    base = min(policy.max_delay, policy.initial_delay * (2.0 ** min(retries_so_far, 64)))
    return base * (0.75 + 0.25 * rand)


def is_transient_status(policy: RetryPolicy, status: int) -> bool:
    if status in policy.retry_statuses:
        return True
    # 501 "not implemented" will not start working on a retry; other 5xx might.
    return policy.retry_server_errors and 500 <= status < 600 and status != 501


def is_permanent_429(error_code: str | None, error_message: str | None) -> bool:
    """A 429 that no amount of waiting fixes (out of credit, or request over the limit)."""
    if error_code in {"insufficient_quota", "billing_hard_limit_reached"}:
        return True
    return bool(error_message) and "request too large" in (error_message or "").lower()


def decide(
    policy: RetryPolicy,
    *,
    attempt: int,
    status: int | None,
    headers: Mapping[str, str] | None = None,
    rand: float = 1.0,
    error_code: str | None = None,
    error_message: str | None = None,
) -> RetryDecision:
    """Decide whether attempt number ``attempt`` (1-based) is retried, and after how long.

    ``status`` is the HTTP status, or ``None`` for a transport failure (connection error,
    reset, timeout), which is always transient. A server's ``x-should-retry`` header wins
    over the status table, as in the official SDK. Some 429s are not transient:
    ``insufficient_quota`` (billing) and "Request too large" (bigger than the whole
    token limit) fail at once, since waiting cannot fix them.
    """
    headers = headers or {}
    if attempt > policy.max_retries:
        return RetryDecision(retry=False)
    should = headers.get("x-should-retry")
    if should == "false":
        return RetryDecision(retry=False)
    if status is not None and should != "true" and not is_transient_status(policy, status):
        return RetryDecision(retry=False)
    if status == 429 and is_permanent_429(error_code, error_message):
        return RetryDecision(retry=False)
    server_delay = retry_after_seconds(headers)
    backoff = backoff_delay(policy, attempt - 1, rand)
    # The server's word is a floor, not a ceiling: a Retry-After of 0 after a 429 still
    # gets a small backoff so that a storm of 429s does not spin.
    delay = max(server_delay, 0.0) if server_delay is not None else backoff
    if status == 429 and server_delay is not None:
        delay = max(server_delay, min(backoff, 1.0) * 0.1)
    return RetryDecision(retry=True, delay=delay, server_delay=server_delay)
