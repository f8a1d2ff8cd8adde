"""Checks of single request fields, answered in the API's own words.

Example::

    model = model_of(body)                          # ApiError(400, "Missing required ...")
    max_tokens = int_param(body, "max_tokens", 1)   # None when absent
    text, image_tokens = content_text(message["content"], "messages[0].content")

Each check raises :class:`~surge_sim.errors.ApiError` with the message, ``param`` and
``code`` OpenAI answers for the same mistake; the endpoint parsers (``validation.py``)
put them together.
"""

from __future__ import annotations

from typing import Any

from .errors import ApiError

__all__ = [
    "content_text",
    "int_param",
    "missing",
    "model_of",
    "number_param",
    "output_format",
    "service_tier",
    "wrong_type",
]

_IMAGE_TOKENS = 85  # a low-detail image


def json_type(value: Any) -> str:
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


def wrong_type(param: str, expected: str, value: Any) -> ApiError:
    got = json_type(value)
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {'an' if got[0] in 'aeiou' else 'a'} {got} instead.",
        param=param,
        code="invalid_type",
    )


def missing(param: str) -> ApiError:
    return ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def model_of(body: Any) -> str:
    """The body's model, after the checks every endpoint makes first."""
    if not isinstance(body, dict):
        raise wrong_type("body", "an object", body) if body is not None else missing("model")
    if body.get("stream"):
        raise ApiError(
            400,
            "streaming is not supported by the simulator",
            param="stream",
            code="unsupported_value",
        )
    model = body.get("model")
    if model is None:
        raise missing("model")
    if not isinstance(model, str) or not model:
        raise wrong_type("model", "a non-empty string", model)
    return model


def int_param(body: dict[str, Any], name: str, minimum: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise wrong_type(name, "an integer", value)
    if value < minimum:
        raise ApiError(
            400,
            f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, but got {value} instead.",
            param=name,
            code="integer_below_min_value",
        )
    return value


def number_param(body: dict[str, Any], name: str, lo: float, hi: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise wrong_type(name, "a number", value)
    if not lo <= value <= hi:
        raise ApiError(
            400,
            f"Invalid '{name}': expected a value between {lo:g} and {hi:g}, but got {value} instead.",
            param=name,
            code="invalid_value",
        )


def content_text(content: Any, param: str) -> tuple[str, int]:
    """Text of a message content (string or parts) and the extra tokens of non-text parts."""
    if content is None or isinstance(content, str):
        return content or "", 0
    if not isinstance(content, list):
        raise wrong_type(param, "one of a string or array of objects", content)
    texts: list[str] = []
    extra = 0
    for i, part in enumerate(content):
        if not isinstance(part, dict):
            raise wrong_type(f"{param}[{i}]", "an object", part)
        text = part.get("text")
        if isinstance(text, str):
            texts.append(text)
        elif part.get("type") in ("image_url", "input_image", "image"):
            extra += _IMAGE_TOKENS
        elif "type" not in part:
            raise missing(f"{param}[{i}].type")
    return "\n".join(texts), extra


def output_format(fmt: Any, param: str, schema_key: str) -> tuple[str, Any]:
    if fmt is None:
        return "text", None
    if not isinstance(fmt, dict):
        raise wrong_type(param, "an object", fmt)
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
        raise missing(where) if holder is None else wrong_type(where, "an object", holder)
    schema = holder.get("schema")
    if not isinstance(schema, (dict, bool)):
        raise (
            missing(f"{where}.schema")
            if schema is None
            else wrong_type(f"{where}.schema", "an object", schema)
        )
    return "json_schema", schema


_SERVICE_TIERS = ("auto", "default", "flex", "priority", "scale")


def service_tier(body: dict[str, Any]) -> str | None:
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
