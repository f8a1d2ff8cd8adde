"""Run a coroutine to completion from synchronous code, even inside a running loop.

    results = run_sync(amap(prompts))   # plain script, or a Jupyter cell

Without a running loop this is ``asyncio.run``: Ctrl-C cancels the coroutine (every
request of the run is cancelled and the connections closed) and then raises
``KeyboardInterrupt``. Inside a running loop (Jupyter, an async web framework calling sync
code) the coroutine runs on a fresh loop in a helper thread and this call blocks until it
is done, so the caller's loop is never re-entered; a ``KeyboardInterrupt`` while waiting
(Jupyter's stop button) cancels the coroutine in that thread and waits for the
cancellation to finish before it is re-raised, so nothing keeps sending afterwards.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")

# After an interrupt, how long to wait for the cancelled run to close its connections.
_CANCEL_WAIT = 10.0


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    # Decided outside the ``except`` above, so that errors raised by the run are not
    # chained to the "no running event loop" probe.
    if not _loop_running():
        return asyncio.run(coro)
    return _run_in_thread(coro)


def _run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.new_event_loop()
    task = loop.create_task(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            box["value"] = loop.run_until_complete(task)
        except BaseException as err:  # handed back to the caller's thread below
            box["error"] = err
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    thread = threading.Thread(target=target, name="surge-sync", daemon=True)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(_CANCEL_WAIT)
        raise
    if "error" in box:
        error: BaseException = box["error"]
        raise error
    return box["value"]  # type: ignore[no-any-return]
