"""A request going out and the result coming back.

    req = surge.Request(custom_id="q1", url="/v1/chat/completions",
                        body={"model": "gpt-4.1-mini", "messages": [...]})
    result = (await surge.amap([req]))[0]
    if result.ok:
        print(result.text, result.usage)
    else:
        print(result.error.code, result.error.message)

A :class:`Result` serialises to one line of the OpenAI Batch API *output* format, plus
surge's own metadata under the ``"surge"`` key.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from ._constants import OUTPUT_METADATA_KEY
from ._failures import failure_kind as _failure_kind

__all__ = ["ErrorInfo", "FailureKind", "Request", "Result", "failure_kind"]

# Result ids are unique without a system call per result (os.urandom showed up at ~80 µs a
# call on a loaded machine): a random prefix per process, then a counter.
_ID_PREFIX = "batch_req_" + os.urandom(6).hex()
_id_counter = itertools.count(1)


def _new_id_prefix() -> None:  # a forked worker must not repeat its parent's ids
    global _ID_PREFIX, _id_counter
    _ID_PREFIX = "batch_req_" + os.urandom(6).hex()
    _id_counter = itertools.count(1)


os.register_at_fork(after_in_child=_new_id_prefix)


def _hex64(value: object) -> int | None:
    """A 16-hex-digit metadata value as an int (None if it is not one)."""
    if not isinstance(value, str) or len(value) != 16:
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


def _new_result_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):012x}"


FailureKind = Literal["permanent", "transient"]


def failure_kind(status_code: int | None, error_code: str | None) -> FailureKind:
    """Transient (could succeed if sent again) or permanent: the rule of
    :func:`surge._failures.failure_kind`, typed."""
    return "transient" if _failure_kind(status_code, error_code) == "transient" else "permanent"


def _plain(value: Any) -> Any:
    """A parsed answer as JSON-ready data (pydantic models are dumped)."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


