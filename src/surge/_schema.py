"""Structured outputs: the request field per API, reply validation, and the re-ask body.

    schema = OutputSchema.coerce(Sentiment)                 # a pydantic model, or a JSON schema
    body = schema.apply(body, "/v1/chat/completions")       # response_format, strict json_schema
    verdict = judge(response_body, "/v1/chat/completions", schema)
    verdict.kind        # "ok" | "invalid" | "refusal" | "truncated" | "empty"
    verdict.parsed      # a Sentiment instance (a dict for a JSON schema) when "ok"
    body = reask_body(body, "/v1/chat/completions", verdict.text, verdict.message)

Everything here is pure: no I/O, no clock. The engine's validation step
(:mod:`surge._engine.structured`) calls these around each attempt.

A pydantic model becomes a *strict* schema the way openai-python does it
(``openai/lib/_pydantic.py``): every object gets ``additionalProperties: false`` and all its
properties required, ``$ref`` siblings are inlined, ``None`` defaults dropped. A JSON schema
given as a dict is sent as is (it may also be a ``{"name", "schema", "strict"}`` wrapper or a
whole ``response_format`` value).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from .errors import ConfigError

__all__ = [
    "OutputSchema",
    "Verdict",
    "judge",
    "load_schema",
    "reask_body",
    "reasks_so_far",
]

CHAT_URL = "/v1/chat/completions"
RESPONSES_URL = "/v1/responses"

REASK_PROMPT = (
    "Your previous reply does not match the required JSON schema: {error}\n"
    "Reply again with only a JSON value that matches the schema."
)


def _is_model(value: object) -> bool:
    if not inspect.isclass(value):
        return False
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover - pydantic is a dependency
        return False
    return issubclass(value, BaseModel)


def _strict(node: Any, root: dict[str, Any]) -> Any:
    """openai-python's ``_ensure_strict_json_schema``, on a copy we own."""
    if not isinstance(node, dict):
        return node
    for key in ("$defs", "definitions"):
        defs = node.get(key)
        if isinstance(defs, dict):
            for name, sub in defs.items():
                defs[name] = _strict(sub, root)
    if node.get("type") == "object" and "additionalProperties" not in node:
        node["additionalProperties"] = False
    properties = node.get("properties")
    if isinstance(properties, dict):
        node["required"] = list(properties)
        node["properties"] = {k: _strict(v, root) for k, v in properties.items()}
    if isinstance(node.get("items"), dict):
        node["items"] = _strict(node["items"], root)
    for key in ("anyOf", "allOf"):
        variants = node.get(key)
        if isinstance(variants, list):
            node[key] = [_strict(v, root) for v in variants]
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        node.update(all_of[0])
        node.pop("allOf")
    if "default" in node and node["default"] is None:
        node.pop("default")
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1:
        resolved: Any = root
        for part in ref.removeprefix("#/").split("/"):
            resolved = resolved[part]
        node.update({**resolved, **node})
        node.pop("$ref")
        return _strict(node, root)
    return node


def strict_schema(model: Any) -> dict[str, Any]:
    """The strict JSON schema of a pydantic model class."""
    schema: dict[str, Any] = copy.deepcopy(model.model_json_schema())
    return dict(_strict(schema, schema))


_NAME_RE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class OutputSchema:
    """What a structured answer must look like, and how to ask an API for it."""

    name: str
    schema: dict[str, Any]
    strict: bool = True
    model: Any = None  # the pydantic model class, when the schema came from one

    @classmethod
    def coerce(cls, value: Any) -> OutputSchema:
        """From a pydantic model class, a JSON schema dict, or an ``OutputSchema``."""
        if isinstance(value, OutputSchema):
            return value
        if _is_model(value):
            return cls(_NAME_RE.sub("_", value.__name__)[:64], strict_schema(value), True, value)
        if isinstance(value, dict):
            if value.get("type") == "json_schema":  # a whole response_format / text.format
                inner = value.get("json_schema", value)
                return cls._from_wrapper(inner)
            if isinstance(value.get("schema"), dict):
                return cls._from_wrapper(value)
            return cls(str(value.get("title") or "answer"), value)
        raise ConfigError(
            f"schema must be a pydantic model class or a JSON schema dict, not {type(value).__name__}"
        )

    @classmethod
    def _from_wrapper(cls, wrapper: dict[str, Any]) -> OutputSchema:
        schema = wrapper.get("schema")
        if not isinstance(schema, dict):
            raise ConfigError("schema wrapper has no 'schema' object")
        name = _NAME_RE.sub("_", str(wrapper.get("name") or "answer"))[:64]
        return cls(name, schema, bool(wrapper.get("strict", True)))

    # -- the request -----------------------------------------------------------------------
    def apply(self, body: dict[str, Any], url: str) -> dict[str, Any]:
        """``body`` asking for this schema (a new dict; a format already set is kept)."""
        if url == CHAT_URL:
            if "response_format" in body:
                return body
            field = {"name": self.name, "schema": self.schema, "strict": self.strict}
            return {**body, "response_format": {"type": "json_schema", "json_schema": field}}
        if url == RESPONSES_URL:
            text = body.get("text")
            text = dict(text) if isinstance(text, dict) else {}
            if "format" in text:
                return body
            text["format"] = {
                "type": "json_schema",
                "name": self.name,
                "schema": self.schema,
                "strict": self.strict,
            }
            return {**body, "text": text}
        raise ConfigError(f"structured outputs need chat or responses requests, not {url}")

    # -- the reply -------------------------------------------------------------------------
    def validate(self, text: str) -> Any:
        """The parsed value of ``text``; raises ``ValueError`` saying what is wrong."""
        if self.model is not None:
            from pydantic import ValidationError

            try:
                return self.model.model_validate_json(text)
            except ValidationError as err:
                raise ValueError(_pydantic_message(err)) from None
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as err:
            raise ValueError(f"not valid JSON ({err})") from None
        import jsonschema

        validator_cls = jsonschema.validators.validator_for(self.schema)
        error = jsonschema.exceptions.best_match(validator_cls(self.schema).iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise ValueError(f"at {where}: {error.message}")
        return value

    def fields(self) -> list[tuple[str, str]]:
        """Top-level ``(property, JSON type)`` pairs, for table columns (``"json"`` if mixed)."""
        properties = self.schema.get("properties")
        if self.schema.get("type") != "object" or not isinstance(properties, dict):
            return []
        out = []
        for name, sub in properties.items():
            kind = sub.get("type") if isinstance(sub, dict) else None
            out.append((str(name), kind if isinstance(kind, str) else "json"))
        return out


def _pydantic_message(err: Any) -> str:
    parts = []
    for item in err.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ())) or "(root)"
        parts.append(f"{where}: {item.get('msg')}")
    return "; ".join(parts)


