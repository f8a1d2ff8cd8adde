"""Shared fixtures: simulators on loopback, started per test and stopped at teardown.

Example::

    def test_retries(sim_factory):
        sim = sim_factory(error_503=0.2, seed=3)      # any SimConfig keyword
        run_cli("--base-url", sim.base_url, ...)
        assert sim.stats()["by_status"]["200"] == 100

    async def test_plain(sim):                        # zero latency, no limits, no faults
        ...

Each simulator runs in a daemon thread with its own event loop, so the same fixtures serve
sync tests, async tests and tests that drive the CLI in a subprocess. Start and stop take
a few milliseconds.

The session gets its own ``XDG_CACHE_HOME`` (inherited by every CLI it starts): surge keeps
genai-prices' answers there (``surge.cost.library_cache``), so only the session's first
priced run loads the library, and nothing is read from or left in the user's own cache.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from surge_sim import SimConfig, Simulator

_CACHE_HOMES: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    _CACHE_HOMES.append(tempfile.mkdtemp(prefix="surge-test-cache-"))
    os.environ["XDG_CACHE_HOME"] = _CACHE_HOMES[-1]


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _CACHE_HOMES:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., Simulator]]:
    """``make(**SimConfig kwargs) -> Simulator`` already serving; all are stopped at teardown."""
    started: list[Simulator] = []

    def make(**config: Any) -> Simulator:
        sim = Simulator(SimConfig(**config)).start_thread()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop_thread()


@pytest.fixture
def sim(sim_factory: Callable[..., Simulator]) -> Simulator:
    """A simulator with zero latency, no rate limits and no faults."""
    return sim_factory()
