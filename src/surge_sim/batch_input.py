"""Check a Batch API input file as the provider does while a batch is ``validating``.

Example::

    lines, errors = check_input(data, endpoint="/v1/chat/completions")
    if errors:      # the batch fails; errors go into batch.errors.data
        ...

The rules are the documented ones: every line is a JSON object with a ``custom_id``
(unique in the file), ``method`` ``POST``, a ``url`` equal to the batch's endpoint and a
``body`` naming a ``model``; all lines use one model; at most 50,000 requests. A file that
breaks any rule fails as a whole (no request is run), with one error per offending line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["ENDPOINTS", "MAX_ERRORS", "MAX_REQUESTS", "InputLine", "check_input"]

#: Batch endpoint -> the simulator's parser for it.
ENDPOINTS: dict[str, str] = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/embeddings": "embeddings",
}
MAX_REQUESTS = 50_000
MAX_ERRORS = 100  # errors reported per failed batch (the rest are counted, not listed)


@dataclass(frozen=True, slots=True)
class InputLine:
    line: int
    custom_id: str
    body: dict[str, Any]


def _error(code: str, message: str, line: int | None, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def _check_line(raw: bytes, number: int, endpoint: str) -> InputLine | dict[str, Any]:
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _error("invalid_json_line", f"Line {number} is not valid JSON.", number)
    if not isinstance(record, dict):
        return _error("invalid_json_line", f"Line {number} is not a JSON object.", number)
    custom_id = record.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return _error(
            "missing_required_parameter",
            f"Line {number} has no 'custom_id' (a non-empty string).",
            number,
            "custom_id",
        )
    if record.get("method") != "POST":
        return _error(
            "invalid_method", f"Line {number}: 'method' must be 'POST'.", number, "method"
        )
    url = record.get("url")
    if url != endpoint:
        return _error(
            "invalid_url",
            f"Line {number}: the URL {url!r} does not match the batch endpoint {endpoint!r}.",
            number,
            "url",
        )
    body = record.get("body")
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return _error(
            "missing_required_parameter",
            f"Line {number}: 'body' must be an object with a 'model'.",
            number,
            "body.model",
        )
    return InputLine(number, custom_id, body)


def check_input(data: bytes, *, endpoint: str) -> tuple[list[InputLine], list[dict[str, Any]]]:
    """The requests of an input file, or the errors that make its batch fail."""
    lines: list[InputLine] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    model: str | None = None
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        checked = _check_line(raw, number, endpoint)
        if isinstance(checked, dict):
            errors.append(checked)
            continue
        if checked.custom_id in seen:
            errors.append(
                _error(
                    "duplicate_custom_id",
                    f"Line {number}: custom_id {checked.custom_id!r} is used by an earlier "
                    "line; custom_ids must be unique within a batch.",
                    number,
                    "custom_id",
                )
            )
            continue
        seen.add(checked.custom_id)
        line_model = checked.body["model"]
        if model is None:
            model = line_model
        elif line_model != model:
            errors.append(
                _error(
                    "mismatched_model",
                    f"Line {number} uses model {line_model!r} but earlier lines use {model!r}; "
                    "a batch input file may use only one model.",
                    number,
                    "body.model",
                )
            )
            continue
        lines.append(checked)
    if not lines and not errors:
        errors.append(_error("empty_file", "The batch input file is empty.", None))
    if len(lines) > MAX_REQUESTS:
        errors.append(
            _error(
                "too_many_requests",
                f"The batch input file has {len(lines)} requests; the maximum is {MAX_REQUESTS}.",
                None,
            )
        )
    return lines, errors
