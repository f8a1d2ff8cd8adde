"""Pure rate-limit logic with a fake clock: header durations, token bucket, sliding window."""

from __future__ import annotations

import math

import pytest

from surge_sim.limiter import RateLimits, SlidingWindow, TokenBucket, format_duration


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (-1, "0s"),
        (0.0004, "1ms"),
        (0.006, "6ms"),
        (0.05, "50ms"),
        (0.999, "999ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (1.25, "1.25s"),
        (59.9, "59.9s"),
        (60, "1m0s"),
        (360, "6m0s"),
        (90.5, "1m30.5s"),
        (3600, "1h0m0s"),
        (3725, "1h2m5s"),
    ],
)
def test_format_duration_like_openai(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected


def test_bucket_starts_full_and_refills_at_limit_per_minute() -> None:
    bucket = TokenBucket(600, now=0.0)  # 10 per second
    assert bucket.remaining(0.0) == 600
    bucket.take(600, now=0.0)
    assert bucket.wait_for(1, now=0.0) == pytest.approx(0.1)
    assert bucket.wait_for(1, now=0.05) == pytest.approx(0.05)
    assert bucket.wait_for(1, now=0.1) == 0.0
    assert bucket.remaining(1.0) == pytest.approx(10)
    assert bucket.reset_after(1.0) == pytest.approx(59.0)
    assert bucket.remaining(1000.0) == 600  # never above capacity


def test_bucket_never_fits_more_than_capacity() -> None:
    bucket = TokenBucket(100, now=0.0)
    assert math.isinf(bucket.wait_for(101, now=0.0))


def test_window_frees_quota_when_the_oldest_entries_leave() -> None:
    win = SlidingWindow(3, window=1.0, now=0.0)
    win.take(1, 0.0)
    win.take(1, 0.2)
    win.take(1, 0.4)
    assert win.remaining(0.5) == 0
    assert win.wait_for(1, now=0.5) == pytest.approx(0.5)  # entry of t=0.0 leaves at 1.0
    assert win.wait_for(2, now=0.5) == pytest.approx(0.7)  # and the one of t=0.2 at 1.2
    assert win.reset_after(0.5) == pytest.approx(0.9)
    assert win.wait_for(1, now=1.0) == 0.0
    assert win.remaining(1.3) == 2  # t=0.0 and t=0.2 have left, t=0.4 stays until 1.4
    assert win.remaining(1.5) == 3
    assert math.isinf(win.wait_for(4, now=2.0))


def test_rate_limits_admit_consumes_both_or_nothing() -> None:
    limits = RateLimits.build(rpm=60, tpm=100, mode="rolling", window_seconds=60, now=0.0)
    assert limits.admit(tokens=90, now=0.0) is None
    rejection = limits.admit(tokens=20, now=0.0)
    assert rejection is not None
    assert rejection.kind == "tokens"
    assert (rejection.limit, rejection.used, rejection.requested) == (100, 90, 20)
    assert rejection.wait == pytest.approx(10 / (100 / 60))
    # The rejected request consumed nothing: one request used, 10 tokens left.
    headers = limits.headers(now=0.0)
    assert headers["x-ratelimit-remaining-requests"] == "59"
    assert headers["x-ratelimit-remaining-tokens"] == "10"
    assert headers["x-ratelimit-reset-requests"] == "1s"
    assert headers["x-ratelimit-reset-tokens"] == "54s"


def test_rate_limits_reports_the_longest_wait() -> None:
    limits = RateLimits.build(rpm=1, tpm=1000, mode="window", window_seconds=60, now=0.0)
    assert limits.admit(tokens=10, now=0.0) is None
    rejection = limits.admit(tokens=10, now=30.0)
    assert rejection is not None and rejection.kind == "requests"
    assert rejection.wait == pytest.approx(30.0)


def test_headers_only_for_configured_limits() -> None:
    limits = RateLimits.build(rpm=None, tpm=500, mode="rolling", window_seconds=60, now=0.0)
    assert sorted(limits.headers(0.0)) == [
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    ]
    assert not RateLimits.build(rpm=None, tpm=None, mode="rolling", window_seconds=60, now=0).active
