"""Memory flat in N: the exact id set, the table that shrinks, the output read as asked."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from surge.io.digests import DigestMap, id_digest
from surge.io.recorded import RecordedIndex
from surge.io.records import FAILED, RECORDED, fingerprint_bits
from surge.io.seen import SeenIds
from surge.models import ErrorInfo, Result

KEY = st.integers(min_value=1, max_value=(1 << 64) - 1)
# Keys that share their top 30 bits: the in-memory part cannot tell them apart.
TWIN = st.builds(lambda low: (0x2BCD_1234 << 34) | low, st.integers(1, (1 << 34) - 1))


@given(st.lists(st.one_of(KEY, TWIN), max_size=2000))
def test_seen_ids_are_an_exact_set(keys: list[int]) -> None:
    seen, reference = SeenIds(), set()
    for key in keys:
        assert seen.add(key) is (key not in reference)
        reference.add(key)
    assert len(seen) == len(reference)
    assert all(key in seen for key in reference)
    assert (12345678901234567 in seen) is (12345678901234567 in reference)
    seen.close()


def test_seen_ids_spill_to_disk_and_stay_exact() -> None:
    rng = random.Random(7)
    keys = [rng.getrandbits(64) | 1 for _ in range(300_000)]  # > 256 * 512: chunks on disk
    twins = [(keys[0] & ~((1 << 34) - 1)) | (i << 1 | 1) for i in range(1, 200)]
    seen = SeenIds()
    for key in keys + twins:
        assert seen.add(key)
    assert seen._spill._fd is not None  # the full digests went to the temporary file
    assert all(not seen.add(key) for key in keys[::1000] + twins)
    assert all(key in seen for key in keys[::997])
    assert (keys[0] ^ (1 << 3)) not in seen
    seen.close()


@given(st.lists(st.tuples(st.booleans(), st.one_of(KEY, TWIN)), max_size=3000))
@settings(max_examples=60)
def test_digest_map_pop_keeps_every_other_entry(ops: list[tuple[bool, int]]) -> None:
    table, reference = DigestMap(), {}
    for i, (insert, key) in enumerate(ops):
        if insert or key not in reference:
            table[key] = i
            reference[key] = i
        else:
            assert table.pop(key) == reference.pop(key)
        assert len(table) == len(reference)
    assert dict(table.items()) == reference
    assert all(table.get(key) == value for key, value in reference.items())


def line(custom_id: str, fp: str = "00000000000000a0", *, ok: bool = True, **kw: bool) -> bytes:
    result = Result(
        custom_id=custom_id,
        status_code=200 if ok else 500,
        body={"choices": []} if ok else None,
        error=None if ok else ErrorInfo("http_500", "boom"),
        fingerprint=fp,
    )
    return orjson.dumps(result.to_output(**kw)) + b"\n"


def index_of(path: Path, *lines: bytes) -> RecordedIndex:
    path.write_bytes(b"".join(lines))
    return RecordedIndex(path, end=path.stat().st_size)


def test_an_output_in_input_order_is_never_held(tmp_path: Path) -> None:
    n = 5000
    ids = [f"row-{i}" for i in range(n)]
    # Finished out of order a few places apart, as concurrent requests do.
    order = sorted(range(n), key=lambda i: i + random.Random(i).randint(0, 40))
    index = index_of(tmp_path / "out.jsonl", *(line(ids[i]) for i in order))
    most = 0
    for custom_id in ids:
        assert index.take(id_digest(custom_id)) == fingerprint_bits("00000000000000a0") | RECORDED
        most = max(most, len(index._pending))
    assert most <= 60  # the window of disorder, not the file
    assert index.take(id_digest("new")) is None  # an id the file does not have
    index.drain()
    assert index.stale == 0
    index.close()


def test_lines_passed_on_the_way_are_stale_unless_taken(tmp_path: Path) -> None:
    index = index_of(tmp_path / "out.jsonl", line("a"), line("gone"), line("b"), b"{junk\n")
    assert index.take(id_digest("b")) is not None
    assert index.take(id_digest("a")) is not None
    assert index.take(id_digest("a")) is None  # taken once
    index.drain()
    assert index.stale == 1 and index.is_stale(id_digest("gone"))
    assert not index.is_stale(id_digest("a"))
    assert index.unreadable == 1
    index.close()


def test_a_superseding_line_answers_for_its_id(tmp_path: Path) -> None:
    old, new = "00000000000000a0", "00000000000000b0"
    index = index_of(
        tmp_path / "out.jsonl",
        line("a", old),
        line("b", old),
        line("c", old, ok=False),
        line("a", new, supersedes=True),
        line("c", old, supersedes=True),
    )
    # Asked in input order, "a" is met first at its old line: the marker scan knew better.
    assert index.take(id_digest("a")) == fingerprint_bits(new) | RECORDED
    assert index.take(id_digest("c")) == fingerprint_bits(old) | RECORDED
    assert index.take(id_digest("b")) == fingerprint_bits(old) | RECORDED
    assert sorted(index.superseded()) == sorted([id_digest("a"), id_digest("c")])
    index.drain()
    assert index.stale == 0
    index.close()


def test_a_failed_line_superseded_by_a_failure_stays_failed(tmp_path: Path) -> None:
    index = index_of(
        tmp_path / "out.jsonl",
        line("a", ok=False),
        line("a", ok=False, supersedes=True),
    )
    entry = index.take(id_digest("a"))
    assert entry is not None and entry & FAILED
    index.close()


def test_only_the_bytes_present_at_open_are_read(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    index = index_of(path, line("a"))
    with path.open("ab") as f:
        f.write(line("b"))  # what the run itself appends
    assert index.take(id_digest("b")) is None
    assert index.take(id_digest("a")) is not None
    index.close()


def test_markers_across_scan_blocks_are_all_found(tmp_path: Path) -> None:
    import surge.io.entry_scan as recorded

    path = tmp_path / "x.bin"
    marker = recorded.SUPERSEDES_MARKER
    data = bytearray(b"x" * 5000)
    offsets = [0, 40, 1000, 1023 - 5, 2047 - len(marker) + 3, 3000, 5000 - len(marker)]
    for off in offsets:
        data[off : off + len(marker)] = marker
    path.write_bytes(bytes(data))
    old = recorded._SCAN_BLOCK
    recorded._SCAN_BLOCK = 1024  # blocks small enough for markers to straddle them
    try:
        with path.open("rb") as f:
            assert recorded.find_all(f, marker, len(data)) == sorted(offsets)
        with path.open("rb") as f:
            assert recorded.find_all(f, marker, 3000) == [o for o in offsets if o + 17 <= 3000]
    finally:
        recorded._SCAN_BLOCK = old


def test_writing_an_admitted_result_never_reads_the_id_spill(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from surge.io import seen
    from surge.io.ledger import Ledger
    from surge.models import Request

    reads: list[int] = []
    real = seen._Spill.__contains__
    monkeypatch.setattr(
        seen._Spill, "__contains__", lambda self, k: reads.append(k) or real(self, k)
    )
    ledger = Ledger()
    ids = [f"row-{i}" for i in range(140_000)]  # past 256 x 512: chunks on disk
    for custom_id in ids:
        ledger.admit(Request(custom_id=custom_id, body={"model": "m", "messages": []}))
    reads.clear()
    assert not any(ledger.supersedes(custom_id) for custom_id in ids[::7])
    assert reads == []  # once per result line: a disk read each would cost a fresh run dearly
    ledger.close()