def load_schema(spec: str) -> OutputSchema:
    """``--schema``: a JSON schema file, or ``package.module:Model`` (a pydantic model)."""
    path = Path(spec)
    if path.suffix.lower() == ".json" or path.is_file():
        try:
            data = orjson.loads(path.read_bytes())
        except OSError as err:
            raise ConfigError(f"cannot read schema file {spec}: {err.strerror}") from None
        except orjson.JSONDecodeError as err:
            raise ConfigError(f"schema file {spec} is not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"schema file {spec} must hold a JSON object")
        return OutputSchema.coerce(data)
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--schema expects FILE.json or package.module:Model, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"--schema: cannot import {module_name!r}: {err}") from None
    value: Any = module
    for part in attr.split("."):
        value = getattr(value, part, None)
        if value is None:
            raise ConfigError(f"--schema: {module_name!r} has no {attr!r}")
    return OutputSchema.coerce(value)


# -- judging one reply ---------------------------------------------------------------------

VerdictKind = Literal["ok", "invalid", "refusal", "truncated", "empty"]


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    parsed: Any = None
    text: str | None = None  # the raw reply text, when there was one
    message: str = ""  # why it is not ok


def _chat_reply(body: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    """(text, refusal, truncated) of a chat completion's first choice."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None, None, False
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    content = message.get("content")
    refusal = message.get("refusal")
    return (
        content if isinstance(content, str) else None,
        refusal if isinstance(refusal, str) and refusal else None,
        choice.get("finish_reason") == "length",
    )


def _responses_reply(body: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    texts: list[str] = []
    refusal = None
    for item in body.get("output") or ():
        if not isinstance(item, dict) or item.get("type") != "message":
            continue
        for part in item.get("content") or ():
            if not isinstance(part, dict):
                continue
            if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "refusal":
                refusal = str(part.get("refusal") or "refused")
    return ("".join(texts) if texts else None), refusal, body.get("status") == "incomplete"


def reply_parts(body: Any, url: str) -> tuple[str | None, str | None, bool]:
    """``(text, refusal, truncated)`` of a Chat Completions or Responses answer body."""
    if not isinstance(body, dict):
        return None, None, False
    if url == RESPONSES_URL or body.get("object") == "response":
        return _responses_reply(body)
    return _chat_reply(body)


def judge(body: Any, url: str, schema: OutputSchema) -> Verdict:
    """Whether one successful answer body holds a value matching ``schema``."""
    text, refusal, truncated = reply_parts(body, url)
    if refusal is not None:
        return Verdict("refusal", text=text, message=f"the model refused: {refusal}")
    if truncated:
        return Verdict(
            "truncated",
            text=text,
            message="the reply was cut off at the token limit (raise max_tokens / "
            "max_output_tokens)",
        )
    if text is None:
        return Verdict("empty", message="the reply has no text")
    try:
        return Verdict("ok", parsed=schema.validate(text), text=text)
    except ValueError as err:
        return Verdict("invalid", text=text, message=str(err))


# -- the re-ask ----------------------------------------------------------------------------


def _turns(body: dict[str, Any], url: str) -> list[Any]:
    key = "input" if url == RESPONSES_URL else "messages"
    value = body.get(key)
    if isinstance(value, list):
        return value
    return [{"role": "user", "content": value}] if isinstance(value, str) else []


def reask_body(body: dict[str, Any], url: str, text: str | None, error: str) -> dict[str, Any]:
    """``body`` with the invalid reply and the validation error appended (instructor's re-ask)."""
    turns = [
        *_turns(body, url),
        {"role": "assistant", "content": text or ""},
        {"role": "user", "content": REASK_PROMPT.format(error=error)},
    ]
    key = "input" if url == RESPONSES_URL else "messages"
    return {**body, key: turns}


def reasks_so_far(original: dict[str, Any], current: dict[str, Any], url: str) -> int:
    """How many re-asks ``current`` already carries compared to ``original``."""
    return max(0, (len(_turns(current, url)) - len(_turns(original, url))) // 2)
