"""The one exception tree of surge.

    try:
        results = surge.map(prompts, endpoint=surge.Endpoint(base_url=url))
    except surge.SurgeError as err:
        print(err)

Tree::

    SurgeError                 root: catch this to catch everything surge raises
    ├── ConfigError            bad options, or an endpoint that refuses every request
    │                          (wrong URL, key or model; exit code 2 on the CLI)
    ├── InputError             one input line is unusable (line number + reason);
    │                          recorded as that line's result, never stops the run
    ├── OutputError            the output file cannot be read back or written: the run
    │   │                      stops (exit code 3 on the CLI; the same command resumes)
    │   └── OutputRefusedError an output surge may not write (in use by another run, not
    │                          surge output, a device or /proc file): refused untouched
    │                          before anything is sent (exit code 2)
    ├── LimiterError           the shared rate limiter (--limiter) cannot be reached
    └── RequestError           one request ended without a usable answer
        ├── APIStatusError     the server answered with a non-2xx status
        │   └── RateLimitError     ... with 429
        ├── APIConnectionError the connection failed or was reset
        └── APITimeoutError    an attempt exceeded its timeout

Request errors are *recorded* on the result (``Result.error``), not raised, so one bad
request never stops a run; :meth:`surge.Result.raise_for_error` raises the matching class
for callers who prefer exceptions, and the transport raises the connection and timeout
errors that the retry policy matches on.
"""

from __future__ import annotations

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ConfigError",
    "InputError",
    "LimiterError",
    "OutputError",
    "OutputRefusedError",
    "RateLimitError",
    "RequestError",
    "SurgeError",
]


class SurgeError(Exception):
    """Root of every error surge raises."""


class ConfigError(SurgeError, ValueError):
    """An option or combination of options is invalid."""


class OutputError(SurgeError):
    """The output file cannot be read back (for resume) or written."""


class LimiterError(SurgeError):
    """The shared rate limiter (``--limiter redis://...``) cannot be reached.

    Raised before anything is sent when it is unreachable at the start; raised after the
    requests in flight have finished when it becomes unreachable during a run.
    """


class OutputRefusedError(OutputError):
    """The output is not a file surge may write; it was left untouched."""


class InputError(SurgeError):
    """One input line cannot become a request.

    ``line`` is 1-based; ``code`` is a short machine-readable reason; ``custom_id`` is the
    line's own id when it could be read (its error line keeps it).
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        code: str = "invalid_input",
        custom_id: str | None = None,
    ):
        self.line = line
        self.code = code
        self.custom_id = custom_id
        self.reason = message
        super().__init__(f"line {line}: {message}" if line is not None else message)


class RequestError(SurgeError):
    """A request ended without a usable answer. ``code`` is a short reason."""

    code = "request_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class APIStatusError(RequestError):
    """The server answered with a non-success HTTP status."""

    code = "http_error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: object = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status_code = status_code
        self.body = body


class RateLimitError(APIStatusError):
    """The server answered 429 Too Many Requests."""

    code = "rate_limit_exceeded"


class APIConnectionError(RequestError):
    """The connection could not be made, or was closed without an answer.

    ``at_connect`` is true when no connection was ever made (refused, DNS failure, TLS
    mismatch): the endpoint itself is wrong rather than busy.
    """

    code = "connection_error"

    def __init__(self, message: str, *, code: str | None = None, at_connect: bool = False):
        super().__init__(message, code=code)
        self.at_connect = at_connect


class APITimeoutError(RequestError):
    """An attempt took longer than the configured timeout."""

    code = "timeout"
