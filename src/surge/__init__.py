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
from .events import Event, Listener, RequestFinished, RequestRetrying, RequestStarted, RunStats
from .models import ErrorInfo, Request, Result

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ConfigError",
    "Endpoint",
    "ErrorInfo",
    "Event",
    "InputError",
    "Limits",
    "Listener",
    "OutputError",
    "RateLimitError",
    "Request",
    "RequestError",
    "RequestFinished",
    "RequestRetrying",
    "RequestStarted",
    "Result",
    "RetryPolicy",
    "RunOptions",
    "RunStats",
    "SurgeError",
    "Timeout",
    "__version__",
    "amap",
    "as_completed",
    "map",
    "run_file",
]
