"""One GCRA ("virtual scheduling") limit as pure bookkeeping with an explicit ``now``.

cell = Cell(rate=20.0)             # 20 units per second
cell.reserve(1, now=0.0)           # 0.0: go now; the next unit is due at 0.05
cell.wait(1, now=0.0)              # 0.05
"""

from __future__ import annotations

from .. import _constants as C

__all__ = ["Cell"]


class Cell:
    """One GCRA limit: ``rate`` units per second.

    Pure bookkeeping with an explicit ``now``: ``reserve`` returns how long the caller must
    wait (0 when it may go at once) and records the reservation.
    """

    __slots__ = ("burst", "rate", "tat")

    def __init__(self, rate: float, burst_seconds: float = C.LIMIT_BURST_SECONDS) -> None:
        self.rate = rate  # units per second
        self.burst = burst_seconds
        self.tat = 0.0  # theoretical arrival time of the next unit

    def tolerance(self) -> float:
        return self.burst

    def wait(self, amount: float, now: float) -> float:
        """How long a request of ``amount`` would wait if it asked now (nothing recorded)."""
        return max(0.0, max(self.tat, now) - self.tolerance() - now)

    def reserve(self, amount: float, now: float, slack: float = 0.0) -> float:
        # "Pay after": a request may start once the previous ones are paid for, then its
        # own cost pushes the next slot back. So the first request never waits for its
        # own tokens, and a large request delays the ones after it, not itself.
        # ``slack``: a waiter woken a little late (timers fire late on a busy loop) keeps
        # its slot, else every late wake-up would push the whole schedule back and the
        # pace would fall short of the rate. Idle time is never credit.
        spacing = amount / self.rate
        start = max(self.tat, now - min(slack, spacing))
        self.tat = start + spacing
        return max(0.0, start - self.tolerance() - now)

    def refund(self, amount: float) -> None:
        self.tat -= amount / self.rate

    def hold_until(self, until: float) -> None:
        """Nothing starts before ``until``; after it, the schedule goes on spaced out."""
        self.tat = max(self.tat, until + self.tolerance())

    def available(self, now: float) -> float:
        """Units that could start right now without waiting."""
        if self.tat - self.tolerance() > now:
            return 0.0
        return 1.0 + (now + self.tolerance() - max(self.tat, now)) * self.rate

    def cap_available(self, units: float, now: float) -> None:
        """At most ``units`` may start before the cell refills (0: the next one waits)."""
        if units >= self.available(now):
            return
        if units < 1:
            # Only ever later: moving the slot earlier would let queued waiters jump ahead.
            self.tat = max(self.tat, now + self.tolerance() + (1.0 - units) / self.rate)
            return
        self.tat = max(self.tat, now + self.tolerance() - (units - 1.0) / self.rate)

    def set_rate(self, rate: float, now: float) -> None:
        if rate == self.rate:
            return
        # Keep the backlog measured in units, not seconds, across the change.
        backlog_units = max(self.tat - now, 0.0) * self.rate
        self.rate = rate
        self.tat = now + backlog_units / rate if backlog_units else self.tat

    def __repr__(self) -> str:
        return f"Cell(rate={self.rate * 60:.0f}/min)"
