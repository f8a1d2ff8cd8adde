"""genai-prices' answers kept on disk, so that a run need not load the library each time.

    cache = LibraryCache.default()          # $XDG_CACHE_HOME/surge/genai-prices-<key>.json
    cache.get("gpt-4o-mini")                # {"input": 0.15, ...}; None: unknown model;
                                            # MISSING: never asked
    cache.put("gpt-4o-mini", {"input": 0.15, "output": 0.6})

Loading genai-prices costs about half a second of CPU (its data is a 1.6 MB Python
module), which a run of a few requests would otherwise pay every time. Its data ships in
the package and changes only when the package does, so the file is keyed by the installed
package's data file (path, size and mtime): an upgrade starts a new file. Anything wrong
with the file (unwritable folder, corrupt JSON) only means the library is asked, as
without a cache; the file is written whole and renamed into place, so concurrent runs
never read half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Final

import orjson

__all__ = ["MISSING", "LibraryCache"]

log = logging.getLogger(__name__)

MISSING: Final = object()


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "surge"


def _library_key() -> str | None:
    """What identifies the installed genai-prices data, without importing it."""
    spec = importlib.util.find_spec("genai_prices")
    if spec is None or spec.origin is None:
        return None
    data = Path(spec.origin).with_name("data.py")
    try:
        info = data.stat()
    except OSError:
        return None
    text = f"{data}:{info.st_size}:{info.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class LibraryCache:
    """Per-model price fields (or ``None`` for a model the library does not know)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LibraryCache({str(self.path)!r})"

    @classmethod
    def default(cls) -> LibraryCache:
        """The cache for the installed genai-prices (no file when it is not installed)."""
        key = _library_key()
        return cls(_cache_home() / f"genai-prices-{key}.json" if key else None)

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = {}
            if self.path is not None:
                try:
                    data = orjson.loads(self.path.read_bytes())
                except (OSError, orjson.JSONDecodeError):
                    data = None
                if isinstance(data, dict):
                    self._entries = data
        return self._entries

    def get(self, model: str) -> Any:
        """The fields kept for ``model``, ``None`` if the library does not know it, or
        :data:`MISSING` if it was never asked."""
        with self._lock:
            return self._load().get(model, MISSING)

    def put(self, model: str, fields: dict[str, Any] | None) -> None:
        """Keep ``model``'s answer, merged with what other runs have written meanwhile."""
        if self.path is None:
            return
        with self._lock:
            self._entries = None  # read again: another run may have added models
            entries = self._load()
            entries[model] = fields
            try:
                self._write(self.path, entries)
            except OSError as err:
                log.debug("cannot keep prices in %s: %s", self.path, err)

    @staticmethod
    def _write(path: Path, entries: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".genai-prices-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(orjson.dumps(entries))
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
