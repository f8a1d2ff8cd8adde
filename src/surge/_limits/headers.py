"""Parse the ``x-ratelimit-*`` headers providers send (pure functions).

    snap = parse_headers({"x-ratelimit-limit-requests": "1200",
                          "x-ratelimit-remaining-requests": "1180",
                          "x-ratelimit-reset-requests": "1s"})
    snap.requests.limit, snap.requests.remaining, snap.requests.reset  # 1200, 1180, 1.0

OpenAI formats resets as Go durations (``6ms``, ``1.5s``, ``6m0s``, ``1h2m3s``); some
compatible servers send plain seconds (``"0.5"``) or epoch seconds. All are accepted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "LimitState",
    "RateLimitSnapshot",
    "parse_duration",
    "parse_headers",
    "refused_limit",
]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
# A bare number this large is an epoch timestamp, not a duration.
_EPOCH_THRESHOLD = 1_000_000_000


def parse_duration(raw: str | None, *, now_epoch: float | None = None) -> float | None:
    """Seconds from an OpenAI-style duration (``1m30.5s``), plain seconds or epoch time."""
    if raw is None:
        return None
    text = raw.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            return None
        if value >= _EPOCH_THRESHOLD:
            return max(0.0, value - now_epoch) if now_epoch is not None else None
        return max(0.0, value)
    pos = 0
    total = 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return total if pos == len(text) and pos > 0 else None


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class LimitState:
    limit: float | None
    remaining: float | None
    reset: float | None  # seconds until the quota is back to full

    def usable(self, *, elapsed: float, sent_since: float) -> float | None:
        """What remains now, ``elapsed`` s after this reading, ``sent_since`` sent since.

        The server's figure dates from when that request arrived: since then its bucket
        refilled (limit/60 per second) and admitted what was sent after. ``reset`` is
        deliberately not used: for token buckets it is the time to refill *completely*,
        while the next unit is back after one spacing, which a cell already enforces.
        """
        if self.remaining is None or self.limit is None:
            return None
        return self.remaining + elapsed * self.limit / 60.0 - sent_since


@dataclass(frozen=True, slots=True)
class RateLimitSnapshot:
    requests: LimitState | None
    tokens: LimitState | None


def _state(headers: Mapping[str, str], kind: str, now_epoch: float | None) -> LimitState | None:
    limit = _number(headers.get(f"x-ratelimit-limit-{kind}"))
    remaining = _number(headers.get(f"x-ratelimit-remaining-{kind}"))
    if limit is None and remaining is None:
        return None
    reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"), now_epoch=now_epoch)
    return LimitState(limit=limit, remaining=remaining, reset=reset)


def parse_headers(
    headers: Mapping[str, str], *, now_epoch: float | None = None
) -> RateLimitSnapshot | None:
    """The server's view of its limits, or ``None`` when it sent no such headers."""
    requests = _state(headers, "requests", now_epoch)
    tokens = _state(headers, "tokens", now_epoch)
    if requests is None and tokens is None:
        return None
    return RateLimitSnapshot(requests=requests, tokens=tokens)


def refused_limit(body: Any) -> Literal["requests", "tokens"] | None:
    """Which limit a 429 names: OpenAI's error ``type`` is ``"requests"``/``"tokens"`` and
    its message says "on tokens per min (TPM)"; ``None`` when the body does not say."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    kind = error.get("type")
    if kind in ("requests", "tokens"):
        return kind  # type: ignore[no-any-return]
    message = str(error.get("message") or "").lower()
    if "tokens per min" in message or "(tpm)" in message:
        return "tokens"
    if "requests per min" in message or "(rpm)" in message:
        return "requests"
    return None
