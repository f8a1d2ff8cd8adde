"""Fail fast when the endpoint itself is wrong, instead of after every request's retries.

    wire = Tripwire()
    chain = compose([FailFastStep(wire, on_trip=engine.request_stop), ...], sender)
    ...
    if wire.tripped:                      # after the run
        raise ConfigError(explain(wire.tripped, url))   # exit code 2 on the CLI

Until some attempt proves the endpoint works (any answer but 3xx/401/403/404: a 2xx, a
400, a 429, a 5xx), one attempt that shows the endpoint is wrong trips the wire: a key
refused (401/403), a URL or model the server does not know (404), a redirect, or no
connection at all (refused, DNS failure, TLS mismatch). Transient trouble (5xx, resets,
timeouts, 429) proves the endpoint exists and disarms it. Once disarmed, such answers are
that one request's error. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import APIConnectionError, RequestError
from .attempt import Attempt, Next, Outcome

__all__ = ["EndpointProblem", "FailFastStep", "Tripwire", "endpoint_problem", "explain"]


@dataclass(frozen=True, slots=True)
class EndpointProblem:
    """What one attempt showed to be wrong with the endpoint."""

    status: int | None  # None: no connection was made
    message: str
    model: str | None = None


def endpoint_problem(
    status: int | None,
    message: str,
    *,
    transport_error: RequestError | None = None,
    model: str | None = None,
) -> EndpointProblem | None:
    """The endpoint problem one attempt shows, or ``None`` if it shows none."""
    if status is None:
        if isinstance(transport_error, APIConnectionError) and transport_error.at_connect:
            return EndpointProblem(None, message, model)
        return None
    if status in (401, 403, 404) or 300 <= status < 400:
        return EndpointProblem(status, message, model)
    return None


class Tripwire:
    """Armed until the endpoint answers once; trips on the first endpoint problem."""

    def __init__(self) -> None:
        self.armed = True
        self.tripped: EndpointProblem | None = None

    def observe(
        self,
        status: int | None,
        message: str,
        *,
        transport_error: RequestError | None = None,
        model: str | None = None,
    ) -> EndpointProblem | None:
        """Account one finished attempt; return the problem if this one trips the wire."""
        if self.tripped is not None:
            return self.tripped
        problem = endpoint_problem(status, message, transport_error=transport_error, model=model)
        if problem is None:
            if status is not None:
                self.armed = False  # the server answered: URL and key are right
            return None
        if not self.armed:
            return None
        self.tripped = problem
        return problem


def explain(problem: EndpointProblem, url: str) -> str:
    """One clear sentence: what the endpoint said, and which option to check."""
    message = problem.message or "no answer"
    status = problem.status
    if status is None:
        return f"cannot reach {url}: {message}. Check --base-url (or OPENAI_BASE_URL)."
    if status in (401, 403):
        return f"{url} refused the request: {message}. Check --api-key (or OPENAI_API_KEY)."
    if status == 404:
        model = f"model {problem.model!r}" if problem.model else "the model"
        return (
            f"{url} answered 404: {message}. Check that --base-url ends in /v1 and that "
            f"{model} exists there."
        )
    if 300 <= status < 400:
        return f"{url} answered with a redirect: {message}. Use the final URL as --base-url."
    return f"the first request to {url} failed: {message}"


class FailFastStep:
    """The attempt step that watches every sent attempt with a :class:`Tripwire`.

    Outermost in the chain, so answers that were never sent (a cache hit) are not
    counted. Once tripped it calls ``on_trip`` (stop the run) and turns every failed
    attempt into ``abandon``: nothing refused by a wrong endpoint is written, so the same
    command resumes every request once the option is fixed.
    """

    def __init__(self, wire: Tripwire, *, on_trip: Callable[[], None]) -> None:
        self._wire = wire
        self._on_trip = on_trip

    async def __call__(self, attempt: Attempt, call_next: Next) -> Outcome:
        outcome = await call_next(attempt)
        if outcome.kind == "abandon" or attempt.sent_at is None:
            return outcome
        error = outcome.error
        if error is not None:
            message = error.message
        elif attempt.transport_error is not None:
            message = attempt.transport_error.message
        else:
            message = outcome.reason
        model = attempt.body.get("model")
        was_tripped = self._wire.tripped is not None
        problem = self._wire.observe(
            attempt.status,
            message,
            transport_error=attempt.transport_error,
            model=model if isinstance(model, str) else None,
        )
        if problem is None:
            return outcome
        if not was_tripped:
            self._on_trip()
        return outcome if outcome.kind == "ok" else Outcome.abandon()
