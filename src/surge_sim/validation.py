"""Validate request bodies like the real API and reduce them to what the simulator needs.

Example::

    req = parse_chat({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    req.digest, req.prompt_tokens, req.max_tokens      # ("8f434346648f", 8, None)
    parse_chat({"model": "m"})                          # raises ApiError(400, "Missing ...")

Token counts follow OpenAI's accounting: each message costs its text plus a few tokens of
framing, and a chat prompt 3 more for priming the reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from .content import count_tokens, prompt_digest

Endpoint = Literal["chat", "responses", "embeddings"]
_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_MESSAGE_OVERHEAD = 3  # tokens of framing per message (role markers), as OpenAI counts them
_REPLY_PRIMING = 3
_IMAGE_TOKENS = 85  # a low-detail image


class ApiError(Exception):
    """An error answered with an OpenAI-style body: ``{"error": {message, type, param, code}}``.

    Example::

        raise ApiError(400, "Missing required parameter: 'model'.", param="model",
                       code="missing_required_parameter")
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        err = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return {"error": err}


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


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _wrong_type(param: str, expected: str, value: Any) -> ApiError:
    got = _json_type(value)
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {'an' if got[0] in 'aeiou' else 'a'} {got} instead.",
        param=param,
        code="invalid_type",
    )


def _missing(param: str) -> ApiError:
    return ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def _common(body: Any, endpoint: str) -> str:
    if not isinstance(body, dict):
        raise _wrong_type("body", "an object", body) if body is not None else _missing("model")
    if body.get("stream"):
        raise ApiError(
            400,
            "streaming is not supported by the simulator",
            param="stream",
            code="unsupported_value",
        )
    model = body.get("model")
    if model is None:
        raise _missing("model")
    if not isinstance(model, str) or not model:
        raise _wrong_type("model", "a non-empty string", model)
    return model


