"""A callable class for ``Dataset.map_batches``: surge's engine inside each Ray actor.

    ds = ray.data.read_json("requests.jsonl")
    out = ds.map_batches(
        SurgeProcessor,
        fn_constructor_kwargs={"endpoint": url, "limits": surge.Limits(rpm=1200)},
        concurrency=4, batch_size=64, batch_format="pyarrow",
    )

Each actor keeps one gate and one connection pool for its whole life; every batch runs
through :func:`surge.amap` on the actor's event loop, so requests are retried, paced and
settled exactly as in a ``surge run``. All actors share one budget: a named Ray actor (the
default) or a Redis limiter (``limiter="redis://..."``), so the RPM/TPM limit holds for
the cluster, not per actor. A row that fails becomes a row with its ``error``; a batch
never raises, so a job never fails because of one request.

Rows in: Batch API request lines (``custom_id``, ``method``, ``url``, ``body`` as a dict or
a JSON string) or prompt rows (``custom_id`` or ``id``, ``prompt`` or ``messages``,
optional ``model``/``system``). Rows out: ``custom_id``, ``response`` and ``error``, the
last two as JSON text of the Batch output line's fields (a stable column type whatever
the answers hold) or null.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from .._http.transport import AiohttpTransport
from .._limits.remote import shared_gate
from .._limits.shared_gate import SharedGate
from ..api import amap
from ..config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
from ..models import Result
from ._budget import RayBudgetBackend

__all__ = ["DEFAULT_BUDGET", "SurgeProcessor", "row_id", "rows_of"]

DEFAULT_BUDGET = "surge-budget"
_ROW_KEYS = ("custom_id", "method", "url", "body", "id", "prompt", "messages", "model", "system")


def _drop_nulls(value: Any) -> Any:
    # Arrow gives every struct the union of all rows' fields, null where a row had none:
    # those nulls were never in the request and must not be sent.
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def row_id(row: dict[str, Any]) -> str:
    """A row's custom_id: its own, its ``id``, or one derived from its content (stable)."""
    for name in ("custom_id", "id"):
        value = row.get(name)
        if value is not None and value != "":
            return str(value)
    digest = hashlib.sha256(orjson.dumps(row, option=orjson.OPT_SORT_KEYS, default=str))
    return "row-" + digest.hexdigest()[:16]


def _item(row: dict[str, Any]) -> dict[str, Any]:
    item = {k: row[k] for k in _ROW_KEYS if row.get(k) is not None}
    body = item.get("body")
    if isinstance(body, str | bytes):
        # Not JSON: left as is, and the request builder reports it as this row's error.
        with contextlib.suppress(orjson.JSONDecodeError):
            item["body"] = orjson.loads(body)
    elif body is not None:
        item["body"] = _drop_nulls(body)
    if isinstance(item.get("messages"), list):
        item["messages"] = _drop_nulls(item["messages"])
    item["custom_id"] = row_id(row)
    item.pop("id", None)
    return item


def rows_of(batch: Any) -> list[dict[str, Any]]:
    """Rows of a batch in any of Ray Data's formats (pyarrow, pandas, dict of arrays)."""
    if hasattr(batch, "to_pylist"):
        return list(batch.to_pylist())
    if hasattr(batch, "to_dict") and hasattr(batch, "columns"):
        return list(batch.to_dict("records"))
    columns = {k: (v.tolist() if hasattr(v, "tolist") else list(v)) for k, v in batch.items()}
    n = len(next(iter(columns.values()), []))
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _output(items: list[dict[str, Any]], results: Iterable[Result]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"custom_id": [], "response": [], "error": []}
    for number, (item, result) in enumerate(zip(items, results, strict=True), start=1):
        record = result.to_output()
        # An unusable row is reported under its line in the batch; here it keeps its id.
        if record["custom_id"] == f"line-{number}":
            record["custom_id"] = item["custom_id"]
        out["custom_id"].append(record["custom_id"])
        out["response"].append(_json(record["response"]))
        out["error"].append(_json(record["error"]))
    return out


class SurgeProcessor:
    """Runs each batch of request rows through surge; one shared budget for all actors.

    ``__call__`` is an async generator, so Ray Data runs several batches of one actor at
    once on the actor's event loop (no stall while a batch's slowest request finishes);
    one HTTP connection pool per actor caps its requests in flight at
    ``limits.concurrency``.
    """

    def __init__(
        self,
        *,
        endpoint: Endpoint | str | None = None,
        limits: Limits | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | float | None = None,
        options: RunOptions | None = None,
        model: str | None = None,
        limiter: str | None = None,
        budget: str = DEFAULT_BUDGET,
    ) -> None:
        self._endpoint = Endpoint(base_url=endpoint) if isinstance(endpoint, str) else endpoint
        self._endpoint = self._endpoint or Endpoint()
        self._limits = limits or Limits()
        self._kwargs: dict[str, Any] = {
            "retry": retry,
            "timeout": timeout,
            "options": options,
            "model": model,
        }
        gate: SharedGate
        if limiter is not None:
            gate = shared_gate(limiter, self._limits, self._endpoint)
        else:
            gate = SharedGate(self._limits, RayBudgetBackend(budget), endpoint=self._endpoint)
        self._gate = gate
        self._opening: asyncio.Task[None] | None = None
        self._transport = AiohttpTransport(
            concurrency=self._limits.concurrency, connect_timeout=Timeout.coerce(timeout).connect
        )

    async def __call__(self, batch: Any) -> AsyncIterator[dict[str, list[Any]]]:
        if self._opening is None:  # the first batches of an actor share one connection
            self._opening = asyncio.get_running_loop().create_task(self._gate.open())
        await asyncio.shield(self._opening)
        items = [_item(row) for row in rows_of(batch)]
        results = await amap(
            items,
            endpoint=self._endpoint,
            limits=self._limits,
            limiter=self._gate,
            transport=self._transport,
            **self._kwargs,
        )
        yield _output(items, results)
