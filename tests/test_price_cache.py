"""genai-prices' answers kept on disk: the same prices, without loading the library again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from surge.cost.library_cache import MISSING, LibraryCache

_LOOKUP = """
import sys
from surge.cost.prices import PriceBook
book = PriceBook()
print(repr(book.price("gpt-4o-mini")), repr(book.price("no-such-model-xyz")))
print("genai_prices" in sys.modules)
"""


def _lookup(cache_home: Path) -> list[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    proc = subprocess.run(
        [sys.executable, "-c", _LOOKUP], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_a_second_process_prices_from_the_file_without_the_library(tmp_path: Path) -> None:
    first = _lookup(tmp_path)
    assert first[1] == "True"  # the library answered, and its answers were kept
    [kept] = (tmp_path / "surge").glob("genai-prices-*.json")
    entries = orjson.loads(kept.read_bytes())
    assert entries["no-such-model-xyz"] is None and entries["gpt-4o-mini"]["input"] > 0
    second = _lookup(tmp_path)
    assert second == [first[0], "False"]  # same prices; genai-prices never imported
    kept.write_bytes(orjson.dumps({**entries, "gpt-4o-mini": {"input": -1, "output": 0}}))
    assert _lookup(tmp_path) == [first[0], "True"]  # a bad entry: the library again


def test_round_trip_merge_and_damage(tmp_path: Path) -> None:
    path = tmp_path / "c" / "prices.json"
    one, two = LibraryCache(path), LibraryCache(path)
    assert one.get("m") is MISSING
    one.put("m", {"input": 1.0, "output": 2.0})
    two.put("unknown", None)  # another run, writing meanwhile: both answers stay
    fresh = LibraryCache(path)
    assert fresh.get("m") == {"input": 1.0, "output": 2.0} and fresh.get("unknown") is None
    path.write_bytes(b"{not json")
    assert LibraryCache(path).get("m") is MISSING  # a damaged file: ask the library again
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_an_unwritable_folder_only_means_no_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = LibraryCache(blocker / "prices.json")
    cache.put("m", {"input": 1.0, "output": 2.0})  # no error
    assert cache.get("m") == {"input": 1.0, "output": 2.0}  # kept for this process
    assert LibraryCache(None).get("m") is MISSING
