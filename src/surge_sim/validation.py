"""Validate request bodies like the real API and reduce them to what the simulator needs.

Example::

    req = parse_chat({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    req.digest, req.prompt_tokens, req.max_tokens      # ("8f434346648f", 8, None)
    parse_chat({"model": "m"})                          # raises ApiError(400, "Missing ...")

The single-field checks live in ``fields.py``; ``ApiError`` in ``errors.py``.
Token counts follow OpenAI's accounting: each message costs its text plus a few tokens of
framing, and a chat prompt 3 more for priming the reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from .content import count_tokens, prompt_digest
from .errors import ApiError
from .fields import (
    content_text,
    int_param,
    missing,
    model_of,
    number_param,
    output_format,
    service_tier,
    wrong_type,
)

__all__ = [
    "PARSERS",
    "Endpoint",
    "ParsedRequest",
    "parse_chat",
    "parse_embeddings",
    "parse_responses",
]

Endpoint = Literal["chat", "responses", "embeddings"]
_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_MESSAGE_OVERHEAD = 3  # tokens of framing per message (role markers), as OpenAI counts them
_REPLY_PRIMING = 3


@dataclass(slots=True)
class ParsedRequest:
    """The parts of a valid request that decide the answer."""

    endpoint: Endpoint
    model: str
    prompt_tokens: int
    digest: str = ""
    prompt_chars: int = 0  # characters of the prompt text (what rate limiters estimate from)
    service_tier: str | None = None
    max_tokens: int | None = None
    n: int = 1
    output_format: str = "text"  # "text", "json_object" or "json_schema"
    schema: Any = None
    inputs: list[str] = field(default_factory=list)  # embeddings
    dimensions: int | None = None
    encoding_format: str = "float"


def parse_chat(body: Any) -> ParsedRequest:
    """Validate a ``/v1/chat/completions`` body."""
    model = model_of(body)
    messages = body.get("messages")
    if messages is None:
        raise missing("messages")
    if not isinstance(messages, list):
        raise wrong_type("messages", "an array of objects", messages)
    if not messages:
        raise ApiError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    tokens = _REPLY_PRIMING
    chars = 0
    last_user: str | None = None
    last_any = ""
    for i, msg in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise wrong_type(param, "an object", msg)
        role = msg.get("role")
        if role is None:
            raise missing(f"{param}.role")
        if role not in _ROLES:
            raise ApiError(
                400,
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', and 'developer'.",
                param=f"{param}.role",
                code="invalid_value",
            )
        if "content" not in msg and role != "assistant":
            raise missing(f"{param}.content")
        text, extra = content_text(msg.get("content"), f"{param}.content")
        tokens += _MESSAGE_OVERHEAD + 1 + count_tokens(text) + extra
        chars += len(text)
        if isinstance(msg.get("name"), str):
            tokens += 1 + count_tokens(msg["name"])
            chars += len(msg["name"])
        if msg.get("tool_calls"):
            calls = orjson.dumps(msg["tool_calls"]).decode()
            tokens += count_tokens(calls)
            chars += len(calls)
        last_any = text
        if role == "user":
            last_user = text
    if body.get("tools"):
        tools = orjson.dumps(body["tools"]).decode()
        tokens += count_tokens(tools)
        chars += len(tools)
    max_tokens = int_param(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = int_param(body, "max_tokens", 1)
    n = int_param(body, "n", 1) or 1
    if n > 128:
        raise ApiError(
            400,
            f"Invalid 'n': expected a value <= 128, but got {n} instead.",
            param="n",
            code="invalid_value",
        )
    number_param(body, "temperature", 0, 2)
    number_param(body, "top_p", 0, 1)
    fmt, schema = output_format(body.get("response_format"), "response_format", "json_schema")
    return ParsedRequest(
        endpoint="chat",
        model=model,
        prompt_tokens=tokens,
        digest=prompt_digest(last_user if last_user is not None else last_any),
        prompt_chars=chars,
        service_tier=service_tier(body),
        max_tokens=max_tokens,
        n=n,
        output_format=fmt,
        schema=schema,
    )


def parse_responses(body: Any) -> ParsedRequest:
    """Validate a ``/v1/responses`` body."""
    model = model_of(body)
    data = body.get("input")
    if data is None:
        raise missing("input")
    tokens = chars = 0
    last_user: str | None = None
    if isinstance(data, str):
        tokens += _MESSAGE_OVERHEAD + count_tokens(data)
        chars += len(data)
        last_user = data
    elif isinstance(data, list):
        if not data:
            raise ApiError(400, "Invalid 'input': empty array.", param="input", code="empty_array")
        for i, item in enumerate(data):
            if isinstance(item, str):  # lenient: a bare string item is a user message
                item = {"role": "user", "content": item}
            if not isinstance(item, dict):
                raise wrong_type(f"input[{i}]", "an object", item)
            text, extra = content_text(
                item.get("content", item.get("output")), f"input[{i}].content"
            )
            tokens += _MESSAGE_OVERHEAD + count_tokens(text) + extra
            chars += len(text)
            if item.get("role", "user") == "user":
                last_user = text
    else:
        raise wrong_type("input", "one of a string or array of input items", data)
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise wrong_type("instructions", "a string", instructions)
        tokens += _MESSAGE_OVERHEAD + count_tokens(instructions)
        chars += len(instructions)
    text_cfg = body.get("text")
    if text_cfg is not None and not isinstance(text_cfg, dict):
        raise wrong_type("text", "an object", text_cfg)
    fmt, schema = output_format((text_cfg or {}).get("format"), "text.format", "")
    number_param(body, "temperature", 0, 2)
    return ParsedRequest(
        endpoint="responses",
        model=model,
        prompt_tokens=tokens,
        digest=prompt_digest(last_user or ""),
        prompt_chars=chars,
        service_tier=service_tier(body),
        max_tokens=int_param(body, "max_output_tokens", 1),
        output_format=fmt,
        schema=schema,
    )


def parse_embeddings(body: Any) -> ParsedRequest:
    """Validate a ``/v1/embeddings`` body (strings, token arrays, or lists of either)."""
    model = model_of(body)
    data = body.get("input")
    if data is None:
        raise missing("input")
    inputs: list[str]
    if isinstance(data, str):
        inputs = [data]
    elif isinstance(data, list) and data and all(isinstance(x, str) for x in data):
        inputs = list(data)
    elif (
        isinstance(data, list)
        and data
        and all(isinstance(x, int) and not isinstance(x, bool) for x in data)
    ):
        inputs = [orjson.dumps(data).decode()]
    elif isinstance(data, list) and data and all(isinstance(x, list) and x for x in data):
        inputs = [orjson.dumps(x).decode() for x in data]
    else:
        raise ApiError(
            400,
            "'$.input' is invalid. Please check the API reference: it must be a string, an array of "
            "strings, an array of tokens, or an array of token arrays.",
            param="input",
            code="invalid_value",
        )
    if any(not x for x in inputs):
        raise ApiError(
            400,
            "'$.input' is invalid: empty strings are not allowed.",
            param="input",
            code="invalid_value",
        )
    if len(inputs) > 2048:
        raise ApiError(
            400,
            "'$.input' is invalid: at most 2048 inputs per request.",
            param="input",
            code="invalid_value",
        )
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise ApiError(
            400,
            f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    tokens = sum(count_tokens(x) for x in inputs)
    return ParsedRequest(
        endpoint="embeddings",
        model=model,
        prompt_tokens=tokens,
        digest=prompt_digest(inputs[-1]),
        prompt_chars=sum(len(x) for x in inputs),
        inputs=inputs,
        dimensions=int_param(body, "dimensions", 1),
        encoding_format=str(encoding),
    )


PARSERS = {"chat": parse_chat, "responses": parse_responses, "embeddings": parse_embeddings}
