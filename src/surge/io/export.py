"""Answers out of a result file: one flat row per request, for any API.

    export_results("results.jsonl", "answers.csv")        # or .parquet, .jsonl, "-" (stdout)
    row = flatten(result)       # {"custom_id", "status", "answer", "input_tokens", ...}

A row holds the custom_id, the input line, ``status`` (``ok``/``error``), the answer text
(Chat Completions ``message.content``, Responses ``output_text``; for errors the raw text when
the server answered), the parsed structured answer's fields as columns (when the run used a
schema), the embedding for embeddings, the finish reason, token usage, attempts, latency and
the error. Rows come in input-line order whatever order the file was written in; the file is
read twice (once for the columns, once for the rows) and never held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from .._http.openai import usage_counts
from .._schema import reply_parts
from ..errors import ConfigError
from ..models import Result
from .tables import TableFormat, TableWriter

__all__ = ["BASE_COLUMNS", "LogIndex", "export_results", "flatten", "reply_text"]

BASE_COLUMNS = ("custom_id", "line", "status", "answer")
TAIL_COLUMNS = (
    "finish_reason",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "attempts",
    "latency_ms",
    "error_code",
    "error_message",
)
_KINDS = {
    "line": "integer",
    "input_tokens": "integer",
    "output_tokens": "integer",
    "total_tokens": "integer",
    "attempts": "integer",
    "latency_ms": "number",
    "embedding": "json",
}


def reply_text(result: Result) -> str | None:
    """The answer's text, also for a failed result whose server did answer (raw text)."""
    if result.ok:
        return result.text
    url = "/v1/responses" if isinstance(result.body, dict) and "output" in result.body else ""
    return reply_parts(result.body, url)[0]


def _finish_reason(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        reason = choices[0].get("finish_reason")
        return reason if isinstance(reason, str) else None
    if body.get("object") == "response":
        details = body.get("incomplete_details")
        if isinstance(details, dict) and details.get("reason"):
            return str(details["reason"])
        status = body.get("status")
        return status if isinstance(status, str) else None
    return None


def _embedding(body: Any) -> Any:
    if isinstance(body, dict) and body.get("object") == "list":
        data = body.get("data")
        if isinstance(data, list) and data and isinstance(data[0], dict):
            vectors = [d.get("embedding") for d in data if isinstance(d, dict)]
            return vectors[0] if len(vectors) == 1 else vectors
    return None


def flatten(result: Result) -> dict[str, Any]:
    """One request's outcome as flat columns (parsed fields under ``"parsed"``)."""
    usage = usage_counts(result.body)
    error = result.error
    latency = round(result.latency * 1000, 1) if result.latency is not None else None
    return {
        "custom_id": result.custom_id,
        "line": result.line,
        "status": "ok" if result.ok else "error",
        "answer": reply_text(result),
        "parsed": result.parsed,
        "embedding": _embedding(result.body),
        "finish_reason": _finish_reason(result.body),
        "input_tokens": usage.input if usage else None,
        "output_tokens": usage.output if usage else None,
        "total_tokens": usage.total if usage else None,
        "attempts": result.attempts,
        "latency_ms": latency,
        "error_code": error.code if error else None,
        "error_message": error.message if error else None,
    }


class LogIndex:
    """Where each custom_id's record is in a result file (the last one wins), for random reads.

    index = LogIndex("out.csv.surge.jsonl")
    result = index.get("row-1a2b3c")       # a Result, or None
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.offsets: dict[str, int] = {}
        self.lines: dict[str, int | None] = {}
        self._file: Any = None
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            offset = 0
            for raw in f:
                start, offset = offset, offset + len(raw)
                try:
                    record = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue  # a torn last line: that request is simply not finished
                if isinstance(record, dict) and "custom_id" in record:
                    cid = str(record["custom_id"])
                    self.offsets[cid] = start
                    meta = record.get("surge")
                    line = meta.get("line") if isinstance(meta, dict) else None
                    self.lines[cid] = line if isinstance(line, int) else None

    def __len__(self) -> int:
        return len(self.offsets)

    def get(self, custom_id: str) -> Result | None:
        offset = self.offsets.get(custom_id)
        if offset is None:
            return None
        if self._file is None:
            self._file = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        self._file.seek(offset)
        return Result.from_output(orjson.loads(self._file.readline()))

    def in_line_order(self) -> Iterator[Result]:
        order = sorted(self.offsets, key=lambda c: (self.lines[c] is None, self.lines[c] or 0))
        for custom_id in order:
            result = self.get(custom_id)
            if result is not None:
                yield result

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def export_results(
    source: str | Path, output: str | Path, *, fmt: TableFormat | None = None
) -> int:
    """Write ``source``'s results as a table to ``output`` (``-``: stdout); return the rows."""
    if not Path(source).is_file():
        raise ConfigError(f"result file not found: {source}")
    index = LogIndex(source)
    try:
        fields: dict[str, str] = {}
        has_embeddings = False
        for result in index.in_line_order():
            if isinstance(result.parsed, dict):
                for key, value in result.parsed.items():
                    fields.setdefault(
                        str(key), "" if not isinstance(value, dict | list) else "json"
                    )
            has_embeddings = has_embeddings or _embedding(result.body) is not None
        fixed = {*BASE_COLUMNS, *TAIL_COLUMNS, "embedding", "parsed"}
        names = {f: (f if f not in fixed else f"parsed_{f}") for f in fields}
        columns = [*BASE_COLUMNS, *names.values()]
        if has_embeddings:
            columns.append("embedding")
        columns.extend(TAIL_COLUMNS)
        kinds = dict(_KINDS) | {names[f]: k for f, k in fields.items() if k}
        with TableWriter(output, columns, types=kinds, fmt=fmt) as writer:
            for result in index.in_line_order():
                row = flatten(result)
                parsed = row.pop("parsed")
                if isinstance(parsed, dict):
                    for key, value in parsed.items():
                        row[names[str(key)]] = value
                writer.write(row)
            return writer.rows
    finally:
        index.close()
