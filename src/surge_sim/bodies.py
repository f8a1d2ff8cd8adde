"""The JSON bodies the simulator answers with, shaped like OpenAI's.

Example::

    answer = make_answer(parse_chat(body), seed=0)      # texts, token counts, finish reasons
    chat_body(req, answer, ident="abc123", created=1700000000)
    rate_limit_body(Rejection("requests", 0.05, 1200, 1200, 1), model="gpt-4o-mini")

Answers are computed before admission because a request's token cost for the rate limit
includes its completion tokens when it sets no ``max_tokens``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import orjson

from .content import count_tokens, embedding_vector, encode_base64, reply_text, truncate_tokens
from .errors import ApiError
from .limiter import Rejection, format_duration
from .schema_instance import SchemaError, instance
from .validation import ParsedRequest


@dataclass(frozen=True, slots=True)
class Choice:
    text: str
    tokens: int
    finish_reason: str  # "stop" or "length"
    refusal: bool = False  # the text is a refusal, not content


@dataclass(frozen=True, slots=True)
class Answer:
    """What the model "said": one or more choices (empty for embeddings)."""

    choices: tuple[Choice, ...]

    @property
    def completion_tokens(self) -> int:
        return sum(c.tokens for c in self.choices)


def _one_choice(req: ParsedRequest, seed: int, index: int) -> Choice:
    filler, tokens = reply_text(req.digest, seed, index)
    if req.output_format == "json_schema":
        try:
            value = instance(req.schema, key=req.digest)
        except SchemaError as err:
            param = "response_format" if req.endpoint == "chat" else "text.format"
            raise ApiError(
                400, f"Invalid schema for {param}: {err}", param=param, code="invalid_json_schema"
            ) from err
        text = orjson.dumps(value).decode()
        tokens = count_tokens(text)
    elif req.output_format == "json_object":
        text = orjson.dumps({"sim": req.digest, "answer": filler.split("] ", 1)[1]}).decode()
        tokens = count_tokens(text)
    else:
        text = filler
    if req.max_tokens is not None and tokens > req.max_tokens:
        text, tokens = truncate_tokens(text, req.max_tokens)
        return Choice(text, tokens, "length")
    return Choice(text, tokens, "stop")


def first_user_turn(body: dict[str, Any]) -> Any:
    """The first user message's content (the whole ``input`` when it is a string)."""
    turns = body.get("messages", body.get("input"))
    if isinstance(turns, list):
        return next(
            (t.get("content") for t in turns if isinstance(t, dict) and t.get("role") == "user"),
            None,
        )
    return turns


def conversation_key(body: dict[str, Any]) -> str:
    """Model and first user turn: the same for a request and its re-asks (which append)."""
    first = first_user_turn(body)
    return body_digest(orjson.dumps([body.get("model"), first], option=orjson.OPT_SORT_KEYS))


REFUSAL_TEXT = "I'm sorry, but I can't help with that request."


def refusal_answer(answer: Answer) -> Answer:
    """What a model that declines a structured-output request returns instead."""
    tokens = count_tokens(REFUSAL_TEXT)
    return Answer(tuple(Choice(REFUSAL_TEXT, tokens, "stop", True) for _ in answer.choices))