@dataclass(slots=True)
class Request:
    """One request: a Batch-API request line, already validated.

    ``line`` is the 1-based input line (``None`` for requests built in code);
    ``estimated_tokens`` is filled by the engine before the rate limiter sees it.
    """

    custom_id: str
    body: dict[str, Any]
    url: str = "/v1/chat/completions"
    method: str = "POST"
    line: int | None = None
    index: int = 0  # position in the input stream (for ordering), set by the source
    # Set by the ledger: what this request sends, hashed (see surge.io.records.fingerprint).
    fingerprint: str | None = None
    # The custom_id was derived from the content (no id in the input): a repeat of the same
    # content is its next occurrence (``t-...-2``), not a duplicate.
    content_id: bool = False
    # Set by the input reader: the digest of the input line this request was built from
    # (see surge.io.linedigest); recorded with its result so a resume knows the line.
    source: int | None = None


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """Why a request produced no usable answer. ``code`` is short and stable."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(slots=True)
class Result:
    """The final outcome of one request (after any retries)."""

    custom_id: str
    line: int | None = None
    index: int = 0
    status_code: int | None = None
    body: Any = None
    request_id: str | None = None
    error: ErrorInfo | None = None
    attempts: int = 0
    latency: float | None = None  # seconds, first attempt start to final answer
    line_error: bool = False  # the input line itself was invalid (never sent)
    # The structured answer, validated (``schema=``): a pydantic model instance, or plain
    # data for a JSON schema (and for results read back from an output file).
    parsed: Any = None
    cached: bool = False  # answered from the response cache (nothing sent, nothing paid)
    cost: float | None = None  # USD billed for this request (every attempt), when priced
    notes: dict[str, Any] | None = None  # what attempt steps recorded (e.g. service_tier)
    fingerprint: str | None = None  # of the request this answers (None: never sent)
    source: int | None = None  # digest of the input line it answers (surge.io.linedigest)
    id: str = field(default_factory=lambda: _new_result_id())

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and self.status_code < 300

    @property
    def failure(self) -> FailureKind | None:
        """``None`` when ok; else whether sending it again could succeed."""
        if self.ok:
            return None
        if self.line_error:
            return "permanent"
        return failure_kind(self.status_code, self.error.code if self.error else None)

    @property
    def usage(self) -> dict[str, Any] | None:
        if isinstance(self.body, dict):
            usage = self.body.get("usage")
            if isinstance(usage, dict):
                return usage
        return None

    @property
    def text(self) -> str | None:
        """The answer's text: chat ``choices[0].message.content`` or Responses ``output_text``."""
        body = self.body
        if not isinstance(body, dict) or not self.ok:
            return None
        choices = body.get("choices")
        if isinstance(choices, list) and choices:
            first = choices[0]
            if isinstance(first, dict):
                message = first.get("message")
                if isinstance(message, dict):
                    content = message.get("content")
                    return content if isinstance(content, str) else None
                text = first.get("text")  # legacy completions
                return text if isinstance(text, str) else None
        if isinstance(body.get("output_text"), str):
            return str(body["output_text"])
        output = body.get("output")
        if isinstance(output, list):
            parts = [
                part.get("text", "")
                for item in output
                if isinstance(item, dict) and item.get("type") == "message"
                for part in item.get("content") or ()
                if isinstance(part, dict) and part.get("type") == "output_text"
            ]
            return "".join(parts) if parts else None
        return None

    def raise_for_error(self) -> None:
        """Raise the :class:`~surge.RequestError` subclass matching this result's error.

        ``APIStatusError`` (``RateLimitError`` for a 429) when the server answered,
        ``APITimeoutError``/``APIConnectionError`` when it did not; nothing when ok.
        """
        from .errors import (
            APIConnectionError,
            APIStatusError,
            APITimeoutError,
            RateLimitError,
            RequestError,
        )

        if self.ok:
            return
        code = self.error.code if self.error is not None else "request_error"
        message = f"{self.custom_id}: {self.error.message if self.error else 'no answer'}"
        if self.status_code is not None:
            cls = RateLimitError if self.status_code == 429 else APIStatusError
            raise cls(message, status_code=self.status_code, body=self.body, code=code)
        if code == APITimeoutError.code:
            raise APITimeoutError(message)
        if code == APIConnectionError.code:
            raise APIConnectionError(message)
        raise RequestError(message, code=code)

    def to_output(self, *, supersedes: bool = False) -> dict[str, Any]:
        """This result as one Batch-API output record (a dict ready for JSON).

        ``supersedes``: the file this line goes to already holds a line for its custom_id,
        which this one replaces (see surge.io.recorded).
        """
        response = None
        if self.status_code is not None:
            response = {
                "status_code": self.status_code,
                "request_id": self.request_id,
                "body": self.body,
            }
        meta: dict[str, Any] = {"line": self.line, "attempts": self.attempts}
        if self.latency is not None:
            meta["latency_ms"] = round(self.latency * 1000, 1)
        if self.parsed is not None:
            meta["parsed"] = _plain(self.parsed)
        if self.cached:
            meta["cache"] = "hit"
        if self.cost is not None:
            meta["cost_usd"] = round(self.cost, 8)
        if self.notes:
            meta.update(self.notes)
        # Last, and in this order: resume reads them from the end of the line without
        # parsing it (surge.io.records). null marks an invalid line (nothing was sent).
        meta.pop("source", None)
        meta.pop("supersedes", None)
        meta.pop("fingerprint", None)
        meta.pop("failure", None)
        if self.source is not None and self.fingerprint is not None:
            meta["source"] = f"{self.source:016x}"
        if supersedes:
            meta["supersedes"] = True
        if self.fingerprint is not None or self.line_error:
            meta["fingerprint"] = self.fingerprint
        failure = self.failure
        if failure is not None:
            meta["failure"] = failure
        return {
            "id": self.id,
            "custom_id": self.custom_id,
            "response": response,
            "error": self.error.to_dict() if self.error is not None else None,
            OUTPUT_METADATA_KEY: meta,
        }

    @classmethod
    def from_output(cls, record: dict[str, Any]) -> Result:
        """Rebuild a result from an output record (as written by :meth:`to_output`)."""
        response = record.get("response") or None
        error = record.get("error") or None
        meta = record.get(OUTPUT_METADATA_KEY) or {}
        latency_ms = meta.get("latency_ms")
        cost = meta.get("cost_usd")
        return cls(
            custom_id=str(record.get("custom_id")),
            line=meta.get("line"),
            status_code=response.get("status_code") if response else None,
            body=response.get("body") if response else None,
            request_id=response.get("request_id") if response else None,
            error=ErrorInfo(str(error.get("code")), str(error.get("message")))
            if isinstance(error, dict)
            else None,
            attempts=int(meta.get("attempts") or 0),
            latency=latency_ms / 1000 if isinstance(latency_ms, int | float) else None,
            line_error=isinstance(error, dict) and error.get("code") == "invalid_input",
            parsed=meta.get("parsed"),
            cached=meta.get("cache") == "hit",
            cost=float(cost) if isinstance(cost, int | float) else None,
            fingerprint=fp if isinstance(fp := meta.get("fingerprint"), str) else None,
            source=_hex64(meta.get("source")),
            id=str(record.get("id") or _new_result_id()),
        )
