"""End-to-end tests: the real CLI and library against the simulator on loopback."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a long end-to-end run (deselect with -m 'not slow')")