def body_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def invalid_answer(req: ParsedRequest, answer: Answer, n: int) -> Answer:
    """``answer`` spoiled the way models spoil structured output (``n``: attempt so far)."""
    spoiled = []
    for choice in answer.choices:
        if n % 2 == 0:  # cut off mid-value: not JSON at all
            text = choice.text[: max(1, len(choice.text) // 2)]
        else:  # JSON, but of the wrong shape
            text = orjson.dumps({"sim": req.digest, "note": "schema ignored"}).decode()
        spoiled.append(Choice(text, count_tokens(text), "stop"))
    return Answer(tuple(spoiled))


def make_answer(req: ParsedRequest, seed: int) -> Answer:
    """The deterministic answer to a parsed request (may raise ApiError for a bad schema)."""
    if req.endpoint == "embeddings":
        return Answer(())
    return Answer(tuple(_one_choice(req, seed, i) for i in range(req.n)))


def chat_body(req: ParsedRequest, answer: Answer, *, ident: str, created: int) -> dict[str, Any]:
    choices: list[dict[str, Any]] = [
        {
            "index": i,
            "message": {
                "role": "assistant",
                "content": None if c.refusal else c.text,
                "refusal": c.text if c.refusal else None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": c.finish_reason,
        }
        for i, c in enumerate(answer.choices)
    ]
    completion = answer.completion_tokens
    return {
        "id": f"chatcmpl-{ident}",
        "object": "chat.completion",
        "created": created,
        "model": req.model,
        "choices": choices,
        "usage": {
            "prompt_tokens": req.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": req.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
        "service_tier": "flex" if req.service_tier == "flex" else "default",
        "system_fingerprint": "fp_surge_sim",
    }


def responses_body(
    req: ParsedRequest, answer: Answer, *, ident: str, created: int
) -> dict[str, Any]:
    choice = answer.choices[0]
    capped = choice.finish_reason == "length"
    status = "incomplete" if capped else "completed"
    return {
        "id": f"resp_{ident}",
        "object": "response",
        "created_at": created,
        "status": status,
        "incomplete_details": {"reason": "max_output_tokens"} if capped else None,
        "error": None,
        "model": req.model,
        "output": [
            {
                "type": "message",
                "id": f"msg_{ident}",
                "status": status,
                "role": "assistant",
                "content": [
                    {"type": "refusal", "refusal": choice.text}
                    if choice.refusal
                    else {"type": "output_text", "text": choice.text, "annotations": []}
                ],
            }
        ],
        "max_output_tokens": req.max_tokens,
        "usage": {
            "input_tokens": req.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": choice.tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": req.prompt_tokens + choice.tokens,
        },
    }


def embeddings_body(req: ParsedRequest, default_dimensions: int) -> dict[str, Any]:
    dims = req.dimensions or default_dimensions
    data = []
    for i, text in enumerate(req.inputs):
        vector = embedding_vector(text, dims)
        emb: Any = encode_base64(vector) if req.encoding_format == "base64" else vector
        data.append({"object": "embedding", "index": i, "embedding": emb})
    usage = {"prompt_tokens": req.prompt_tokens, "total_tokens": req.prompt_tokens}
    return {"object": "list", "data": data, "model": req.model, "usage": usage}


def models_body(models: tuple[str, ...]) -> dict[str, Any]:
    data = [
        {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "surge-sim"}
        for m in models
    ]
    return {"object": "list", "data": data}


_SERVER_ERRORS: dict[int, tuple[str, str | None]] = {
    500: ("The server had an error while processing your request. Sorry about that!", None),
    502: ("Bad gateway.", "bad_gateway"),
    503: ("The server is overloaded or not ready yet.", "service_unavailable"),
}


def server_error_body(status: int) -> dict[str, Any]:
    message, code = _SERVER_ERRORS[status]
    return {"error": {"message": message, "type": "server_error", "param": None, "code": code}}


def rate_limit_body(rej: Rejection, model: str) -> dict[str, Any]:
    unit = "RPM" if rej.kind == "requests" else "TPM"
    scope = f"{rej.kind} per min ({unit})"
    if math.isinf(rej.wait):
        message = (
            f"Request too large for {model} in organization org-surge-sim on {scope}: "
            f"Limit {rej.limit}, Requested {rej.requested}. The input or output tokens must be "
            "reduced in order to run successfully."
        )
    else:
        message = (
            f"Rate limit reached for {rej.kind} in organization org-surge-sim on {scope}: "
            f"Limit {rej.limit}, Used {rej.used}, Requested {rej.requested}. "
            f"Please try again in {format_duration(rej.wait)}."
        )
    return {
        "error": {
            "message": message,
            "type": rej.kind,
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


def rate_limit_headers(rej: Rejection) -> dict[str, str]:
    """``retry-after`` (whole seconds, rounded up) and ``retry-after-ms`` for a 429."""
    if math.isinf(rej.wait):
        return {}
    ms = max(1, math.ceil(rej.wait * 1000 - 1e-6))
    return {"retry-after": str(math.ceil(ms / 1000)), "retry-after-ms": str(ms)}


def flex_unavailable_body() -> dict[str, str | dict[str, str | None]]:
    """The 429 a flex request gets when capacity is short: not a rate limit, not billed."""
    return {
        "error": {
            "message": (
                "Resource unavailable: flex processing capacity is temporarily exhausted. "
                "Please retry later, or send the request with the default service tier."
            ),
            "type": "resource_unavailable",
            "param": None,
            "code": "resource_unavailable",
        }
    }
