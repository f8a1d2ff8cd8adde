"""Part files of --workers: shares are disjoint and complete; merging writes each id once."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from surge.errors import InputError
from surge.io.parts import merge_parts, output_ids, shard, shard_of
from surge.io.store import JsonlStore, read_results
from surge.models import ErrorInfo, Request, Result


def _line(custom_id: str, *, ok: bool = True) -> bytes:
    result = Result(
        custom_id=custom_id,
        status_code=200 if ok else 400,
        body={"ok": ok},
        error=None if ok else ErrorInfo("invalid_request_error", "bad"),
    )
    return orjson.dumps(result.to_output()) + b"\n"


async def test_shares_are_disjoint_and_cover_the_input() -> None:
    items: list[Request | InputError] = [
        Request(custom_id=f"r{i}", body={}, line=i) for i in range(200)
    ]
    items.append(InputError("bad", line=201))

    async def source():  # type: ignore[no-untyped-def]
        for item in items:
            yield item

    seen: list[str] = []
    for index in range(3):
        async for item in shard(source(), index=index, count=3, skip=frozenset({"r7"})):
            seen.append(f"line-{item.line}" if isinstance(item, InputError) else item.custom_id)
    expected = [f"r{i}" for i in range(200) if i != 7] + ["line-201"]
    assert sorted(seen) == sorted(expected)
    assert {shard_of(f"r{i}", 3) for i in range(200)} == {0, 1, 2}


@pytest.mark.parametrize("drop_failures", [False, True])
def test_merge_skips_present_ids_and_torn_tails(tmp_path: Path, drop_failures: bool) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(_line("a"))
    parts = tmp_path / "out.jsonl.parts"
    parts.mkdir()
    (parts / "worker-0.jsonl").write_bytes(_line("a") + _line("b") + _line("c", ok=False))
    (parts / "worker-1.jsonl").write_bytes(_line("d") + _line("e")[:20])  # torn: killed mid-line

    store = JsonlStore(out)
    store.open()
    finished = set(output_ids(out))
    merged = merge_parts(store, finished, parts, drop_failures=drop_failures)
    # Merging again (a re-run after a kill during the merge) adds nothing.
    assert merge_parts(store, finished, parts) == 0
    store.close()

    ids = [r.custom_id for r in read_results(out)]
    expected = ["a", "b", "d"] if drop_failures else ["a", "b", "c", "d"]
    assert sorted(ids) == expected
    assert merged == len(expected) - 1
    assert not list(parts.glob("*.jsonl"))
    assert output_ids(out) == set(expected)
