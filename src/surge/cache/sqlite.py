"""A response cache in one SQLite file, safe for several processes at once.

    cache = SqliteCache("responses.sqlite")
    cache.get(key)                 # the stored answer body (a dict), or None
    cache.put(key, body)           # first writer wins; later identical answers are ignored
    cache.close()

The database runs in WAL mode with a busy timeout, so readers never block writers and
two processes writing at once wait for each other instead of failing. Schema changes are
numbered migrations recorded in ``user_version``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from ..errors import ConfigError

__all__ = ["SqliteCache"]

_MIGRATIONS = (
    """CREATE TABLE IF NOT EXISTS responses (
        key TEXT PRIMARY KEY,
        body BLOB NOT NULL,
        created REAL NOT NULL
    )""",
)


class SqliteCache:
    """Answer bodies by cache key (see :func:`surge.cache.keys.cache_key`)."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.Error as err:
            raise ConfigError(f"cannot open the cache {self.path}: {err}") from err
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"SqliteCache({str(self.path)!r}, hits={self.hits}, misses={self.misses})"

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        for number, statement in enumerate(_MIGRATIONS, start=1):
            if version < number:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {number}")
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise

    def get(self, key: str) -> Any | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return orjson.loads(row[0])

    def put(self, key: str, body: Any) -> None:
        data = orjson.dumps(body)
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO responses (key, body, created) VALUES (?, ?, ?)",
                (key, data, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()
