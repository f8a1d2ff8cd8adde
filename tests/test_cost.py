"""Prices, the budget's reservation arithmetic, estimates and the meter (no server)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from surge.cost.budget import Budget
from surge.cost.estimate import Estimate, Estimator, wall_time
from surge.cost.meter import CostMeter
from surge.cost.prices import Price, PriceBook, tier_of
from surge.errors import ConfigError
from surge.events import RequestFinished
from surge.models import ErrorInfo, Request, Result

PRICE = Price(input=2.0, output=8.0, cached_input=0.5)


@pytest.mark.parametrize(
    ("usage", "tier", "usd"),
    [
        ({"input": 1_000_000, "output": 0}, "default", 2.0),
        ({"input": 0, "output": 1_000_000}, "default", 8.0),
        ({"input": 1_000_000, "output": 1_000_000}, "batch", 5.0),
        ({"input": 1_000_000, "output": 1_000_000}, "flex", 5.0),
        ({"input": 1_000_000, "output": 0, "cached": 500_000}, "default", 1.25),
        ({"input": 100, "output": 0, "cached": 900}, "default", 100 * 0.5 / 1e6),
    ],
)
def test_price_cost(usage, tier, usd):
    assert PRICE.cost(**usage, tier=tier) == pytest.approx(usd)


def test_tier_of_body():
    assert tier_of({"service_tier": "flex"}) == "flex"
    assert tier_of({"service_tier": "auto"}) == "default"


def test_price_file_overrides_and_validation(tmp_path: Path):
    path = tmp_path / "prices.json"
    path.write_text(
        '{"my-model": {"input": 1, "output": 3, "batch": 0.25}, "gpt-4o-mini": {"input": 9, "output": 9}}'
    )
    book = PriceBook.load(path)
    mine = book.price("my-model")
    assert mine == Price(input=1.0, output=3.0, batch=0.25, flex=0.25)
    assert book.price("gpt-4o-mini") == Price(input=9.0, output=9.0)  # the file wins
    for bad, message in [
        ('{"m": {"input": 1}}', "lacks 'output'"),
        ('{"m": {"input": "x", "output": 1}}', "numbers"),
        ('{"m": {"input": -1, "output": 1}}', ">= 0"),
        ('{"m": {"input": 1, "output": 1, "typo": 2}}', "unknown keys"),
        ("[1]", "JSON object"),
        ("{", "not JSON"),
    ]:
        path.write_text(bad)
        with pytest.raises(ConfigError, match=message):
            PriceBook.load(path)


def test_library_prices_known_and_unknown_models():
    book = PriceBook()
    mini = book.price("gpt-4o-mini")
    assert mini is not None and 0 < mini.input < mini.output
    assert mini.cached_input is not None and mini.cached_input < mini.input
    assert mini.batch == 0.5
    assert book.price("no-such-model-xyz") is None
    assert book.price(None) is None


def test_prices_loaded_in_the_background_are_the_same_prices():
    book = PriceBook()
    book.load_in_background()
    book.load_in_background()  # once only
    assert book.price("gpt-4o-mini") == PriceBook().price("gpt-4o-mini")
    assert book.known("gpt-4o-mini") and book.price("no-such-model-xyz") is None
    overrides = PriceBook({"m": PRICE}, library=False)
    overrides.load_in_background()  # nothing to load: no thread
    assert overrides.price("m") == PRICE and overrides.price("gpt-4o-mini") is None


@pytest.mark.parametrize(
    ("limit", "spent", "reserved", "amount", "fits"),
    [
        (None, 100.0, 100.0, 100.0, True),
        (1.0, 0.0, 0.0, 1.0, True),
        (1.0, 0.5, 0.4, 0.1, True),
        (1.0, 0.5, 0.4, 0.11, False),
        (1.0, 1.0, 0.0, 1e-9, False),
        (0.0, 0.0, 0.0, 0.0, True),
    ],
)
def test_budget_fits(limit, spent, reserved, amount, fits):
    budget = Budget(limit, spent=spent, reserved=reserved)
    assert budget.try_reserve(amount) is fits
    assert budget.refused == (0 if fits else 1)
    assert budget.reserved == pytest.approx(reserved + (amount if fits else 0.0))


def test_budget_settle_releases_and_charges():
    budget = Budget(1.0)
    assert budget.try_reserve(0.6)
    assert not budget.try_reserve(0.6)  # in flight reservations count
    budget.settle(0.6, 0.2)
    assert (budget.spent, budget.reserved, budget.remaining) == (
        pytest.approx(0.2),
        0.0,
        pytest.approx(0.8),
    )
    assert budget.try_reserve(0.6)
    with pytest.raises(ValueError):
        Budget(-1)


def test_estimator_counts_tokens_and_prices_three_ways():
    estimator = Estimator(PriceBook({"m": PRICE}, library=False), expected_output=100)
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hello world"}],
        "max_tokens": 10,
    }
    estimator.add(Request(custom_id="a", body=body))
    estimator.add(Request(custom_id="b", body={**body, "max_tokens": None, "n": 2}))
    estimator.add(Request(custom_id="c", body={"model": "unknown", "messages": []}))
    est = estimator.result
    assert est.requests == 3
    assert est.output_tokens == 10 + 200 + 100
    prompt = est.input_tokens
    assert prompt > 0
    assert est.unpriced == {"unknown": 1} and not est.priced
    assert est.cost["batch"] == pytest.approx(est.cost["online"] / 2)
    assert est.to_dict()["cost_usd"] is None


@pytest.mark.parametrize(
    ("kwargs", "seconds"),
    [
        ({"rpm": 600, "tpm": None, "concurrency": 100, "latency": 1.0}, 100.0),  # rpm-bound
        ({"rpm": None, "tpm": 60_000, "concurrency": 100, "latency": 1.0}, 200.0),  # tpm-bound
        ({"rpm": None, "tpm": None, "concurrency": 10, "latency": 2.0}, 200.0),  # latency-bound
    ],
)
def test_wall_time_is_the_slowest_limit(kwargs, seconds):
    est = Estimate(requests=1000, input_tokens=150_000, output_tokens=50_000)
    assert wall_time(est, **kwargs) == pytest.approx(seconds)
    assert wall_time(Estimate(), **kwargs) == 0.0
    assert math.isfinite(wall_time(est, **kwargs))


def test_meter_adds_billed_failures_and_cache_hits():
    meter = CostMeter()
    meter(
        RequestFinished(
            Result("a", status_code=200, body={"usage": {"prompt_tokens": 1}}, cost=0.5)
        )
    )
    meter(RequestFinished(Result("b", status_code=200, body={}, cached=True, cost=0.0)))
    meter(
        RequestFinished(
            Result("c", error=ErrorInfo("invalid_response", "x"), status_code=200, cost=0.25)
        )
    )
    meter(RequestFinished(Result("d", status_code=200, body={"usage": {"prompt_tokens": 1}})))
    assert meter.spent == pytest.approx(0.75) and meter.billed_failures == pytest.approx(0.25)
    assert meter.cache_hits == 1 and meter.unpriced == 1
    text = meter.describe()
    assert "$0.7500" in text and "1 cache hits" in text and "failed but billed $0.2500" in text
