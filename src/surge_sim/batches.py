"""Batch jobs: the life of one ``/v1/batches`` object, run in the server's event loop.

Example::

    jobs = BatchJobs(files, config_of=lambda: cfg, on_answer=stats.usage)
    batch = jobs.create(input_file_id="file-...", endpoint="/v1/chat/completions",
                        completion_window="24h", metadata=None)
    jobs.get(batch.id).object()["status"]       # "validating", later "in_progress", ...

A batch goes ``validating`` → ``in_progress`` → ``finalizing`` → ``completed``; or
``failed`` (the input file broke a rule; ``errors`` says which lines), ``expired`` (the
24 h window closed first) or ``cancelling`` → ``cancelled``. Expired and cancelled batches
keep what they finished: their output file holds the answered requests and their error
file one ``batch_expired`` / ``batch_cancelled`` line per request never run. Output lines
are not in input order (as the API warns); each carries its own ``status_code``, and lines
whose request failed (a 400 for a bad body) go to the error file.

Durations are the provider's, multiplied by ``SimConfig.batch_time_scale`` (0.001 turns
the 24 h window into 86 s), so tests take seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .batch_input import ENDPOINTS, MAX_ERRORS, InputLine, check_input
from .bodies import chat_body, embeddings_body, make_answer, responses_body
from .config import SimConfig
from .errors import ApiError
from .files import FileStore
from .validation import PARSERS

__all__ = ["BatchJob", "BatchJobs"]

log = logging.getLogger(__name__)

WINDOW_SECONDS = 24 * 3600
_CHUNK = 500  # requests answered between two looks at the clock (cancel, expiry)
_EXPIRED = "This request could not be executed before the completion window expired."
_CANCELLED = "This request was not executed because the batch was cancelled."


@dataclass(slots=True)
class BatchJob:
    id: str
    endpoint: str
    input_file_id: str
    created_at: int
    deadline: float  # monotonic time the completion window closes
    metadata: dict[str, str] | None
    status: str = "validating"
    total: int = 0
    completed: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    times: dict[str, int] = field(default_factory=dict)  # "in_progress_at" -> unix time
    cancel_requested: bool = False

    def object(self) -> dict[str, Any]:
        errors = None if self.errors is None else {"object": "list", "data": self.errors}
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": errors,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": self.times.get("in_progress_at"),
            "expires_at": self.created_at + WINDOW_SECONDS,
            "finalizing_at": self.times.get("finalizing_at"),
            "completed_at": self.times.get("completed_at"),
            "failed_at": self.times.get("failed_at"),
            "expired_at": self.times.get("expired_at"),
            "cancelling_at": self.times.get("cancelling_at"),
            "cancelled_at": self.times.get("cancelled_at"),
            "request_counts": {
                "total": self.total,
                "completed": self.completed,
                "failed": self.failed,
            },
            "metadata": self.metadata,
        }

    def mark(self, status: str) -> None:
        self.status = status
        self.times[f"{status}_at"] = int(time.time())


class BatchJobs:
    """All batches of one simulator, each processed by a task of its own."""

    def __init__(
        self,
        files: FileStore,
        *,
        config_of: Callable[[], SimConfig],
        on_answer: Callable[[int, int], None],
    ) -> None:
        self._files = files
        self._config_of = config_of
        self._on_answer = on_answer
        self._jobs: dict[str, BatchJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._prefix = os.urandom(6).hex()
        self._next = 0

    def __repr__(self) -> str:
        return f"BatchJobs({len(self._jobs)} batches)"

    # -- the API ---------------------------------------------------------------------
    def create(
        self,
        *,
        input_file_id: Any,
        endpoint: Any,
        completion_window: Any,
        metadata: Any,
    ) -> BatchJob:
        if endpoint not in ENDPOINTS:
            raise ApiError(
                400,
                f"Invalid value for 'endpoint': {endpoint!r}; supported: " + ", ".join(ENDPOINTS),
                param="endpoint",
            )
        if completion_window != "24h":
            raise ApiError(
                400,
                f"Invalid value for 'completion_window': {completion_window!r}; "
                "only '24h' is supported.",
                param="completion_window",
            )
        if not isinstance(input_file_id, str):
            raise ApiError(
                400, "Missing required parameter: 'input_file_id'.", param="input_file_id"
            )
        source = self._files.get(input_file_id)
        if source.purpose != "batch":
            raise ApiError(
                400,
                f"File {input_file_id} has purpose {source.purpose!r}; a batch needs 'batch'.",
                param="input_file_id",
            )
        if metadata is not None and not isinstance(metadata, dict):
            raise ApiError(400, "'metadata' must be an object of strings.", param="metadata")
        self._next += 1
        cfg = self._config_of()
        job = BatchJob(
            id=f"batch_{self._prefix}{self._next:08x}",
            endpoint=endpoint,
            input_file_id=input_file_id,
            created_at=int(time.time()),
            deadline=time.monotonic() + WINDOW_SECONDS * cfg.batch_time_scale,
            metadata=metadata,
        )
        self._jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._process(job, source.data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def get(self, batch_id: str) -> BatchJob:
        job = self._jobs.get(batch_id)
        if job is None:
            raise ApiError(404, f"No batch found with id '{batch_id}'.", param="batch_id")
        return job

    def cancel(self, batch_id: str) -> BatchJob:
        job = self.get(batch_id)
        if job.status in ("validating", "in_progress"):
            job.cancel_requested = True
            job.mark("cancelling")
        elif job.status not in ("cancelling", "cancelled"):
            raise ApiError(
                409, f"Cannot cancel a batch with status '{job.status}'.", param="batch_id"
            )
        return job

    def listing(self, *, limit: int, after: str | None) -> dict[str, Any]:
        jobs = sorted(self._jobs.values(), key=lambda j: j.id, reverse=True)  # newest first
        if after is not None:
            jobs = [j for j in jobs if j.id < after]
        page = jobs[:limit]
        return {
            "object": "list",
            "data": [j.object() for j in page],
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
            "has_more": len(jobs) > limit,
        }

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- processing ------------------------------------------------------------------
    async def _sleep(self, provider_seconds: float) -> None:
        await asyncio.sleep(provider_seconds * self._config_of().batch_time_scale)

    async def _process(self, job: BatchJob, data: bytes) -> None:
        try:
            await self._run(job, data)
        except asyncio.CancelledError:
            raise
        except Exception:  # a simulator bug must show, not leave a batch stuck
            log.exception("batch %s crashed", job.id)
            job.errors = [{"code": "server_error", "message": "internal error", "line": None}]
            job.mark("failed")

    async def _run(self, job: BatchJob, data: bytes) -> None:
        cfg = self._config_of()
        await self._sleep(cfg.batch_validate_seconds)
        lines, errors = await asyncio.to_thread(check_input, data, endpoint=job.endpoint)
        if cfg.batch_fail:
            errors = [
                {"code": "simulated_failure", "message": "forced by batch_fail", "line": None}
            ]
        if errors:
            job.errors = errors[:MAX_ERRORS]
            job.mark("failed")
            return
        job.total = len(lines)
        if job.cancel_requested:
            await self._finish(job, [], [], lines, "cancelled")
            return
        job.mark("in_progress")
        parser = PARSERS[ENDPOINTS[job.endpoint]]  # type: ignore[index]
        out: list[bytes] = []
        err: list[bytes] = []
        done = 0
        while done < len(lines):
            cfg = self._config_of()
            if job.cancel_requested:
                break
            room = len(lines) - done
            if cfg.batch_expire_after is not None:
                room = min(room, cfg.batch_expire_after - done)
            if room <= 0 or time.monotonic() >= job.deadline:
                break
            chunk = lines[done : done + min(room, _CHUNK)]
            for line in chunk:
                ok, record = self._answer(line, parser, cfg)
                (out if ok else err).append(record)
                if ok:
                    job.completed += 1
                else:
                    job.failed += 1
            done += len(chunk)
            await self._sleep(len(chunk) / cfg.batch_requests_per_second)
        rest = lines[done:]
        status = "completed"
        if rest:
            status = "cancelled" if job.cancel_requested else "expired"
        if status == "completed" and not job.cancel_requested:
            job.mark("finalizing")
            await self._sleep(cfg.batch_finalize_seconds)
        await self._finish(job, out, err, rest, status)

    def _answer(self, line: InputLine, parser: Any, cfg: SimConfig) -> tuple[bool, bytes]:
        """One request of a batch, answered as the online endpoint would answer it."""
        ident = os.urandom(12).hex()
        request_id = f"req_{ident}"
        try:
            req = parser(line.body)
            answer = make_answer(req, cfg.seed)
        except ApiError as error:
            response = {"status_code": error.status, "request_id": request_id, "body": error.body()}
            record = {"id": f"batch_req_{ident}", "custom_id": line.custom_id,
                      "response": response, "error": None}  # fmt: skip
            return False, orjson.dumps(record)
        created = int(time.time())
        if req.endpoint == "chat":
            body = chat_body(req, answer, ident=ident, created=created)
            body["service_tier"] = "batch"
        elif req.endpoint == "responses":
            body = responses_body(req, answer, ident=ident, created=created)
        else:
            body = embeddings_body(req, cfg.embedding_dimensions)
        self._on_answer(req.prompt_tokens, answer.completion_tokens)
        response = {"status_code": 200, "request_id": request_id, "body": body}
        record = {"id": f"batch_req_{ident}", "custom_id": line.custom_id,
                  "response": response, "error": None}  # fmt: skip
        return True, orjson.dumps(record)

    async def _finish(
        self,
        job: BatchJob,
        out: list[bytes],
        err: list[bytes],
        rest: list[InputLine],
        status: str,
    ) -> None:
        code, message = (
            ("batch_cancelled", _CANCELLED)
            if status == "cancelled"
            else ("batch_expired", _EXPIRED)
        )
        for line in rest:
            record = {
                "id": f"batch_req_{os.urandom(12).hex()}",
                "custom_id": line.custom_id,
                "response": None,
                "error": {"code": code, "message": message},
            }
            err.append(orjson.dumps(record))
        job.failed += len(rest) if status != "completed" else 0
        # The API does not keep input order in output files: neither does the simulator.
        rng = random.Random(job.id)
        rng.shuffle(out)
        now = int(time.time())
        if out:
            f = self._files.add(
                b"\n".join(out) + b"\n", filename=f"{job.id}_output.jsonl",
                purpose="batch_output", now=now,
            )  # fmt: skip
            job.output_file_id = f.id
        if err:
            f = self._files.add(
                b"\n".join(err) + b"\n", filename=f"{job.id}_error.jsonl",
                purpose="batch_output", now=now,
            )  # fmt: skip
            job.error_file_id = f.id
        job.mark(status)
