"""The local record of a batch job: which pieces exist, and what the server calls them.

    state = BatchState.load(state_path_for("out.jsonl"))   # None when there is none
    piece = state.pieces[0]
    piece.phase = "uploading"; state.save()                  # intent first...
    piece.file_id = "file-..."; piece.phase = "uploaded"; state.save()   # ...then the fact

The file lives beside the output (``out.jsonl.surge-batch.json``) and is replaced
atomically (written to a temporary file, flushed, renamed), so a process killed at any
moment leaves either the old record or the new one, never half of one. Every step that
creates something on the server is recorded as an *intent* before it is made; a resumed
process that finds an intent without its result looks the thing up on the server (by the
piece's unique file name, or the batch's ``metadata``) before creating it again.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from ..errors import OutputError

__all__ = ["BatchState", "Piece", "state_path_for", "work_dir_for"]

Phase = Literal["split", "uploading", "uploaded", "creating", "created", "fetched"]
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def state_path_for(output: str | Path) -> Path:
    path = Path(output)
    return path.with_name(path.name + ".surge-batch.json")


def work_dir_for(output: str | Path) -> Path:
    """Where the piece files of a job are kept until it is fetched."""
    path = Path(output)
    return path.with_name(path.name + ".surge-batch")


@dataclass(slots=True)
class Piece:
    """One input file of at most 50,000 requests / 200 MB, for one endpoint and model."""

    index: int
    path: str  # the piece file (Batch API input JSONL)
    endpoint: str
    model: str
    requests: int
    bytes: int
    phase: Phase = "split"
    file_id: str | None = None
    batch_id: str | None = None
    status: str | None = None  # the server's batch status, as last seen
    completed: int = 0
    failed: int = 0
    total: int = 0

    @property
    def filename(self) -> str:
        return Path(self.path).name

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


@dataclass(slots=True)
class BatchState:
    """The pieces of the current round of one output file's batch job."""

    path: Path
    round_id: str  # unique per submission round: names files, tags batches
    input: str
    base_url: str
    pieces: list[Piece] = field(default_factory=list)
    history: list[str] = field(default_factory=list)  # batch ids of earlier rounds

    @classmethod
    def load(cls, path: Path) -> BatchState | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise OutputError(f"cannot read batch state {path}: {err.strerror}") from err
        try:
            data: dict[str, Any] = orjson.loads(raw)
            pieces = [Piece(**p) for p in data.pop("pieces")]
            data.pop("version", None)
            return cls(path=path, pieces=pieces, **data)
        except (orjson.JSONDecodeError, KeyError, TypeError) as err:
            raise OutputError(
                f"batch state {path} is not readable ({err}); move it away to start afresh"
            ) from err

    def save(self) -> None:
        data = {
            "version": 1,
            "round_id": self.round_id,
            "input": self.input,
            "base_url": self.base_url,
            "pieces": [asdict(p) for p in self.pieces],
            "history": self.history,
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as err:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise OutputError(f"cannot write batch state {self.path}: {err.strerror}") from err

    @property
    def all_fetched(self) -> bool:
        return all(p.phase == "fetched" for p in self.pieces)
