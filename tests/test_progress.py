"""ProgressDisplay in every mode, driven by hand-built RunStats (no network)."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import pytest

from surge.cli.progress import ProgressDisplay, status_line
from surge.events import RunStats


def running_stats() -> RunStats:
    stats = RunStats(total=5_000, started_at=time.monotonic() - 4.0)
    stats.done, stats.succeeded, stats.failed = 1_200, 1_198, 2
    stats.in_flight, stats.retries, stats.rate_limited = 100, 3, 1
    stats.tokens_in, stats.tokens_out = 51_234, 20_456
    return stats


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_line_shows_every_counter() -> None:
    line = status_line(running_stats())
    assert line.startswith("surge: 1,200/5,000 done (24.0%) | ")
    for part in ("req/s", "eta ", "in flight 100", "retries 3", "429s 1", "failed 2"):
        assert part in line
    assert line.endswith("tokens 51k in / 20k out")


def test_status_line_without_total_has_no_eta_and_counts_only() -> None:
    stats = RunStats()
    stats.done = 7
    line = status_line(stats, label="job")
    assert line.startswith("job: 7 done | ")
    assert "eta" not in line


def test_eta_unknown_before_first_result() -> None:
    stats = RunStats(total=10)
    assert stats.eta is None
    assert "eta ? |" in status_line(stats)


def test_resumed_lines_count_towards_the_total() -> None:
    stats = RunStats(total=10)
    stats.skipped, stats.done = 6, 2
    line = status_line(stats)
    assert line.startswith("surge: 8/10 done (80.0%)")
    assert "skipped 6" in line


def test_plain_mode_prints_periodic_lines_and_a_final_one() -> None:
    stats, out = running_stats(), io.StringIO()
    with ProgressDisplay(stats, stream=out, mode="plain", interval=0.01) as display:
        assert display.running
        time.sleep(0.08)
        stats.done = 5_000
        stats.finished_at = time.monotonic()
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3
    assert all(line.startswith("surge: ") for line in lines)
    assert lines[-1].startswith("surge: 5,000/5,000 done (100.0%)")
    assert "eta" not in lines[-1]  # finished: no ETA
    assert not display.running


def test_none_mode_prints_nothing() -> None:
    out = FakeTTY()
    with ProgressDisplay(running_stats(), stream=out, mode="none", interval=0.01):
        time.sleep(0.03)
    assert out.getvalue() == ""


def test_auto_mode_picks_plain_off_a_terminal_and_rich_on_one() -> None:
    assert ProgressDisplay(RunStats(), stream=io.StringIO()).mode == "plain"
    assert ProgressDisplay(RunStats(), stream=FakeTTY()).mode == "rich"


@pytest.mark.parametrize("total", [5_000, None])
def test_rich_mode_renders_into_a_string_buffer(total: int | None) -> None:
    stats, out = running_stats(), io.StringIO()
    stats.total = total
    display = ProgressDisplay(stats, stream=out, mode="rich")
    display.start()
    time.sleep(0.25)  # let rich's own thread refresh at least once
    display.stop()
    text = out.getvalue()
    assert "1,200" in text and "req/s" in text and "in flight 100" in text
    assert ("5,000" in text) == (total is not None)


def test_start_and_stop_are_idempotent() -> None:
    for mode in ("plain", "rich", "none"):
        out = io.StringIO()
        display = ProgressDisplay(RunStats(), stream=out, mode=mode, interval=10)  # type: ignore[arg-type]
        display.stop()  # before start: nothing happens
        display.start()
        display.start()
        display.stop()
        display.stop()
        assert not display.running
    assert threading.active_count() < 10  # no thread left behind per start()


def test_stop_returns_promptly_even_with_a_long_interval() -> None:
    display = ProgressDisplay(RunStats(), stream=io.StringIO(), mode="plain", interval=60)
    display.start()
    t0 = time.monotonic()
    display.stop()
    assert time.monotonic() - t0 < 1.0


async def test_safe_inside_a_running_event_loop() -> None:
    stats, out = RunStats(total=50), io.StringIO()
    with ProgressDisplay(stats, stream=out, mode="plain", interval=0.01):
        for _ in range(50):
            stats.done += 1
            await asyncio.sleep(0.001)
    assert out.getvalue().splitlines()[-1].startswith("surge: 50/50 done")


def test_broken_stream_does_not_raise() -> None:
    out = io.StringIO()
    display = ProgressDisplay(RunStats(), stream=out, mode="plain", interval=0.01)
    display.start()
    out.close()
    time.sleep(0.03)
    display.stop()


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="mode"):
        ProgressDisplay(RunStats(), mode="fancy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval"):
        ProgressDisplay(RunStats(), interval=0)


def test_display_listens_for_the_last_retry_reason() -> None:
    import io

    from surge.cli.progress import ProgressDisplay, status_line
    from surge.events import RequestRetrying, RequestStarted, RunStats

    stats = RunStats(total=4)
    display = ProgressDisplay(stats, stream=io.StringIO(), mode="plain")
    display(RequestStarted("a", 1, 1))
    assert display.last_retry is None
    display(RequestRetrying("a", 1, 1, "HTTP 503", 0.5))
    display(RequestRetrying("b", 2, 1, "invalid_output", 0.0))
    assert display.last_retry == "invalid_output"
    assert status_line(stats, "surge", None, display.last_retry).endswith(
        "| last retry invalid_output"
    )
    stats.finished_at = stats.started_at + 1  # a finished run shows no stale reason
    assert "last retry" not in status_line(stats, "surge", None, display.last_retry)
