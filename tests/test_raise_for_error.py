"""Result.raise_for_error: every RequestError class is what some result raises."""

from __future__ import annotations

import pytest

import surge
from surge.models import ErrorInfo, Result


@pytest.mark.parametrize(
    ("result", "cls"),
    [
        (
            Result("a", status_code=429, error=ErrorInfo("rate_limit_exceeded", "slow down")),
            surge.RateLimitError,
        ),
        (
            Result("a", status_code=500, error=ErrorInfo("server_error", "boom")),
            surge.APIStatusError,
        ),
        (Result("a", error=ErrorInfo("timeout", "no answer in 1s")), surge.APITimeoutError),
        (Result("a", error=ErrorInfo("connection_error", "reset")), surge.APIConnectionError),
        (Result("a", error=ErrorInfo("invalid_input", "bad line")), surge.RequestError),
    ],
)
def test_raise_for_error_matches_the_error(result: Result, cls: type[Exception]) -> None:
    with pytest.raises(cls) as info:
        result.raise_for_error()
    assert type(info.value) is cls
    assert "a:" in str(info.value)


def test_an_ok_result_raises_nothing() -> None:
    Result("a", status_code=200, body={}).raise_for_error()
