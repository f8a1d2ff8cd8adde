"""The validation step: ask for a structured answer, check it, re-ask when it is wrong.

    step = ValidateStep(OutputSchema.coerce(Sentiment), retries=2)
    engine = Engine(settings, steps=[step])

Around one attempt (see ``attempt.py``): before sending, the body gets the schema's request
field (``response_format`` for Chat Completions, ``text.format`` for Responses); after a
successful answer, the reply is validated. A valid reply sets ``attempt.parsed``. An invalid
one becomes a ``retry`` with a re-ask body (the reply and the validation error appended, so
the model can correct itself) until ``retries`` re-asks were made, then a ``fail``
(``invalid_output``) that keeps the server's answer, and so the raw text. Refusals and
replies cut off at the token limit fail at once (``refusal``, ``truncated``): asking again
would not change them.
"""

from __future__ import annotations

import logging

from .._schema import OutputSchema, judge, reask_body, reasks_so_far
from ..errors import ConfigError
from ..models import ErrorInfo
from .attempt import Attempt, Next, Outcome

__all__ = ["ValidateStep"]

log = logging.getLogger(__name__)


class ValidateStep:
    """Structured outputs as one attempt step."""

    def __init__(self, schema: OutputSchema, *, retries: int = 2) -> None:
        if retries < 0:
            raise ValueError("validation retries must be >= 0")
        self.schema = schema
        self.retries = retries

    async def __call__(self, attempt: Attempt, call_next: Next) -> Outcome:
        url = attempt.request.url
        try:
            attempt.body = self.schema.apply(attempt.body, url)
        except ConfigError as err:  # an embeddings line in a structured run: its own error
            return Outcome("fail", error=ErrorInfo("invalid_input", str(err)))
        outcome = await call_next(attempt)
        if outcome.kind != "ok":
            return outcome
        verdict = judge(attempt.data, url, self.schema)
        if verdict.kind == "ok":
            attempt.parsed = verdict.parsed
            return outcome
        if verdict.kind == "invalid":
            done = reasks_so_far(attempt.request.body, attempt.body, url)
            if done < self.retries:
                log.debug(
                    "re-ask %s (%d/%d): %s",
                    attempt.request.custom_id,
                    done + 1,
                    self.retries,
                    verdict.message,
                )
                body = reask_body(attempt.body, url, verdict.text, verdict.message)
                return Outcome("retry", reason="invalid_output", body=body)
            n = done + 1
            message = (
                f"the reply does not match the schema after {n} "
                f"attempt{'s' if n > 1 else ''}: {verdict.message}"
            )
            return Outcome("fail", error=ErrorInfo("invalid_output", message))
        return Outcome("fail", error=ErrorInfo(verdict.kind, verdict.message))
