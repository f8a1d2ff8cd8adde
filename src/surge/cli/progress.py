"""Live progress on stderr, read from :class:`~surge.events.RunStats` by polling.

    stats = surge.RunStats(total=len(prompts))
    with ProgressDisplay(stats):            # rich bar on a terminal, status lines otherwise
        results = await surge.amap(prompts, stats=stats)

The engine never calls the display: a background thread (rich's refresh thread, or our own
for plain lines) reads a handful of ints a few times a second. That keeps the engine's hot
path free of rendering work and makes ``start()``/``stop()`` safe inside a running asyncio
loop (neither blocks for longer than a thread join that is woken immediately).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TextIO

from .. import _constants as C
from ..events import RunStats
from .summary import human_count, human_duration

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

__all__ = ["Mode", "ProgressDisplay", "status_line"]

Mode = Literal["auto", "rich", "plain", "none"]

# Rich redraws this often; enough to look live, cheap enough to go unnoticed on 2 cores.
_RICH_REFRESH_PER_SECOND = 6


def _done_part(stats: RunStats) -> str:
    # Resumed lines count towards the total so that "done/total" reaches 100%.
    completed = stats.skipped + stats.done
    if stats.total is None:
        return f"{completed:,} done"
    pct = 100.0 * completed / stats.total if stats.total else 100.0
    return f"{completed:,}/{stats.total:,} done ({pct:.1f}%)"


def status_line(
    stats: RunStats, label: str = "surge", extra: Callable[[], str] | None = None
) -> str:
    """One plain status line, e.g. ``status_line(RunStats(total=10))`` gives::

    surge: 0/10 done (0.0%) | 0.0 req/s | eta ? | in flight 0 | retries 0 | 429s 0 | ...

    The ETA is left out when the total is unknown or the run has finished.
    """
    parts = [f"{label}: {_done_part(stats)}", f"{stats.rate:,.1f} req/s"]
    if stats.total is not None and stats.finished_at is None:
        parts.append(f"eta {human_duration(stats.eta)}")
    parts += [
        f"in flight {stats.in_flight}",
        f"retries {stats.retries}",
        f"429s {stats.rate_limited}",
        f"failed {stats.failed}",
    ]
    if stats.invalid:
        parts.append(f"invalid {stats.invalid}")
    if stats.skipped:
        parts.append(f"skipped {stats.skipped}")
    parts.append(f"tokens {human_count(stats.tokens_in)} in / {human_count(stats.tokens_out)} out")
    if extra is not None:
        parts.append(extra())  # e.g. the cost so far, from a listener
    return " | ".join(parts)


class _RichView:
    """A rich renderable rebuilt from the counters on every refresh (two lines)."""

    def __init__(self, stats: RunStats, label: str, extra: Callable[[], str] | None) -> None:
        self.stats = stats
        self.label = label
        self.extra = extra

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        s = self.stats
        counts = Text(_done_part(s))
        counts.append(f"  {s.rate:,.1f} req/s", style="green")
        if s.total is not None and s.finished_at is None:
            counts.append(f"  eta {human_duration(s.eta)}", style="cyan")
        label = Text(self.label, style="bold cyan")
        head = Table.grid(padding=(0, 1))
        if s.total is None:
            head.add_row(label, counts)
        else:
            # The bar takes whatever the text leaves of the line, within reason.
            room = options.max_width - len(label) - len(counts) - 2
            bar = ProgressBar(total=max(s.total, 1), completed=s.skipped + s.done)
            bar.width = max(10, min(40, room))
            head.add_row(label, bar, counts)
        yield head

        detail = Text(style="dim", no_wrap=True, overflow="ellipsis")
        detail.append(f"in flight {s.in_flight} · retries {s.retries} · ")
        detail.append(f"429s {s.rate_limited}", style="yellow" if s.rate_limited else "")
        detail.append(" · ")
        detail.append(f"failed {s.failed}", style="bold red" if s.failed else "")
        if s.invalid:
            detail.append(f" · invalid {s.invalid}", style="red")
        detail.append(
            f" · tokens {human_count(s.tokens_in)} in / {human_count(s.tokens_out)} out"
            f" · {human_duration(s.elapsed)}"
        )
        if self.extra is not None:
            detail.append(f" · {self.extra()}")
        yield detail


class ProgressDisplay:
    """Show a run's progress on ``stream`` until stopped.

        display = ProgressDisplay(stats, mode="plain", interval=2.0)
        display.start()
        try:
            await run()
        finally:
            display.stop()

    ``mode="auto"`` picks ``"rich"`` when ``stream`` is a terminal, else ``"plain"``
    (one status line every ``interval`` seconds and a final one on stop). ``"rich"``
    forces the live bar even on a non-terminal stream; ``"none"`` shows nothing.
    ``start()`` and ``stop()`` are idempotent.
    """

    def __init__(
        self,
        stats: RunStats,
        *,
        stream: TextIO | None = None,
        mode: Mode = "auto",
        interval: float = C.PLAIN_PROGRESS_INTERVAL,
        label: str = "surge",
        extra: Callable[[], str] | None = None,
    ) -> None:
        if mode not in ("auto", "rich", "plain", "none"):
            raise ValueError(f"mode must be auto, rich, plain or none, got {mode!r}")
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        self.stats = stats
        # Resolved at call time, not import time, so pytest's capsys and redirections apply.
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.interval = interval
        self.label = label
        self.extra = extra  # more text for the status (a listener's figures: cost, cache hits)
        self.mode: Literal["rich", "plain", "none"] = (
            ("rich" if _isatty(self.stream) else "plain") if mode == "auto" else mode
        )
        self._forced = mode == "rich"
        self._live: Any = None  # rich.live.Live, imported lazily
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<ProgressDisplay mode={self.mode} {state} done={self.stats.done}>"

    @property
    def running(self) -> bool:
        return self._live is not None or self._thread is not None

    def start(self) -> None:
        """Begin displaying (a no-op when already running or in ``"none"`` mode)."""
        with self._lock:
            if self.running or self.mode == "none":
                return
            if self.mode == "rich":
                self._start_rich()
            else:
                self._stopping.clear()
                self._thread = threading.Thread(
                    target=self._plain_loop, name="surge-progress", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Draw the final state and stop (a no-op when not running)."""
        with self._lock:
            if self._live is not None:
                live, self._live = self._live, None
                live.stop()  # redraws once more, then leaves the final bar on screen
            elif self._thread is not None:
                thread, self._thread = self._thread, None
                self._stopping.set()
                thread.join()
                self._write(status_line(self.stats, self.label, self.extra))

    def __enter__(self) -> ProgressDisplay:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _start_rich(self) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self.stream, force_terminal=True if self._forced else None)
        # Redirecting stderr lets log lines scroll above the bar instead of tearing it;
        # stdout is never touched because it may carry the results (-o -).
        live = Live(
            console=console,
            renderable=_RichView(self.stats, self.label, self.extra),
            refresh_per_second=_RICH_REFRESH_PER_SECOND,
            redirect_stdout=False,
            redirect_stderr=self.stream is sys.stderr,
            transient=False,
        )
        live.start()
        self._live = live

    def _plain_loop(self) -> None:
        # Event.wait doubles as the sleep, so stop() wakes us at once.
        while not self._stopping.wait(self.interval):
            self._write(status_line(self.stats, self.label, self.extra))

    def _write(self, line: str) -> None:
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (ValueError, OSError):
            # A closed or broken stream must never take the run down with it.
            pass


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
