"""Split an input into Batch-API-sized pieces: one endpoint and model each, capped in size.

    splitter = Splitter(work_dir, round_id="r1a2b3", max_requests=50_000)
    for request in requests:          # surge Requests, already validated
        splitter.add(request)         # -> an ErrorInfo when the Batch API cannot take it
    pieces = splitter.close()         # Piece records, each file on disk

The Batch API takes at most 50,000 requests and 200 MB per input file, one model per
file and one endpoint per batch; a request that does not fit the current piece of its
(endpoint, model) starts the next one. Each piece file gets a sidecar ``.lines.json``
mapping custom_id to input line, so merged results keep their line numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson

from ..models import ErrorInfo, Request
from .state import Piece

__all__ = ["BATCH_ENDPOINTS", "MAX_BYTES", "MAX_REQUESTS", "Splitter", "lines_path"]

MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1024 * 1024
BATCH_ENDPOINTS = frozenset(
    {"/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions"}
)


def lines_path(piece_path: str | Path) -> Path:
    path = Path(piece_path)
    return path.with_name(path.stem + ".lines.json")


@dataclass(slots=True)
class _Open:
    piece: Piece
    stream: IO[bytes]
    lines: dict[str, int | None] = field(default_factory=dict)


class Splitter:
    """Writes piece files as requests arrive; never holds more than one line in memory."""

    def __init__(
        self,
        work_dir: Path,
        *,
        round_id: str,
        max_requests: int = MAX_REQUESTS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        if max_requests < 1 or max_bytes < 1:
            raise ValueError("pieces must hold at least one request and one byte")
        self.work_dir = work_dir
        self.round_id = round_id
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self._open: dict[tuple[str, str], _Open] = {}
        self._done: list[Piece] = []
        self._count = 0

    def __repr__(self) -> str:
        return f"Splitter({self.work_dir}, {self._count} pieces)"

    def add(self, request: Request) -> ErrorInfo | None:
        """Put one request in its piece; an error when the Batch API cannot take it."""
        url = request.url if request.url.startswith("/") else "/" + request.url
        if url not in BATCH_ENDPOINTS:
            return ErrorInfo(
                "invalid_input",
                f"line {request.line}: the Batch API does not serve {url}; "
                f"it serves {', '.join(sorted(BATCH_ENDPOINTS))}",
            )
        model = request.body.get("model")
        if not isinstance(model, str) or not model:
            return ErrorInfo("invalid_input", f"line {request.line}: the body names no model")
        record = {
            "custom_id": request.custom_id,
            "method": "POST",
            "url": url,
            "body": request.body,
        }
        data = orjson.dumps(record) + b"\n"
        if len(data) > self.max_bytes:
            return ErrorInfo(
                "invalid_input",
                f"line {request.line}: {len(data)} bytes is more than a batch file may hold",
            )
        key = (url, model)
        current = self._open.get(key)
        if current is not None and (
            current.piece.requests >= self.max_requests
            or current.piece.bytes + len(data) > self.max_bytes
        ):
            self._close(current)
            del self._open[key]
            current = None
        if current is None:
            current = self._start(url, model)
            self._open[key] = current
        current.stream.write(data)
        current.lines[request.custom_id] = request.line
        current.piece.requests += 1
        current.piece.bytes += len(data)
        return None

    def _start(self, endpoint: str, model: str) -> _Open:
        self._count += 1
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # The round id in the name makes the upload findable on the server after a crash.
        path = self.work_dir / f"surge-{self.round_id}-part-{self._count:04d}.jsonl"
        piece = Piece(
            index=self._count, path=str(path), endpoint=endpoint, model=model, requests=0, bytes=0
        )
        return _Open(piece, open(path, "wb"))

    def _close(self, current: _Open) -> None:
        current.stream.flush()
        current.stream.close()
        lines_path(current.piece.path).write_bytes(orjson.dumps(current.lines))
        self._done.append(current.piece)

    def close(self) -> list[Piece]:
        """Finish every piece; returns them in the order they were started."""
        for current in self._open.values():
            self._close(current)
        self._open.clear()
        return sorted(self._done, key=lambda p: p.index)
