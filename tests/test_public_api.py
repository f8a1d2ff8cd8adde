"""The public API is exactly ``surge.__all__``; changing it is a deliberate act."""

from __future__ import annotations

import importlib
import inspect

import surge

PUBLIC = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "Answer",
    "ConfigError",
    "Endpoint",
    "ErrorInfo",
    "Event",
    "FanoutResult",
    "InputError",
    "Limits",
    "Listener",
    "MapStage",
    "OutputError",
    "RateLimitError",
    "ReduceStage",
    "Request",
    "RequestError",
    "RequestFailed",
    "RequestFinished",
    "RequestRetrying",
    "RequestStarted",
    "Result",
    "RetryPolicy",
    "RunOptions",
    "RunStats",
    "StageFinished",
    "StageRunner",
    "StageStarted",
    "SurgeError",
    "TableRun",
    "Timeout",
    "__version__",
    "amap",
    "as_completed",
    "fanout",
    "fanout_sync",
    "map",
    "run_file",
    "run_table",
    "run_table_sync",
]


def test_all_is_pinned_and_sorted() -> None:
    assert surge.__all__ == PUBLIC
    assert sorted(surge.__all__) == surge.__all__


def test_everything_in_all_is_importable() -> None:
    module = importlib.import_module("surge")
    for name in surge.__all__:
        assert getattr(module, name, None) is not None, name
    namespace: dict[str, object] = {}
    exec("from surge import *", namespace)
    assert set(PUBLIC) - {"__version__"} <= set(namespace)


def test_every_error_derives_from_the_root() -> None:
    errors = [getattr(surge, n) for n in PUBLIC if n.endswith("Error")]
    assert len(errors) == 9
    assert all(issubclass(e, surge.SurgeError) for e in errors)
    assert issubclass(surge.RateLimitError, surge.APIStatusError)
    assert issubclass(surge.ConfigError, ValueError)


def test_version_is_a_string() -> None:
    assert isinstance(surge.__version__, str) and surge.__version__.count(".") == 2


# The entry points spell out every keyword (IDE completion, help()); changing one is a
# deliberate act too. Shared by amap/as_completed, then by run_file.
_RUN = ["endpoint", "limits", "retry", "timeout", "options"]
_WIRING = ["on_event", "stats", "transport"]
_SCHEMA = ["schema", "validation_retries", "limiter"]
SIGNATURES = {
    "amap": (["requests"], [*_RUN, "model", "output", *_WIRING, *_SCHEMA]),
    "as_completed": (["requests"], [*_RUN, "model", "output", *_WIRING, *_SCHEMA]),
    "run_file": (["input_path", "output"], [*_RUN, "input_format", *_WIRING, "steps", *_SCHEMA]),
}


def test_entry_points_spell_out_their_keywords() -> None:
    for name, (positional, keywords) in SIGNATURES.items():
        params = inspect.signature(getattr(surge, name)).parameters.values()
        kinds = {p.name: p.kind for p in params}
        assert list(kinds) == [*positional, *keywords], name
        assert all(kinds[k] is inspect.Parameter.KEYWORD_ONLY for k in keywords), name
