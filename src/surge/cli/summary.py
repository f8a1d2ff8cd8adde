"""The end-of-run report: what happened to every request, how fast, at what cost.

    stats = surge.RunStats(total=3)
    ...  # the engine fills it in
    print(format_summary(stats, output="out.jsonl"), file=sys.stderr)
    json.dump(summary_dict(stats, output="out.jsonl"), fp)

Both functions only *read* :class:`~surge.events.RunStats`; they are pure apart from the
clock reading hidden in ``stats.elapsed`` for a run that has not finished yet. The small
number formatters live here too, so the live progress display and the summary print
numbers the same way.
"""

from __future__ import annotations

from typing import Any

from ..events import RunStats

__all__ = ["format_summary", "human_count", "human_duration", "summary_dict"]

# Error code the engine gives to input lines that never became a request; they are reported
# as "invalid input", not as failed requests.
_INVALID_CODE = "invalid_input"


def human_count(n: int | float) -> str:
    """``human_count(51_234) == "51k"``: short counts for a status line."""
    n = float(n)
    for limit, div, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e3, 1e3, "k")):
        if abs(n) >= limit:
            value = n / div
            # One decimal only while it carries information ("1.2k", but "51k").
            return f"{value:.1f}{suffix}" if abs(value) < 10 else f"{value:.0f}{suffix}"
    return f"{n:.0f}"


def human_duration(seconds: float | None) -> str:
    """``human_duration(245) == "4m05s"``; ``None`` (unknown) is ``"?"``."""
    if seconds is None:
        return "?"
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _failures_by_code(stats: RunStats) -> dict[str, int]:
    return {
        code: n
        for code, n in sorted(stats.errors_by_code.items(), key=lambda kv: (-kv[1], kv[0]))
        if code != _INVALID_CODE and n
    }


def _latency_ms(stats: RunStats) -> dict[str, float] | None:
    if not len(stats.latencies):
        return None
    return {k: round(v * 1000, 1) for k, v in stats.latency_percentiles().items()}


def summary_dict(stats: RunStats, *, output: str | None = None) -> dict[str, Any]:
    """The run's outcome as a JSON-ready dict (``--summary-json``, tests).

        >>> summary_dict(RunStats(total=0))["succeeded"]
        0

    ``latency_ms`` is ``None`` when no request finished with a measured latency.
    """
    elapsed = stats.elapsed
    return {
        "total": stats.total,
        "done": stats.done,
        "succeeded": stats.succeeded,
        "failed": stats.failed,
        "failed_transient": stats.failed_transient,
        "failed_permanent": stats.failed - stats.failed_transient,
        "failed_by_code": _failures_by_code(stats),
        "invalid": stats.invalid,
        "skipped": stats.skipped,
        "skipped_failed": stats.skipped_failed,
        "skipped_failed_transient": stats.skipped_failed_transient,
        "resent_changed": stats.resent_changed,
        "stale_removed": stats.stale_removed,
        "wall_seconds": round(elapsed, 3),
        "requests_per_second": round(stats.done / elapsed, 2),
        "attempts": stats.attempts,
        "retries": stats.retries,
        "rate_limited": stats.rate_limited,
        "tokens_in": stats.tokens_in,
        "tokens_out": stats.tokens_out,
        "latency_ms": _latency_ms(stats),
        "output": output,
    }


def format_summary(stats: RunStats, *, output: str | None = None) -> str:
    """A compact multi-line report for stderr, e.g.::

    surge: 4,990 succeeded, 8 failed, 2 invalid input lines, 300 skipped (already done)
      failed      server_error 5, timeout 3 (8 transient: --retry-failed may fix them)
      resumed     12 re-sent because they changed, 3 stale answers removed
      wall time   12.3s (406.5 req/s)
      attempts    5,012 (12 retries, 3 rate-limited 429s)
      tokens      51,234 in / 20,456 out
      latency     p50 310 ms, p95 420 ms, p99 480 ms
      output      out.jsonl
    """
    d = summary_dict(stats, output=output)
    outcomes = [f"{d['succeeded']:,} succeeded", f"{d['failed']:,} failed"]
    if d["invalid"]:
        outcomes.append(f"{d['invalid']:,} invalid input line{'s' * (d['invalid'] != 1)}")
    if d["skipped"]:
        note = f", {d['skipped_failed']:,} of them failed" if d["skipped_failed"] else ""
        outcomes.append(f"{d['skipped']:,} skipped (already done{note})")
    lines = ["surge: " + ", ".join(outcomes)]

    def row(name: str, value: str) -> None:
        lines.append(f"  {name:<11} {value}")

    if d["failed_by_code"]:
        kinds = []
        if d["failed_permanent"]:
            kinds.append(f"{d['failed_permanent']:,} permanent")
        if d["failed_transient"]:
            kinds.append(f"{d['failed_transient']:,} transient: --retry-failed may fix them")
        codes = ", ".join(f"{code} {n:,}" for code, n in d["failed_by_code"].items())
        row("failed", f"{codes} ({'; '.join(kinds)})" if kinds else codes)
    resumed = []
    if d["resent_changed"]:
        resumed.append(f"{d['resent_changed']:,} re-sent because they changed")
    if d["stale_removed"]:
        n = d["stale_removed"]
        resumed.append(f"{n:,} stale answer{'s' * (n != 1)} removed")
    if resumed:
        row("resumed", ", ".join(resumed))
    wall = d["wall_seconds"]
    wall_text = f"{wall:.1f}s" if wall < 60 else human_duration(wall)
    row("wall time", f"{wall_text} ({d['requests_per_second']:,.1f} req/s)")
    row(
        "attempts",
        f"{d['attempts']:,} ({d['retries']:,} retries, {d['rate_limited']:,} rate-limited 429s)",
    )
    row("tokens", f"{d['tokens_in']:,} in / {d['tokens_out']:,} out")
    lat = d["latency_ms"]
    if lat is not None:
        row("latency", ", ".join(f"{k} {v:,.0f} ms" for k, v in lat.items()))
    if output is not None:
        row("output", output)
    return "\n".join(lines)
