"""A small async client for the Files and Batches endpoints of an OpenAI-compatible server.

    async with BatchClient(Endpoint(base_url=url, api_key=key)) as client:
        f = await client.upload(path, filename="part-0001.jsonl")
        batch = await client.create_batch(f["id"], "/v1/chat/completions", {"surge_piece": "1"})
        batch = await client.get_batch(batch["id"])
        data = await client.content(batch["output_file_id"])

Transient failures (connection errors, 429, 5xx) are retried a few times with a growing
delay; anything else raises :class:`BatchApiError` with the server's own message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from ..config import Endpoint
from ..errors import SurgeError

__all__ = ["BatchApiError", "BatchClient"]

log = logging.getLogger(__name__)

_RETRIES = 5
_TRANSIENT = frozenset({408, 409, 429, 500, 502, 503, 504})


class BatchApiError(SurgeError):
    """The Files or Batches API refused a call (or kept failing); ``status`` is its HTTP status."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _message(data: bytes) -> str:
    try:
        body = orjson.loads(data)
        return str(body["error"]["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return data[:300].decode("utf-8", "replace")


class BatchClient:
    """Files and Batches calls; one aiohttp session for the client's life."""

    def __init__(self, endpoint: Endpoint, *, retry_delay: float = 0.5) -> None:
        self.endpoint = endpoint
        self._retry_delay = retry_delay
        headers = {"Accept": "application/json"}
        key = endpoint.resolved_api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"BatchClient({self.endpoint!r})"

    async def __aenter__(self) -> BatchClient:
        timeout = aiohttp.ClientTimeout(total=600, connect=30)
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> bytes:
        if self._session is None:
            raise RuntimeError("use 'async with BatchClient(...)'")
        url = self.endpoint.url_for(path)
        delay = self._retry_delay
        for attempt in range(_RETRIES + 1):
            try:
                # A form is a one-shot stream: build a fresh one for every attempt.
                data = form() if form is not None else None
                async with self._session.request(
                    method, url, json=json, params=params, data=data
                ) as resp:
                    body = await resp.read()
                    if resp.status < 300:
                        return body
                    if resp.status not in _TRANSIENT or attempt == _RETRIES:
                        raise BatchApiError(
                            f"{method} {path}: HTTP {resp.status}: {_message(body)}",
                            status=resp.status,
                        )
                    log.info("%s %s: HTTP %d, retrying in %.1fs", method, path, resp.status, delay)
            except (aiohttp.ClientError, TimeoutError) as err:
                if attempt == _RETRIES:
                    raise BatchApiError(f"{method} {path}: {err or type(err).__name__}") from err
                log.info("%s %s: %s, retrying in %.1fs", method, path, err, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        data = await self._call(method, path, **kwargs)
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError as err:
            raise BatchApiError(f"{method} {path}: the answer is not JSON") from err
        if not isinstance(body, dict):
            raise BatchApiError(f"{method} {path}: the answer is not a JSON object")
        return body

    # -- files ----------------------------------------------------------------------
    async def upload(self, path: Path, *, filename: str) -> dict[str, Any]:
        """Upload a JSONL file for purpose ``batch``."""

        content = await asyncio.to_thread(path.read_bytes)  # up to 200 MB: not on the loop

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("purpose", "batch")
            data.add_field("file", content, filename=filename, content_type="application/jsonl")
            return data

        return await self._json("POST", "/v1/files", form=form)

    async def files(self) -> list[dict[str, Any]]:
        body = await self._json("GET", "/v1/files", params={"purpose": "batch"})
        return [f for f in body.get("data") or () if isinstance(f, dict)]

    async def content(self, file_id: str) -> bytes:
        return await self._call("GET", f"/v1/files/{file_id}/content")

    async def delete_file(self, file_id: str) -> None:
        await self._call("DELETE", f"/v1/files/{file_id}")

    # -- batches --------------------------------------------------------------------
    async def create_batch(
        self, input_file_id: str, endpoint: str, metadata: dict[str, str]
    ) -> dict[str, Any]:
        payload = {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": "24h",
            "metadata": metadata,
        }
        return await self._json("POST", "/v1/batches", json=payload)

    async def get_batch(self, batch_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/v1/batches/{batch_id}")

    async def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        return await self._json("POST", f"/v1/batches/{batch_id}/cancel")

    async def batches(self) -> AsyncIterator[dict[str, Any]]:
        """Every batch of the account, newest first (follows the pages)."""
        after: str | None = None
        while True:
            params = {"limit": "100"}
            if after is not None:
                params["after"] = after
            page = await self._json("GET", "/v1/batches", params=params)
            data = [b for b in page.get("data") or () if isinstance(b, dict)]
            for batch in data:
                yield batch
            if not page.get("has_more") or not data:
                return
            after = str(data[-1]["id"])
