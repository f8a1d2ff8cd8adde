"""The shared budget's pure model: reservations, the horizon, refunds, pauses, learning."""

from __future__ import annotations

import pytest

from surge._limits.budget import Budget, rate_per_second

KEY = "surge:ep:gpt-4o-mini"


def budget() -> Budget:
    return Budget(headroom=1.0)


def test_requests_are_spaced_by_the_rate_and_booked_only_within_the_horizon() -> None:
    b = budget()
    waits = []
    for _ in range(5):
        g = b.reserve(KEY, tokens=0, rpm=600, tpm=None, now=0.0, horizon=0.25)
        if not g.granted:
            break
        waits.append(g.wait)
    assert waits == pytest.approx([0.0, 0.1, 0.2])
    refused = b.reserve(KEY, tokens=0, rpm=600, tpm=None, now=0.0, horizon=0.25)
    assert not refused.granted
    assert refused.wait == pytest.approx(0.3 - 0.25)  # ask again when the slot is in reach
    again = b.reserve(KEY, tokens=0, rpm=600, tpm=None, now=refused.wait, horizon=0.25)
    assert again.granted and again.wait == pytest.approx(0.25)


def test_tokens_pay_after_and_a_refund_moves_the_next_slot_earlier() -> None:
    b = budget()
    first = b.reserve(KEY, tokens=600, rpm=None, tpm=6000, now=0.0, horizon=10)
    assert first.granted and first.wait == 0.0  # a request never waits for its own tokens
    second = b.reserve(KEY, tokens=100, rpm=None, tpm=6000, now=0.0, horizon=10)
    assert second.wait == pytest.approx(6.0)  # 600 tokens at 100/s
    b.refund(KEY, requests=0, tokens=500 + 100, rpm=None, tpm=6000)  # real usage: 100, and 2nd
    third = b.reserve(KEY, tokens=100, rpm=None, tpm=6000, now=0.0, horizon=10)
    assert third.wait == pytest.approx(1.0)


def test_a_negative_refund_charges_more() -> None:
    b = budget()
    b.reserve(KEY, tokens=100, rpm=None, tpm=6000, now=0.0, horizon=10)
    b.refund(KEY, requests=0, tokens=-200, rpm=None, tpm=6000)
    assert b.reserve(KEY, tokens=1, rpm=None, tpm=6000, now=0.0, horizon=10).wait == pytest.approx(
        3.0
    )


def test_a_pause_holds_everyone_then_the_schedule_goes_on_spaced() -> None:
    b = budget()
    b.reserve(KEY, tokens=0, rpm=600, tpm=None, now=0.0, horizon=1)
    b.pause(KEY, 2.0, now=0.5)
    g = b.reserve(KEY, tokens=0, rpm=600, tpm=None, now=0.6, horizon=0.1)
    assert not g.granted and g.paused == pytest.approx(1.9)
    assert g.wait == pytest.approx(2.5 - 0.6 - 0.1)
    after = [b.reserve(KEY, tokens=0, rpm=600, tpm=None, now=2.5, horizon=1).wait for _ in range(2)]
    assert after == pytest.approx([0.0, 0.1])
    # No limit at all: the pause alone holds.
    b.pause("other", 1.0, now=0.0)
    assert not b.reserve("other", tokens=0, rpm=None, tpm=None, now=0.0, horizon=0.1).granted


def test_learned_limits_are_shared_and_the_lower_limit_governs() -> None:
    b = budget()
    assert b.reserve(KEY, tokens=0, rpm=None, tpm=None, now=0.0, horizon=0).rpm == 0
    b.learn(KEY, rpm=60, tpm=None)
    g = b.reserve(KEY, tokens=0, rpm=None, tpm=None, now=0.0, horizon=0)
    assert g.rpm == 60
    nxt = b.reserve(KEY, tokens=0, rpm=600, tpm=None, now=0.0, horizon=5)  # 60/min governs
    assert nxt.wait == pytest.approx(1.0)
    b.learn(KEY, rpm=None, tpm=None)  # nothing announced: kept
    assert b.reserve(KEY, tokens=0, rpm=None, tpm=None, now=9, horizon=0).rpm == 60


@pytest.mark.parametrize(
    ("configured", "learned", "expected"),
    [(None, 0, 0.0), (600, 0, 9.9), (None, 600, 9.9), (600, 1200, 9.9), (1200, 600, 9.9)],
)
def test_rate_is_the_lower_limit_with_headroom(
    configured: float | None, learned: float, expected: float
) -> None:
    assert rate_per_second(configured, learned, 0.99) == pytest.approx(expected)


def test_keys_are_independent() -> None:
    b = budget()
    b.reserve(KEY, tokens=0, rpm=60, tpm=None, now=0.0, horizon=5)
    assert b.reserve("surge:ep:other", tokens=0, rpm=60, tpm=None, now=0.0, horizon=5).wait == 0


def test_limiter_addresses() -> None:
    from surge._limits.redis_gate import _redact
    from surge._limits.remote import shared_gate, split_fallback
    from surge._limits.shared_gate import endpoint_id
    from surge.config import Endpoint, Limits
    from surge.errors import ConfigError

    assert split_fallback("redis://h:6379/0?fallback=local") == ("redis://h:6379/0", True)
    assert split_fallback("redis://h:6379/0?fallback=stop&x=1") == ("redis://h:6379/0?x=1", False)
    with pytest.raises(ConfigError, match="fallback must be"):
        split_fallback("redis://h/0?fallback=maybe")
    assert _redact("redis://user:s3cret@cache:6380/2") == "redis://cache:6380/2"
    with pytest.raises(ConfigError, match=r"got memcached://\.\.\.$"):
        shared_gate("memcached://user:s3cret@h:1", Limits(), Endpoint(base_url="http://x"))
    a = endpoint_id(Endpoint(base_url="http://x/v1", api_key="sk-one"))
    b = endpoint_id(Endpoint(base_url="http://x/v1", api_key="sk-two"))
    assert a != b and "sk-" not in a and len(a) == 16  # one budget per key, no key in names


def test_a_slice_books_in_order_until_one_does_not_fit() -> None:
    b = budget()
    grants = b.reserve_many(KEY, tokens=[0] * 5, rpm=600, tpm=None, now=0.0, horizon=0.25)
    assert [g.granted for g in grants] == [True, True, True, False]
    assert [g.wait for g in grants] == pytest.approx([0.0, 0.1, 0.2, 0.05])
    assert b.reserve_many(KEY, tokens=[], rpm=600, tpm=None, now=0.0, horizon=1) == []
