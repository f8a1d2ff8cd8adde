"""The latency sketch: percentiles within 1%, constant memory."""

from __future__ import annotations

import random
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surge._sketch import LatencySketch


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


@given(st.lists(st.floats(min_value=0.001, max_value=3000.0), min_size=1, max_size=400))
def test_every_quantile_is_within_two_percent_of_a_value_at_that_rank(values: list[float]) -> None:
    sketch = LatencySketch()
    sketch.extend(values)
    for q in (0.0, 0.5, 0.95, 0.99, 1.0):
        assert sketch.quantile(q) == pytest.approx(exact(values, q), rel=0.02)
    assert sketch.mean == pytest.approx(sum(values) / len(values))
    assert len(sketch) == len(values)


def test_memory_does_not_grow_with_the_number_of_values() -> None:
    sketch = LatencySketch()
    size = sys.getsizeof(sketch._counts)
    rng = random.Random(1)
    for _ in range(200_000):
        sketch.add(rng.lognormvariate(0, 1))
    assert sys.getsizeof(sketch._counts) == size < 16_000


def test_out_of_range_values_are_clamped_and_empty_is_zero() -> None:
    sketch = LatencySketch()
    assert sketch.quantile(0.5) == 0.0 and sketch.mean == 0.0
    sketch.extend([0.0, 1e9])
    assert sketch.quantile(0.0) == 0.0 and sketch.quantile(1.0) == 1e9
