"""Part files for ``surge run --workers N``: each worker appends to its own, the parent merges.

    ids = output_ids("results.jsonl")                 # what the output already holds
    async for item in shard(read_lines(...), index=1, count=4, skip=ids): ...
    merged = merge_parts(store, finished, parts_dir)  # into the output, each id once

A worker never writes the output itself: the output has one writer (the parent, which
holds it open for the whole run), and each part file has one writer (its worker). A part
file is an ordinary result file: a worker killed mid-line leaves a torn last line, which
the merge ignores (that request is sent again) and the worker's own resume cuts off.
Merging skips every custom_id the output already holds, so a merge interrupted half-way
and run again writes nothing twice.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from pathlib import Path

import orjson

from ..errors import InputError
from ..models import Request, Result
from .store import ResultStore

__all__ = ["merge_parts", "output_ids", "part_path", "shard", "shard_of"]

log = logging.getLogger(__name__)


def part_path(parts_dir: Path, index: int) -> Path:
    return parts_dir / f"worker-{index}.jsonl"


def _records(path: Path) -> Iterator[dict[str, object]]:
    """Complete, readable lines of a result file (a torn last line is not complete)."""
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                return
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict) and "custom_id" in record:
                yield record


def output_ids(path: str | Path) -> frozenset[str]:
    """The custom_ids an output file holds (read-only: another process may own it)."""
    path = Path(path)
    if not path.exists():
        return frozenset()
    return frozenset(str(r["custom_id"]) for r in _records(path))


def shard_of(key: str, count: int) -> int:
    """Which of ``count`` workers owns ``key`` (stable across runs and machines)."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % count


async def shard(
    source: AsyncIterable[Request | InputError],
    *,
    index: int,
    count: int,
    skip: frozenset[str] = frozenset(),
) -> AsyncIterator[Request | InputError]:
    """This worker's share of ``source``, without what the output already holds.

    Requests are shared out by custom_id, so two lines with the same id meet in one
    worker and its ledger reports the duplicate; unusable lines by their line number.
    """
    async for item in source:
        key = f"line-{item.line}" if isinstance(item, InputError) else item.custom_id
        if shard_of(key, count) == index and key not in skip:
            yield item


def merge_parts(
    store: ResultStore, finished: set[str], parts_dir: Path, *, drop_failures: bool = False
) -> int:
    """Append every part file's results that ``finished`` lacks to ``store``; delete parts.

    ``finished`` is updated. ``drop_failures`` (``--retry-failed``): error lines of the
    parts are dropped too, so those requests run again. Returns the lines merged.
    """
    if not parts_dir.is_dir():
        return 0
    merged = 0
    parts = sorted(parts_dir.glob("worker-*.jsonl"))
    for part in parts:
        for record in _records(part):
            custom_id = str(record["custom_id"])
            if custom_id in finished:
                continue
            result = Result.from_output(record)
            if drop_failures and not result.ok:
                continue
            store.write(result)
            finished.add(custom_id)
            merged += 1
    for part in parts:
        part.unlink()
    log.debug("merged %d results from %d part files", merged, len(parts))
    return merged
