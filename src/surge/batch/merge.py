"""Turn a batch's output and error files into surge result lines.

    for result in batch_results(output_bytes, lines={"q1": 1, "q2": 2}):
        store.write(result)

Batch output lines come in no particular order, so they are joined to the input by
``custom_id`` (the ``lines`` map, written when the input was split). Each line is judged
by its own ``response.status_code``: a line in the output file is not necessarily a
success, and the error file holds requests that failed (``response`` with a 4xx/5xx) or
never ran (``error.code`` ``batch_expired`` / ``batch_cancelled``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from .._http.openai import error_from_response
from ..models import ErrorInfo, Result

__all__ = ["batch_results", "result_from_line"]

log = logging.getLogger(__name__)


def result_from_line(record: dict[str, Any], line: int | None) -> Result:
    """One output/error-file record as a :class:`Result`."""
    custom_id = str(record["custom_id"])
    response = record.get("response")
    error = record.get("error")
    status = body = request_id = None
    if isinstance(response, dict):
        status = response.get("status_code")
        status = status if isinstance(status, int) else None
        body = response.get("body")
        request_id = response.get("request_id")
    info: ErrorInfo | None = None
    if isinstance(error, dict):
        info = ErrorInfo(str(error.get("code") or "batch_error"), str(error.get("message") or ""))
    elif status is None:
        info = ErrorInfo("invalid_response", "the batch line has neither a response nor an error")
    elif status >= 300:
        info = error_from_response(status, body)
    result = Result(
        custom_id=custom_id,
        line=line,
        status_code=status,
        body=body,
        request_id=str(request_id) if request_id is not None else None,
        error=info,
        attempts=1,
    )
    if isinstance(record.get("id"), str):
        result.id = record["id"]
    return result


def batch_results(data: bytes, lines: Mapping[str, int | None]) -> Iterator[Result]:
    """The results in one downloaded file, for the custom_ids of ``lines`` only."""
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = orjson.loads(raw)
            custom_id = record["custom_id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("batch file line %d is not a result record; ignored", number)
            continue
        if custom_id not in lines:
            log.warning("batch file line %d: unknown custom_id %r; ignored", number, custom_id)
            continue
        yield result_from_line(record, lines[custom_id])
