"""Run a coroutine to completion from synchronous code, even inside a running loop.

    results = run_sync(amap(prompts))   # plain script, or a Jupyter cell

Without a running loop this is ``asyncio.run``. Inside one (Jupyter, an async web
framework calling sync code) the coroutine runs on a fresh loop in a helper thread and
this call blocks until it is done, so the caller's loop is never re-entered.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)

    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as err:  # handed back to the caller's thread below
            box["error"] = err

    thread = threading.Thread(target=target, name="surge-sync", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]
