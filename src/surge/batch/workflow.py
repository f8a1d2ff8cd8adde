"""Submit, watch, fetch and cancel one output file's batch job, resumably.

    job = BatchJob("out.jsonl", BatchSettings(endpoint=Endpoint(base_url=url)))
    async with job.client() as client:
        state = await job.submit(client, "in.jsonl")      # split, upload, create (idempotent)
        state = await job.wait(client, state, on_poll=print)
        report = await job.fetch(client, state)            # merge into out.jsonl

Everything the job knows is in the state file beside the output (see ``state.py``), so
any step may be killed and run again: pieces already uploaded are not uploaded again,
batches already created are not created again, and results already in the output are
not written twice. A new round (``submit`` once every piece is fetched) sends only the
input lines whose custom_id the output does not hold yet; with ``retry_failed`` the
error lines are dropped from the output first, so expired and failed requests go again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from .._http.openai import usage_counts
from ..config import Endpoint, RunOptions
from ..errors import ConfigError
from ..io.formats import RequestBuilder
from ..io.source import InputFormat, read_lines
from ..io.store import JsonlStore
from ..models import ErrorInfo, Request, Result
from .client import BatchClient
from .merge import batch_results
from .split import MAX_BYTES, MAX_REQUESTS, Splitter, lines_path
from .state import BatchState, Piece, state_path_for, work_dir_for

__all__ = ["BatchJob", "BatchSettings", "FetchReport"]

log = logging.getLogger(__name__)

_MISSING_CODE = {
    "expired": "batch_expired",
    "cancelled": "batch_cancelled",
    "failed": "batch_failed",
    "completed": "batch_missing",
}


@dataclass(frozen=True, slots=True)
class BatchSettings:
    endpoint: Endpoint = field(default_factory=Endpoint)
    options: RunOptions = field(default_factory=RunOptions)
    input_format: InputFormat = "auto"
    max_requests: int = MAX_REQUESTS
    max_bytes: int = MAX_BYTES
    poll_interval: float = 30.0


@dataclass(slots=True)
class FetchReport:
    """What one fetch wrote into the output."""

    written: int = 0
    succeeded: int = 0
    failed: int = 0
    errors_by_code: dict[str, int] = field(default_factory=dict)
    # model -> [input, output, cached input] tokens the fetched answers report
    usage_by_model: dict[str, list[int]] = field(default_factory=dict)

    def add(self, result: Result, model: str) -> None:
        self.written += 1
        if result.ok:
            self.succeeded += 1
        else:
            self.failed += 1
            code = result.error.code if result.error else "unknown"
            self.errors_by_code[code] = self.errors_by_code.get(code, 0) + 1
        usage = usage_counts(result.body)
        if usage is not None:
            totals = self.usage_by_model.setdefault(model, [0, 0, 0])
            totals[0] += usage.input
            totals[1] += usage.output
            totals[2] += usage.cached_input


class BatchJob:
    """One output file's batch job (its state file and piece directory sit beside it)."""

    def __init__(self, output: str | Path, settings: BatchSettings) -> None:
        self.output = Path(output)
        self.settings = settings
        self.state_path = state_path_for(self.output)
        self.work_dir = work_dir_for(self.output)

    def __repr__(self) -> str:
        return f"BatchJob({str(self.output)!r})"

    def client(self) -> BatchClient:
        return BatchClient(self.settings.endpoint)

    def load(self) -> BatchState | None:
        return BatchState.load(self.state_path)

    # -- submit ---------------------------------------------------------------------
    async def submit(
        self, client: BatchClient, input_path: str, *, retry_failed: bool = False
    ) -> BatchState | None:
        """Send what the output lacks as batches (or finish sending a round in progress).

        Returns the state, or ``None`` when the output already holds every request.
        """
        state = self.load()
        if state is not None and not state.all_fetched:
            if Path(state.input).resolve() != Path(input_path).resolve():
                raise ConfigError(
                    f"{self.output} has a batch job in progress for {state.input}; "
                    "fetch or cancel it first"
                )
        else:
            state = await self._new_round(input_path, state, retry_failed=retry_failed)
            if state is None:
                return None
        for piece in state.pieces:
            await self._send(client, state, piece)
        return state

    async def _new_round(
        self, input_path: str, previous: BatchState | None, *, retry_failed: bool
    ) -> BatchState | None:
        round_id = os.urandom(6).hex()
        store = JsonlStore(self.output, retry_failed=retry_failed)
        ledger = store.open()
        splitter = Splitter(
            self.work_dir,
            round_id=round_id,
            max_requests=self.settings.max_requests,
            max_bytes=self.settings.max_bytes,
        )
        builder = RequestBuilder(self.settings.options)
        try:
            source = read_lines(input_path, builder, input_format=self.settings.input_format)
            async for item in source:
                admitted = ledger.admit(item)
                if isinstance(admitted, Result):
                    store.write(admitted)  # an invalid line: recorded now, never sent
                elif isinstance(admitted, Request):
                    problem = splitter.add(admitted)
                    if problem is not None:
                        store.write(
                            Result(
                                custom_id=admitted.custom_id,
                                line=admitted.line,
                                error=problem,
                                line_error=True,
                            )
                        )
        finally:
            pieces = splitter.close()
            store.close()
        if not pieces:
            return None
        history: list[str] = []
        if previous is not None:
            history = [*previous.history, *(p.batch_id for p in previous.pieces if p.batch_id)]
        state = BatchState(
            path=self.state_path,
            round_id=round_id,
            input=str(input_path),
            base_url=self.settings.endpoint.resolved_base_url(),
            pieces=pieces,
            history=history,
        )
        state.save()
        return state

    async def _send(self, client: BatchClient, state: BatchState, piece: Piece) -> None:
        """Upload and create one piece's batch, exactly once across crashes."""
        if piece.phase in ("split", "uploading"):
            if piece.phase == "uploading":  # an upload may have landed before a crash
                for f in await client.files():
                    if f.get("filename") == piece.filename and f.get("bytes") == piece.bytes:
                        piece.file_id = str(f["id"])
                        break
            if piece.file_id is None:
                piece.phase = "uploading"
                state.save()
                uploaded = await client.upload(Path(piece.path), filename=piece.filename)
                piece.file_id = str(uploaded["id"])
            piece.phase = "uploaded"
            state.save()
        if piece.phase in ("uploaded", "creating"):
            assert piece.file_id is not None
            tag = {"surge_round": state.round_id, "surge_piece": str(piece.index)}
            if piece.phase == "creating":  # the batch may exist: look before creating
                async for batch in client.batches():
                    if batch.get("metadata") == tag or (
                        isinstance(batch.get("metadata"), dict)
                        and all(batch["metadata"].get(k) == v for k, v in tag.items())
                    ):
                        piece.batch_id = str(batch["id"])
                        piece.status = str(batch.get("status"))
                        break
            if piece.batch_id is None:
                piece.phase = "creating"
                state.save()
                batch = await client.create_batch(piece.file_id, piece.endpoint, tag)
                piece.batch_id = str(batch["id"])
                piece.status = str(batch.get("status"))
            piece.phase = "created"
            state.save()
            log.info("piece %d: batch %s", piece.index, piece.batch_id)

    # -- watch ----------------------------------------------------------------------
    async def refresh(self, client: BatchClient, state: BatchState) -> BatchState:
        """Ask the server how each unfinished batch is doing; record it."""
        changed = False
        for piece in state.pieces:
            if piece.batch_id is None or piece.finished:
                continue
            batch = await client.get_batch(piece.batch_id)
            counts = batch.get("request_counts") or {}
            piece.status = str(batch.get("status"))
            piece.total = int(counts.get("total") or 0)
            piece.completed = int(counts.get("completed") or 0)
            piece.failed = int(counts.get("failed") or 0)
            changed = True
        if changed:
            state.save()
        return state

    async def wait(
        self,
        client: BatchClient,
        state: BatchState,
        *,
        on_poll: Callable[[BatchState], None] | None = None,
    ) -> BatchState:
        """Poll until every batch reached a final status."""
        while True:
            await self.refresh(client, state)
            if on_poll is not None:
                on_poll(state)
            if all(p.finished for p in state.pieces):
                return state
            await asyncio.sleep(self.settings.poll_interval)

    async def cancel(self, client: BatchClient, state: BatchState) -> BatchState:
        for piece in state.pieces:
            if piece.batch_id is not None and not piece.finished:
                batch = await client.cancel_batch(piece.batch_id)
                piece.status = str(batch.get("status"))
        state.save()
        return state

    # -- fetch ----------------------------------------------------------------------
    async def fetch(self, client: BatchClient, state: BatchState) -> FetchReport:
        """Merge every finished, not yet fetched batch into the output."""
        report = FetchReport()
        ready = [p for p in state.pieces if p.finished and p.phase == "created"]
        if not ready:
            return report
        # A fetched result supersedes a line the output may already hold for its id (an
        # error of an earlier round sent again with --retry-failed, or the same result
        # fetched before a crash); on close the file keeps the last line of each id.
        store = JsonlStore(self.output, keep_stale=True)
        ledger = store.open()
        finished: set[str] = set()  # written by this fetch
        try:
            for piece in ready:
                await self._fetch_piece(client, piece, store, finished, report)
                piece.phase = "fetched"
                state.save()
        finally:
            ledger.end_of_input()  # with keep_stale: only superseded lines are dropped
            store.close()
        if state.all_fetched:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        return report

    async def _fetch_piece(
        self,
        client: BatchClient,
        piece: Piece,
        store: JsonlStore,
        finished: set[str],
        report: FetchReport,
    ) -> None:
        assert piece.batch_id is not None
        lines: dict[str, int | None] = orjson.loads(lines_path(piece.path).read_bytes())
        batch = await client.get_batch(piece.batch_id)
        seen: set[str] = set()
        for key in ("output_file_id", "error_file_id"):
            file_id = batch.get(key)
            if not file_id:
                continue
            data = await client.content(str(file_id))
            for result in batch_results(data, lines):
                seen.add(result.custom_id)
                if result.custom_id in finished:
                    continue
                finished.add(result.custom_id)
                store.write(result)
                report.add(result, piece.model)
        missing = [cid for cid in lines if cid not in seen and cid not in finished]
        if missing:
            code = _MISSING_CODE.get(str(piece.status), "batch_missing")
            reason = _batch_errors(batch) or f"the batch ended {piece.status} without it"
            for custom_id in missing:
                result = Result(
                    custom_id=custom_id,
                    line=lines[custom_id],
                    error=ErrorInfo(code, f"batch {piece.batch_id}: {reason}"),
                )
                finished.add(custom_id)
                store.write(result)
                report.add(result, piece.model)


def _batch_errors(batch: dict[str, object]) -> str:
    errors = batch.get("errors")
    data = errors.get("data") if isinstance(errors, dict) else None
    if not isinstance(data, list) or not data:
        return ""
    first = data[0] if isinstance(data[0], dict) else {}
    more = f" (and {len(data) - 1} more)" if len(data) > 1 else ""
    return f"failed validation: {first.get('message')}{more}"
