"""Which custom_ids already have a result in a folder (resume for ``surge.ray.process``).

    done = finished_ids("results/")     # Parquet, JSON lines (.json/.jsonl), any mix

Only the ``custom_id`` column is read. A missing folder means nothing is finished.
"""

from __future__ import annotations

from pathlib import Path

import orjson

__all__ = ["finished_ids"]


def finished_ids(location: str | Path) -> frozenset[str]:
    root = Path(location)
    if not root.exists():
        return frozenset()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    done: set[str] = set()
    for path in files:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            done.update(str(v) for v in pq.read_table(path, columns=["custom_id"])[0].to_pylist())
        elif path.suffix in (".json", ".jsonl"):
            with path.open("rb") as f:
                for raw in f:
                    try:
                        record = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        continue  # a torn last line: that row is simply sent again
                    if isinstance(record, dict) and record.get("custom_id") is not None:
                        done.add(str(record["custom_id"]))
    return frozenset(done)
