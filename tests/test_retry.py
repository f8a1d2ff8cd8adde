"""Retry policy: which outcomes are retried and how long to wait (pure, table-driven)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surge import _constants as C
from surge._http.retry import RetryDecision, backoff_delay, decide, retry_after_seconds
from surge.config import RetryPolicy

POLICY = RetryPolicy(max_retries=3, initial_delay=0.5, max_delay=8.0)


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (429, True),
        (408, True),
        (409, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (529, True),  # any 5xx but 501 is transient
        (501, False),  # "not implemented" will not start working on a retry
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
        (None, True),  # transport failure: connection error, reset, timeout
    ],
)
def test_status_table(status: int | None, retried: bool) -> None:
    assert decide(POLICY, attempt=1, status=status, headers={}).retry is retried


@pytest.mark.parametrize(
    ("attempt", "retried"),
    [(1, True), (2, True), (3, True), (4, False), (10, False)],
)
def test_attempts_beyond_max_retries_stop(attempt: int, retried: bool) -> None:
    # max_retries=3: attempts 1..3 may be followed by a retry, attempt 4 is the last.
    assert decide(POLICY, attempt=attempt, status=503).retry is retried


def test_zero_max_retries_never_retries() -> None:
    assert decide(RetryPolicy(max_retries=0), attempt=1, status=429).retry is False


@pytest.mark.parametrize(
    ("status", "header", "retried"),
    [
        (400, "true", True),  # the server knows better than the status table
        (None, "false", False),
        (503, "false", False),
        (429, "false", False),
        (503, "true", True),
        (404, "maybe", False),  # anything else: the status table decides
        (503, "maybe", True),
    ],
)
def test_x_should_retry_overrides_status(status: int | None, header: str, retried: bool) -> None:
    decision = decide(POLICY, attempt=1, status=status, headers={"x-should-retry": header})
    assert decision.retry is retried


def test_x_should_retry_true_does_not_exceed_max_retries() -> None:
    decision = decide(POLICY, attempt=4, status=503, headers={"x-should-retry": "true"})
    assert decision.retry is False


def test_no_retry_has_no_delay() -> None:
    assert decide(POLICY, attempt=1, status=400) == RetryDecision(retry=False)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "0"}, 0.0),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": " 3 "}, 3.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # ms wins
        ({"retry-after-ms": "soon", "retry-after": "4"}, 4.0),  # garbage ms: fall back
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),  # HTTP-date ignored
        ({"retry-after": "garbage"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after": "-1"}, None),
        ({"retry-after-ms": "-5"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "86400"}, C.MAX_RETRY_AFTER),  # a day: capped
        ({"retry-after-ms": "1e12"}, C.MAX_RETRY_AFTER),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(headers) == seconds


@pytest.mark.parametrize(
    ("status", "headers", "delay", "server_delay"),
    [
        # A server's wait replaces the backoff...
        (503, {"retry-after": "3"}, 3.0, 3.0),
        (None, {"retry-after-ms": "40"}, 0.04, 0.04),
        (429, {"retry-after": "7"}, 7.0, 7.0),
        # ...but a 429 saying "0" still waits a little, so a storm of 429s does not spin
        # (backoff for attempt 1 with rand=1.0 is 0.5 s; a tenth of it is the floor).
        (429, {"retry-after": "0"}, 0.05, 0.0),
        (503, {"retry-after": "0"}, 0.0, 0.0),
        # No usable header: plain backoff.
        (503, {}, 0.5, None),
        (429, {"retry-after": "garbage"}, 0.5, None),
        (429, {"retry-after": "86400"}, C.MAX_RETRY_AFTER, C.MAX_RETRY_AFTER),
    ],
)
def test_delay_table(
    status: int | None, headers: dict[str, str], delay: float, server_delay: float | None
) -> None:
    decision = decide(POLICY, attempt=1, status=status, headers=headers, rand=1.0)
    assert decision.retry
    assert decision.delay == pytest.approx(delay)
    assert decision.server_delay == (
        pytest.approx(server_delay) if server_delay is not None else None
    )


@pytest.mark.parametrize(
    ("retries_so_far", "rand", "delay"),
    [
        (0, 1.0, 0.5),
        (0, 0.0, 0.375),  # jitter takes off at most a quarter
        (1, 1.0, 1.0),
        (2, 1.0, 2.0),
        (3, 1.0, 4.0),
        (4, 1.0, 8.0),
        (5, 1.0, 8.0),  # capped at max_delay
        (50, 0.0, 6.0),
    ],
)
def test_backoff_table(retries_so_far: int, rand: float, delay: float) -> None:
    assert backoff_delay(POLICY, retries_so_far, rand) == pytest.approx(delay)


def test_backoff_survives_huge_retry_counts() -> None:
    # 2.0**1100 overflows: a policy with max_retries in the thousands must not crash.
    assert backoff_delay(RetryPolicy(max_retries=5000), 1100, 0.5) <= C.MAX_RETRY_DELAY


def test_decide_docstring_example() -> None:
    decision = decide(RetryPolicy(), attempt=1, status=503, headers={}, rand=0.5)
    assert decision.retry
    assert decision.delay == pytest.approx(0.4375)


@given(
    initial=st.floats(min_value=0.001, max_value=10.0),
    max_delay=st.floats(min_value=0.0, max_value=300.0),
    retries=st.integers(min_value=0, max_value=5000),
    rand=st.floats(min_value=0.0, max_value=1.0),
)
def test_backoff_within_jitter_bounds_and_cap(
    initial: float, max_delay: float, retries: int, rand: float
) -> None:
    policy = RetryPolicy(initial_delay=initial, max_delay=max_delay)
    delay = backoff_delay(policy, retries, rand)
    base = min(max_delay, initial * 2.0 ** min(retries, 64))
    assert math.isfinite(delay)
    assert 0.75 * base - 1e-9 <= delay <= base + 1e-9
    assert delay <= max_delay + 1e-9


@given(
    initial=st.floats(min_value=0.001, max_value=10.0),
    max_delay=st.floats(min_value=0.0, max_value=300.0),
    retries=st.integers(min_value=0, max_value=200),
    rand=st.floats(min_value=0.0, max_value=1.0),
)
def test_backoff_never_shrinks_with_more_retries(
    initial: float, max_delay: float, retries: int, rand: float
) -> None:
    policy = RetryPolicy(initial_delay=initial, max_delay=max_delay)
    assert backoff_delay(policy, retries + 1, rand) >= backoff_delay(policy, retries, rand)


def test_server_errors_can_be_left_unretried() -> None:
    policy = RetryPolicy(retry_statuses=frozenset({429}), retry_server_errors=False)
    assert not decide(policy, attempt=1, status=500).retry
    assert decide(policy, attempt=1, status=429).retry
    assert decide(policy, attempt=1, status=None).retry  # transport failures stay transient
