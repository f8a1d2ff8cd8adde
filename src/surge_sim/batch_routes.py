"""HTTP handlers for ``/v1/files`` and ``/v1/batches`` (the Batch API).

Example::

    routes = BatchRoutes(server)          # server: the SimServer (auth, stats, config)
    app.add_routes(routes.routes("/v1") + routes.routes(""))

    POST   /v1/files                   multipart: file=<jsonl>, purpose=batch
    GET    /v1/files[?purpose=batch]   list
    GET    /v1/files/{id}              retrieve
    GET    /v1/files/{id}/content      download
    DELETE /v1/files/{id}              delete
    POST   /v1/batches                 {"input_file_id", "endpoint", "completion_window": "24h"}
    GET    /v1/batches[?limit&after]   list, newest first
    GET    /v1/batches/{id}            retrieve
    POST   /v1/batches/{id}/cancel     cancel
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import BodyPartReader, web

from .batches import BatchJobs
from .errors import ApiError
from .files import FileStore

if TYPE_CHECKING:
    from .server import SimServer

__all__ = ["BatchRoutes"]

_JSON = "application/json"
Handler = Callable[[web.Request], Awaitable[Any]]


def _json(status: int, payload: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type=_JSON)


class BatchRoutes:
    """The Files and Batches endpoints of one simulator."""

    def __init__(self, server: SimServer) -> None:
        self._server = server
        self.files = FileStore()
        self.jobs = BatchJobs(
            self.files,
            config_of=lambda: server.config,
            on_answer=server.stats.usage,
        )

    def __repr__(self) -> str:
        return f"BatchRoutes({self.files!r}, {self.jobs!r})"

    def routes(self, prefix: str) -> list[web.RouteDef]:
        w = self._wrap
        return [
            web.post(f"{prefix}/files", w(self.upload)),
            web.get(f"{prefix}/files", w(self.list_files)),
            web.get(f"{prefix}/files/{{file_id}}", w(self.get_file)),
            web.get(f"{prefix}/files/{{file_id}}/content", w(self.content)),
            web.delete(f"{prefix}/files/{{file_id}}", w(self.delete_file)),
            web.post(f"{prefix}/batches", w(self.create)),
            web.get(f"{prefix}/batches", w(self.list_batches)),
            web.get(f"{prefix}/batches/{{batch_id}}", w(self.get_batch)),
            web.post(f"{prefix}/batches/{{batch_id}}/cancel", w(self.cancel)),
        ]

    def _wrap(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Auth, OpenAI-style errors and the /stats log, around every handler."""

        async def run(request: web.Request) -> web.StreamResponse:
            stats = self._server.stats
            arrival = stats.now()
            stats.enter()
            status = 500
            try:
                self._server.check_auth(request)
                result = await handler(request)
                response = result if isinstance(result, web.StreamResponse) else _json(200, result)
            except ApiError as err:
                response = _json(err.status, err.body())
            finally:
                stats.leave()
            status = response.status
            stats.record(path=request.path, status=status, arrival=arrival)
            return response

        return run

    # -- files ------------------------------------------------------------------------
    async def upload(self, request: web.Request) -> Any:
        if not request.content_type.startswith("multipart/"):
            raise ApiError(400, "Uploads must be multipart/form-data with 'file' and 'purpose'.")
        reader = await request.multipart()
        data: bytes | None = None
        filename = "upload.jsonl"
        purpose: str | None = None
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file":
                data = bytes(await part.read())
                filename = part.filename or filename
            elif part.name == "purpose":
                purpose = (await part.text()).strip()
        if data is None:
            raise ApiError(400, "Missing required parameter: 'file'.", param="file")
        if purpose is None:
            raise ApiError(400, "Missing required parameter: 'purpose'.", param="purpose")
        stored = self.files.upload(data, filename=filename, purpose=purpose, now=int(time.time()))
        return stored.object()

    async def list_files(self, request: web.Request) -> Any:
        return self.files.listing(request.query.get("purpose"))

    async def get_file(self, request: web.Request) -> Any:
        return self.files.get(request.match_info["file_id"]).object()

    async def content(self, request: web.Request) -> Any:
        stored = self.files.get(request.match_info["file_id"])
        return web.Response(status=200, body=stored.data, content_type="application/octet-stream")

    async def delete_file(self, request: web.Request) -> Any:
        return self.files.delete(request.match_info["file_id"])

    # -- batches ----------------------------------------------------------------------
    async def create(self, request: web.Request) -> Any:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as err:
            raise ApiError(400, "We could not parse the JSON body of your request.") from err
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        job = self.jobs.create(
            input_file_id=body.get("input_file_id"),
            endpoint=body.get("endpoint"),
            completion_window=body.get("completion_window"),
            metadata=body.get("metadata"),
        )
        return job.object()

    async def list_batches(self, request: web.Request) -> Any:
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError as err:
            raise ApiError(400, "'limit' must be an integer.", param="limit") from err
        if not 1 <= limit <= 100:
            raise ApiError(400, "'limit' must be between 1 and 100.", param="limit")
        return self.jobs.listing(limit=limit, after=request.query.get("after"))

    async def get_batch(self, request: web.Request) -> Any:
        return self.jobs.get(request.match_info["batch_id"]).object()

    async def cancel(self, request: web.Request) -> Any:
        return self.jobs.cancel(request.match_info["batch_id"]).object()