def _int_param(body: dict[str, Any], name: str, minimum: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _wrong_type(name, "an integer", value)
    if value < minimum:
        raise ApiError(
            400,
            f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, but got {value} instead.",
            param=name,
            code="integer_below_min_value",
        )
    return value


def _number_param(body: dict[str, Any], name: str, lo: float, hi: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _wrong_type(name, "a number", value)
    if not lo <= value <= hi:
        raise ApiError(
            400,
            f"Invalid '{name}': expected a value between {lo:g} and {hi:g}, but got {value} instead.",
            param=name,
            code="invalid_value",
        )


def _content_text(content: Any, param: str) -> tuple[str, int]:
    """Text of a message content (string or parts) and the extra tokens of non-text parts."""
    if content is None or isinstance(content, str):
        return content or "", 0
    if not isinstance(content, list):
        raise _wrong_type(param, "one of a string or array of objects", content)
    texts: list[str] = []
    extra = 0
    for i, part in enumerate(content):
        if not isinstance(part, dict):
            raise _wrong_type(f"{param}[{i}]", "an object", part)
        text = part.get("text")
        if isinstance(text, str):
            texts.append(text)
        elif part.get("type") in ("image_url", "input_image", "image"):
            extra += _IMAGE_TOKENS
        elif "type" not in part:
            raise _missing(f"{param}[{i}].type")
    return "\n".join(texts), extra


def _output_format(fmt: Any, param: str, schema_key: str) -> tuple[str, Any]:
    if fmt is None:
        return "text", None
    if not isinstance(fmt, dict):
        raise _wrong_type(param, "an object", fmt)
    kind = fmt.get("type")
    if kind in (None, "text"):
        return "text", None
    if kind == "json_object":
        return "json_object", None
    if kind != "json_schema":
        raise ApiError(
            400,
            f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object', and 'json_schema'.",
            param=f"{param}.type",
            code="invalid_value",
        )
    holder = fmt.get(schema_key) if schema_key else fmt
    where = f"{param}.{schema_key}" if schema_key else param
    if not isinstance(holder, dict):
        raise _missing(where) if holder is None else _wrong_type(where, "an object", holder)
    schema = holder.get("schema")
    if not isinstance(schema, (dict, bool)):
        raise (
            _missing(f"{where}.schema")
            if schema is None
            else _wrong_type(f"{where}.schema", "an object", schema)
        )
    return "json_schema", schema


_SERVICE_TIERS = ("auto", "default", "flex", "priority", "scale")


def _service_tier(body: dict[str, Any]) -> str | None:
    tier = body.get("service_tier")
    if tier is None:
        return None
    if tier not in _SERVICE_TIERS:
        raise ApiError(
            400,
            f"Invalid value: {tier!r}. Supported values are: "
            + ", ".join(repr(t) for t in _SERVICE_TIERS)
            + ".",
            param="service_tier",
            code="invalid_value",
        )
    return str(tier)


def parse_chat(body: Any) -> ParsedRequest:
    """Validate a ``/v1/chat/completions`` body."""
    model = _common(body, "chat")
    messages = body.get("messages")
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _wrong_type("messages", "an array of objects", messages)
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
            raise _wrong_type(param, "an object", msg)
        role = msg.get("role")
        if role is None:
            raise _missing(f"{param}.role")
        if role not in _ROLES:
            raise ApiError(
                400,
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', and 'developer'.",
                param=f"{param}.role",
                code="invalid_value",
            )
        if "content" not in msg and role != "assistant":
            raise _missing(f"{param}.content")
        text, extra = _content_text(msg.get("content"), f"{param}.content")
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
    max_tokens = _int_param(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _int_param(body, "max_tokens", 1)
    n = _int_param(body, "n", 1) or 1
    if n > 128:
        raise ApiError(
            400,
            f"Invalid 'n': expected a value <= 128, but got {n} instead.",
            param="n",
            code="invalid_value",
        )
    _number_param(body, "temperature", 0, 2)
    _number_param(body, "top_p", 0, 1)
    fmt, schema = _output_format(body.get("response_format"), "response_format", "json_schema")
    return ParsedRequest(
        endpoint="chat",
        model=model,
        prompt_tokens=tokens,
        digest=prompt_digest(last_user if last_user is not None else last_any),
        prompt_chars=chars,
        service_tier=_service_tier(body),
        max_tokens=max_tokens,
        n=n,
        output_format=fmt,
        schema=schema,
    )


def parse_responses(body: Any) -> ParsedRequest:
    """Validate a ``/v1/responses`` body."""
    model = _common(body, "responses")
    data = body.get("input")
    if data is None:
        raise _missing("input")
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
                raise _wrong_type(f"input[{i}]", "an object", item)
            text, extra = _content_text(
                item.get("content", item.get("output")), f"input[{i}].content"
            )
            tokens += _MESSAGE_OVERHEAD + count_tokens(text) + extra
            chars += len(text)
            if item.get("role", "user") == "user":
                last_user = text
    else:
        raise _wrong_type("input", "one of a string or array of input items", data)
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise _wrong_type("instructions", "a string", instructions)
        tokens += _MESSAGE_OVERHEAD + count_tokens(instructions)
        chars += len(instructions)
    text_cfg = body.get("text")
    if text_cfg is not None and not isinstance(text_cfg, dict):
        raise _wrong_type("text", "an object", text_cfg)
    fmt, schema = _output_format((text_cfg or {}).get("format"), "text.format", "")
    _number_param(body, "temperature", 0, 2)
    return ParsedRequest(
        endpoint="responses",
        model=model,
        prompt_tokens=tokens,
        digest=prompt_digest(last_user or ""),
        prompt_chars=chars,
        service_tier=_service_tier(body),
        max_tokens=_int_param(body, "max_output_tokens", 1),
        output_format=fmt,
        schema=schema,
    )


def parse_embeddings(body: Any) -> ParsedRequest:
    """Validate a ``/v1/embeddings`` body (strings, token arrays, or lists of either)."""
    model = _common(body, "embeddings")
    data = body.get("input")
    if data is None:
        raise _missing("input")
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
        dimensions=_int_param(body, "dimensions", 1),
        encoding_format=str(encoding),
    )


PARSERS = {"chat": parse_chat, "responses": parse_responses, "embeddings": parse_embeddings}
