"""What an OpenAI-compatible server's answer means: the one parser for error and usage fields.

    error_from_response(429, {"error": {"code": "rate_limit_exceeded", "message": "..."}})
    usage_counts({"usage": {"prompt_tokens": 12, "completion_tokens": 3}})  # Usage(12, 3, 0)

Chat Completions, Responses and Embeddings name their usage fields differently
(``prompt_tokens``/``input_tokens``, ``completion_tokens``/``output_tokens``, cached tokens
under ``*_tokens_details``); every other module reads usage through :func:`usage_counts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..models import ErrorInfo

__all__ = ["Usage", "error_from_response", "usage_counts"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts a server reported for one answer."""

    input: int
    output: int
    cached_input: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output


def usage_counts(body: Any) -> Usage | None:
    """The usage of a response body, or ``None`` when it reports none (or a malformed one)."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens", 0))
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
    cached = details.get("cached_tokens", 0) if isinstance(details, dict) else 0
    return Usage(prompt, completion, cached if isinstance(cached, int) else 0)


def error_from_response(status: int, body: Any) -> ErrorInfo:
    """A short code and the server's own message, from an OpenAI-style error body."""
    message = ""
    code = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        message = str(err.get("message") or "")
        code = err.get("code") or err.get("type")
    elif isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
    elif isinstance(body, str):
        message = body[:500]
    code = str(code) if code else ("rate_limit_exceeded" if status == 429 else f"http_{status}")
    return ErrorInfo(code, f"HTTP {status}: {message}".rstrip(": ") or f"HTTP {status}")
