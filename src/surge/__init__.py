"""surge: run many LLM API requests concurrently, at the rate limit, losing nothing."""

from .api import amap, as_completed, map, run_file
from .config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigError,
    InputError,
    OutputError,
    RateLimitError,
    RequestError,
    SurgeError,
)
from .events import (
    Event,
    Listener,
    RequestFailed,
    RequestFinished,
    RequestRetrying,
    RequestStarted,
    RunStats,
    StageFinished,
    StageStarted,
)
from .models import ErrorInfo, Request, Result
from .workflows import (
    Answer,
    FanoutResult,
    MapStage,
    ReduceStage,
    StageRunner,
    fanout,
    fanout_sync,
)

__version__ = "0.1.0"

__all__ = [
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
    "Timeout",
    "__version__",
    "amap",
    "as_completed",
    "fanout",
    "fanout_sync",
    "map",
    "run_file",
]
