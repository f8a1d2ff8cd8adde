"""How fast to go after the server refused: a pure rate controller (no clock, no I/O).

    control = RateControl()
    control.rate(now=0.0, ceiling=20.0)              # 20.0: the known limit, until refused
    control.limited(now=5.0, current=20.0, sent=100, mark=90)   # a 429 at 20/s
    control.rate(now=5.0, ceiling=20.0)              # 16.0: cut in proportion...
    control.rate(now=7.0, ceiling=20.0)              # ~19.5: ...and back just under 20

A 429 says "you went faster than I allow" but not by how much, and a server may enforce
its per-minute limit over much shorter windows (OpenAI: "60,000 requests/minute may be
enforced as 1,000 requests/second"), send no headers at all, or send headers that promise
more than it admits. So the refusal itself is the measurement, as in TCP's congestion
control: the rate at which it came (``w_max``) is too high; the rate drops by a fixed
proportion (not to zero, and no one waits a backoff), recovers quickly to just under
``w_max`` and stays there. Only after a quiet spell does it probe above ``w_max`` again,
and every refusal at the same level makes the next probe wait twice as long, so once the
real limit is found 429s become rare. When the limit is known (configured, or announced
by the server), the probe never goes past it and starts only after a minute: a refusal
below a known limit is the server's short window, which does not go away.

With no pace at all yet (nothing known, never refused), one refusal alone sets none: a
server refusing one request over and over sends the same 429, and a pace measured from
the first answers would cripple everyone for it. A second refusal within
``CORROBORATE_SECONDS`` (a rate overshoot refuses several requests at once) does.

Refusals of requests that left before the last cut, or that come within a second of it,
are the same overshoot, already answered: they do not cut again. (A server enforcing
per-second windows refuses everything until its window ends, whatever the new pace: one
cut per refusal there would drive the pace to zero.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import _constants as C

__all__ = ["RateControl"]


@dataclass(slots=True)
class RateControl:
    """One resource's pace (units per second) once the server has refused it."""

    w_max: float | None = None  # the rate a refusal came at
    restart: float = 0.0  # the rate right after the cut
    cut_at: float = -math.inf  # when the last cut happened
    cut_sent: int = -1  # requests sent when the cut happened
    lone_at: float = -math.inf  # an unpaced refusal not yet seconded by another
    probe_delay: float = C.PROBE_DELAY

    def rate(self, now: float, ceiling: float | None) -> float | None:
        """The pace to keep now: ``ceiling`` (or none) until refused, then the recovery."""
        if self.w_max is None:
            return ceiling
        plateau = self.w_max * C.PLATEAU
        if ceiling is not None:
            plateau = min(plateau, ceiling)
        since = now - self.cut_at
        rate = plateau - (plateau - self.restart) * math.exp(-since / C.RECOVERY_SECONDS)
        if ceiling is None:
            if since > self.probe_delay:  # nothing known above: probe, faster and faster
                rate = plateau * math.exp(C.PROBE_GAIN * (since - self.probe_delay))
            return rate
        if since > C.KNOWN_PROBE_DELAY:
            rate = plateau + (ceiling - plateau) * min(1.0, (since - C.KNOWN_PROBE_DELAY) / 60.0)
        return min(rate, ceiling)

    def limited(
        self, *, now: float, current: float | None, measured: float | None, sent: int, mark: int
    ) -> bool:
        """A rate-limit refusal of a request sent as number ``mark``; True if the pace fell.

        ``current`` is the pace being kept (None: not paced yet) and ``sent`` the requests
        sent so far. ``measured`` is what the server admitted over the last second, given
        only when no limit is known: the pace then never restarts above it (while surge
        sends faster than a server admits, the answers arrive at the server's rate).
        With no pace yet (``current`` None), a refusal cuts only if another came within
        ``CORROBORATE_SECONDS`` before it.
        """
        if mark <= self.cut_sent or now - self.cut_at < C.MEASURE_WINDOW:
            return False
        if current is None:
            lone, self.lone_at = self.lone_at, now
            if now - lone > C.CORROBORATE_SECONDS:
                return False
        rate = current
        if measured is not None and measured > 0:
            rate = measured if rate is None else min(rate, measured)
        if rate is None or rate <= 0:
            return False
        rate = max(rate, C.MIN_RATE)
        if self.w_max is not None and abs(rate - self.w_max) <= C.SAME_LEVEL * self.w_max:
            self.probe_delay = min(self.probe_delay * 2.0, C.MAX_PROBE_DELAY)
        else:
            self.probe_delay = C.PROBE_DELAY
        self.w_max = rate
        self.restart = rate * C.DECREASE
        self.cut_at = now
        self.cut_sent = sent
        return True

    def scale(self, factor: float) -> None:
        """The unit changed size (a token estimate was corrected): keep the same real pace."""
        if self.w_max is not None:
            self.w_max *= factor
            self.restart *= factor
