"""Parsing the x-ratelimit-* headers and their reset durations (pure, table-driven)."""

from __future__ import annotations

import pytest

from surge._limits.headers import LimitState, RateLimitSnapshot, parse_duration, parse_headers

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("6ms", 0.006),
        ("1s", 1.0),
        ("1.5s", 1.5),
        ("0s", 0.0),
        ("6m0s", 360.0),
        ("1m30.5s", 90.5),
        ("1h2m3s", 3723.0),
        ("2h", 7200.0),
        ("1m5ms", 60.005),  # "ms" is not "m" followed by "s"
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("100ns", 1e-7),
        ("0.5", 0.5),  # plain seconds
        ("20", 20.0),
        (" 1s ", 1.0),
        ("-3", 0.0),  # a negative wait is "now"
        (None, None),
        ("", None),
        ("   ", None),
        ("soon", None),
        ("1x", None),
        ("1s garbage", None),
        ("garbage 1s", None),
        ("1.5 s", None),
        ("s", None),
        ("1S", None),
        ("nan", None),
        ("inf", None),
        ("-inf", None),
        # Epoch seconds need to know "now"; without it they mean nothing.
        (str(int(NOW) + 30), None),
    ],
)
def test_parse_duration(raw: str | None, seconds: float | None) -> None:
    result = parse_duration(raw)
    assert result == (pytest.approx(seconds) if seconds is not None else None)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (str(NOW + 30), 30.0),
        (str(int(NOW) + 2), 2.0),
        (str(NOW - 10), 0.0),  # already past
        ("1.5s", 1.5),  # durations do not depend on now
        ("12", 12.0),
    ],
)
def test_parse_duration_epoch(raw: str, seconds: float) -> None:
    assert parse_duration(raw, now_epoch=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("headers", "snapshot"),
    [
        ({}, None),
        ({"content-type": "application/json"}, None),
        # A reset alone says nothing about the quota.
        ({"x-ratelimit-reset-requests": "1s"}, None),
        (
            {
                "x-ratelimit-limit-requests": "1200",
                "x-ratelimit-remaining-requests": "1180",
                "x-ratelimit-reset-requests": "1s",
            },
            RateLimitSnapshot(requests=LimitState(1200, 1180, 1.0), tokens=None),
        ),
        (
            {
                "x-ratelimit-limit-tokens": "400000",
                "x-ratelimit-remaining-tokens": "399000",
                "x-ratelimit-reset-tokens": "150ms",
            },
            RateLimitSnapshot(requests=None, tokens=LimitState(400000, 399000, 0.15)),
        ),
        (
            {
                "x-ratelimit-limit-requests": "60",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "6m0s",
                "x-ratelimit-limit-tokens": "1000",
                "x-ratelimit-remaining-tokens": "10.5",
            },
            RateLimitSnapshot(
                requests=LimitState(60, 0, 360.0), tokens=LimitState(1000, 10.5, None)
            ),
        ),
        # Only the remaining count: still worth knowing.
        (
            {"x-ratelimit-remaining-requests": "3"},
            RateLimitSnapshot(requests=LimitState(None, 3, None), tokens=None),
        ),
        # Unparseable numbers are ignored, not trusted.
        (
            {"x-ratelimit-limit-requests": "lots", "x-ratelimit-remaining-requests": "nan"},
            None,
        ),
        (
            {"x-ratelimit-limit-requests": "inf", "x-ratelimit-remaining-requests": "5"},
            RateLimitSnapshot(requests=LimitState(None, 5, None), tokens=None),
        ),
        (
            {"x-ratelimit-limit-requests": "100", "x-ratelimit-reset-requests": "garbage"},
            RateLimitSnapshot(requests=LimitState(100, None, None), tokens=None),
        ),
    ],
)
def test_parse_headers(headers: dict[str, str], snapshot: RateLimitSnapshot | None) -> None:
    assert parse_headers(headers) == snapshot


def test_parse_headers_epoch_reset() -> None:
    snap = parse_headers(
        {"x-ratelimit-limit-requests": "10", "x-ratelimit-reset-requests": str(NOW + 5)},
        now_epoch=NOW,
    )
    assert snap is not None and snap.requests is not None
    assert snap.requests.reset == pytest.approx(5.0)


def test_docstring_example() -> None:
    snap = parse_headers(
        {
            "x-ratelimit-limit-requests": "1200",
            "x-ratelimit-remaining-requests": "1180",
            "x-ratelimit-reset-requests": "1s",
        }
    )
    assert snap is not None and snap.requests is not None
    assert (snap.requests.limit, snap.requests.remaining, snap.requests.reset) == (1200, 1180, 1.0)
