"""The simulator's ``/v1/files`` store: uploads, downloads and deletes, in memory.

Example::

    files = FileStore()
    f = files.add(b'{"custom_id": "a", ...}\\n', filename="in.jsonl", purpose="batch", now=0)
    f.object()          # {"id": "file-...", "object": "file", "bytes": ..., "purpose": "batch", ...}
    files.get(f.id).data

As the API documents: a file uploaded for ``batch`` is at most 200 MB; the files a batch
writes (its output and error files) have purpose ``batch_output``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .errors import ApiError

__all__ = ["MAX_BATCH_FILE_BYTES", "PURPOSES", "FileStore", "StoredFile"]

#: The Batch API's limit on an input file.
MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024
PURPOSES = frozenset(
    {"assistants", "batch", "fine-tune", "vision", "user_data", "evals", "batch_output"}
)
_UPLOADABLE = PURPOSES - {"batch_output"}


@dataclass(slots=True)
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def object(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "expires_at": None,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


class FileStore:
    """Every file of one simulator, by id (not thread-safe: the server's loop owns it)."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._prefix = os.urandom(6).hex()
        self._next = 0

    def __repr__(self) -> str:
        return f"FileStore({len(self._files)} files)"

    def __len__(self) -> int:
        return len(self._files)

    def _new_id(self) -> str:
        self._next += 1
        return f"file-{self._prefix}{self._next:08x}"

    def upload(self, data: bytes, *, filename: str, purpose: str, now: int) -> StoredFile:
        """A client's upload, checked as the API checks it (400 otherwise)."""
        if purpose not in _UPLOADABLE:
            raise ApiError(
                400,
                f"'{purpose}' is not one of {sorted(_UPLOADABLE)} - 'purpose'",
                param="purpose",
            )
        if purpose == "batch":
            if len(data) > MAX_BATCH_FILE_BYTES:
                raise ApiError(
                    400,
                    f"File is too large ({len(data)} bytes); the maximum for purpose 'batch' "
                    f"is {MAX_BATCH_FILE_BYTES} bytes.",
                    param="file",
                    code="file_too_large",
                )
            if not filename.endswith(".jsonl"):
                raise ApiError(
                    400,
                    "Invalid file format for Batch API. Must be .jsonl",
                    param="file",
                    code="invalid_file_format",
                )
        return self.add(data, filename=filename, purpose=purpose, now=now)

    def add(self, data: bytes, *, filename: str, purpose: str, now: int) -> StoredFile:
        stored = StoredFile(self._new_id(), filename, purpose, data, now)
        self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile:
        stored = self._files.get(file_id)
        if stored is None:
            raise ApiError(404, f"No such File object: {file_id}", param="id")
        return stored

    def delete(self, file_id: str) -> dict[str, Any]:
        self.get(file_id)
        del self._files[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    def listing(self, purpose: str | None = None) -> dict[str, Any]:
        data = [f.object() for f in self._files.values() if purpose is None or f.purpose == purpose]
        return {"object": "list", "data": data, "has_more": False}
