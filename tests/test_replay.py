"""Resume by input-line digest (Ledger.replay) decides exactly what the full decision does.

A first "run" admits every line of an input through the real feeder and writes a result
for each request to a real JsonlStore (shuffled a little, as concurrent answers finish,
some of them failures); the input is then edited and resumed twice on copies of that
output: through the raw-line path that recognizes lines by their digest, and through the
item-at-a-time path that parses and fingerprints every line. Both must send the same
requests, skip the same lines and leave the same output.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surge._engine.feeder import Job, feed
from surge.config import RunOptions
from surge.events import RunStats
from surge.io import entry_scan
from surge.io.digests import id_digest
from surge.io.formats import RequestBuilder
from surge.io.ledger import Ledger
from surge.io.linedigest import line_digest, line_seed
from surge.io.recorded import RecordedIndex
from surge.io.records import FAILED, RECORDED, fingerprint
from surge.io.source import InputLines, read_lines
from surge.io.store import JsonlStore
from surge.models import ErrorInfo, Request, Result

MODEL = "gpt-4.1-mini"


async def _one_by_one(lines: InputLines) -> AsyncIterator[Any]:
    async for item in lines:  # not an InputLines: the feeder admits item by item
        yield item


async def _run(
    inp: Path,
    out: Path,
    *,
    replay: bool,
    options: RunOptions,
    fail: set[int] = frozenset(),  # type: ignore[assignment]
    retry_failed: bool = False,
    shuffle: int = 0,
) -> tuple[list[str], RunStats]:
    """Admit ``inp`` against ``out`` and answer what is sent; the ids sent, in order."""
    store = JsonlStore(out, retry_failed=retry_failed)
    ledger = store.open()
    stats = RunStats()
    ledger.attach(stats)
    sent: list[Result] = []

    async def enqueue(job: Job | Result) -> None:
        if isinstance(job, Result):
            sent.append(job)
            return
        request = job.request
        failed = (request.line or 0) in fail
        sent.append(
            Result(
                custom_id=request.custom_id,
                line=request.line,
                status_code=503 if failed else 200,
                body={"ok": request.line},
                error=ErrorInfo("http_503", "busy") if failed else None,
                fingerprint=request.fingerprint,
                source=request.source,
            )
        )

    source = read_lines(inp, RequestBuilder(options))
    finished = await feed(
        source if replay else _one_by_one(source), ledger, stats, lambda: False, enqueue
    )
    assert finished
    ledger.end_of_input()
    rng = random.Random(len(sent))
    order = sorted(range(len(sent)), key=lambda i: i + rng.randint(0, shuffle))
    for i in order:  # answers finish out of order
        store.write(sent[i])
    store.close()
    return [r.custom_id for r in sent], stats


def _lines(draw: Any, fmt: str, n: int) -> list[str]:
    words = st.sampled_from(["alpha", "beta", "gamma", "delta"])
    out = []
    for _ in range(n):
        prompt = " ".join(draw(st.lists(words, min_size=1, max_size=2)))
        if fmt == "text":
            out.append(prompt)
        else:
            own_id = draw(st.sampled_from([None, "a", "b", "c", "d", "e"]))
            row: dict[str, Any] = {"prompt": prompt}
            if own_id is not None:
                row["id"] = own_id
            out.append(orjson.dumps(row).decode())
    return out


@st.composite
def scenario(draw: Any) -> dict[str, Any]:
    fmt = draw(st.sampled_from(["text", "jsonl"]))
    first = _lines(draw, fmt, draw(st.integers(1, 14)))
    second = list(first)
    for _ in range(draw(st.integers(0, 4))):
        edit = draw(st.sampled_from(["insert", "delete", "change", "duplicate", "blank"]))
        at = draw(st.integers(0, len(second)))
        if edit == "insert":
            second.insert(at, _lines(draw, fmt, 1)[0])
        elif edit == "blank":
            second.insert(at, "")
        elif second and edit == "delete":
            del second[min(at, len(second) - 1)]
        elif second and edit == "change":
            second[min(at, len(second) - 1)] = _lines(draw, fmt, 1)[0]
        elif second:
            second.insert(at, second[min(at, len(second) - 1)])
    return {
        "fmt": fmt,
        "first": first,
        "second": second,
        "fail": draw(st.sets(st.integers(1, 15), max_size=3)),
        "retry_failed": draw(st.booleans()),
        "other_model": draw(st.integers(0, 9)) == 0,
        "shuffle": draw(st.sampled_from([0, 3, 50])),
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_replay_decides_what_the_full_decision_decides(case: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        inp, out = root / "in.txt", root / "out.jsonl"
        options = RunOptions(model=MODEL)
        inp.write_text("".join(line + "\n" for line in case["first"]))
        asyncio.run(
            _run(inp, out, replay=True, options=options, fail=case["fail"], shuffle=case["shuffle"])
        )
        inp.write_text("".join(line + "\n" for line in case["second"]))
        if case["other_model"]:
            options = RunOptions(model="gpt-4.1")
        outcomes = []
        for replay in (True, False):
            copy = root / f"out-{replay}.jsonl"
            shutil.copyfile(out, copy)
            sent, stats = asyncio.run(
                _run(inp, copy, replay=replay, options=options, retry_failed=case["retry_failed"])
            )
            records = [orjson.loads(raw) for raw in copy.read_bytes().splitlines()]
            for record in records:
                record.pop("id")
            outcomes.append(
                (
                    sent,
                    stats.skipped,
                    stats.skipped_failed,
                    stats.skipped_failed_transient,
                    stats.resent_changed,
                    sorted(records, key=lambda r: r["custom_id"]),
                )
            )
        assert outcomes[0] == outcomes[1]


# -- the pieces --------------------------------------------------------------------------


def _result_line(custom_id: str, raw: bytes, seed: int, *, failed: bool = False) -> bytes:
    request = Request(custom_id=custom_id, body={"model": MODEL, "input": raw.decode()})
    result = Result(
        custom_id=custom_id,
        status_code=503 if failed else 200,
        error=ErrorInfo("http_503", "busy") if failed else None,
        fingerprint=fingerprint(request.url, request.body),
        source=line_digest(raw, seed),
    )
    return orjson.dumps(result.to_output()) + b"\n"


SEED = line_seed(RunOptions(model=MODEL), text_mode=False) or 1


def _index(path: Path, lines: list[bytes]) -> RecordedIndex:
    path.write_bytes(b"".join(lines))
    return RecordedIndex(path, end=path.stat().st_size)


def test_replay_stops_at_the_first_line_it_does_not_recognize(tmp_path: Path) -> None:
    raws = [b"line %d\n" % i for i in range(10)]
    index = _index(
        tmp_path / "o.jsonl", [_result_line(f"id-{i}", r, SEED) for i, r in enumerate(raws)]
    )
    ledger = Ledger(index)
    edited = [*raws[:4], b"line 4 edited\n", *raws[5:]]
    assert ledger.replay(edited, 0, SEED) == (4, 0)
    assert ledger.replay(edited, 5, SEED) == (5, 0)
    assert ledger.replay(raws, 0, SEED + 1) == (0, 0)  # other options: nothing recognized
    index.close()


def test_replay_leaves_failures_to_the_full_decision_under_retry_failed(tmp_path: Path) -> None:
    raws = [b"line %d\n" % i for i in range(4)]
    lines = [_result_line(f"id-{i}", r, SEED, failed=i == 2) for i, r in enumerate(raws)]
    ledger = Ledger(_index(tmp_path / "a.jsonl", lines))
    assert ledger.replay(raws, 0, SEED) == (4, 1)  # a recorded failure is skipped...
    ledger = Ledger(_index(tmp_path / "b.jsonl", lines), retry_failed=True)
    assert ledger.replay(raws, 0, SEED) == (2, 0)  # ... unless it is to be retried
    entry = ledger._recorded.take(id_digest("id-2"))  # still there for the full decision
    assert entry is not None and entry & (RECORDED | FAILED) == RECORDED | FAILED


def test_a_content_ids_repeat_is_never_replayed(tmp_path: Path) -> None:
    raw = b"same prompt\n"
    lines = [_result_line("t-0123456789ab", raw, SEED), _result_line("t-0123456789ab-2", raw, SEED)]
    ledger = Ledger(_index(tmp_path / "o.jsonl", lines))
    assert ledger.replay([raw, raw], 0, SEED) == (1, 0)  # the second depends on the first


def test_answers_far_out_of_order_are_found_by_the_full_decision(tmp_path: Path) -> None:
    n = 3 * entry_scan.BLOCK_ENTRIES
    raws = [b"line %d\n" % i for i in range(n)]
    lines = [_result_line(f"id-{i}", r, SEED) for i, r in enumerate(raws)]
    lines.append(lines.pop(0))  # the first line's answer came last
    index = _index(tmp_path / "o.jsonl", lines)
    ledger = Ledger(index)
    assert ledger.replay(raws, 0, SEED) == (0, 0)  # not in the window yet
    assert index.take(id_digest("id-0")) is not None  # read ahead: the rest waits
    assert ledger.replay(raws, 1, SEED) == (0, 0)
    index.close()


def test_a_window_follows_answers_a_few_hundred_apart(tmp_path: Path) -> None:
    n = 5 * entry_scan.BLOCK_ENTRIES
    raws = [b"line %d\n" % i for i in range(n)]
    rng = random.Random(7)
    order = sorted(range(n), key=lambda i: i + rng.randint(0, 300))
    index = _index(tmp_path / "o.jsonl", [_result_line(f"id-{i}", raws[i], SEED) for i in order])
    ledger = Ledger(index)
    assert ledger.replay(raws, 0, SEED) == (n, 0)
    assert len(index._pending) == 0  # nothing ever left the window untaken
    index.drain()
    assert index.stale == 0
    index.close()


@pytest.mark.parametrize("child", [True, False])
def test_the_child_process_reads_what_this_one_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: bool
) -> None:
    raws = [b"line %d\n" % i for i in range(2 * entry_scan.BLOCK_ENTRIES + 5)]
    lines = [_result_line(f"id-{i}", r, SEED, failed=i % 7 == 0) for i, r in enumerate(raws)]
    lines.insert(100, b"{not a result\n")
    # id-3 answered again later: its line supersedes the first one.
    again = Result(custom_id="id-3", status_code=200, fingerprint="00000000000000a0")
    lines.insert(5000, orjson.dumps(again.to_output(supersedes=True)) + b"\n")
    path = tmp_path / "o.jsonl"
    path.write_bytes(b"".join(lines))
    end = path.stat().st_size - len(lines[-1])  # the last line came after the run started
    monkeypatch.setattr(entry_scan, "CHILD_MIN_BYTES", 0 if child else 1 << 40)
    with open(path, "rb") as f:
        entries = entry_scan.open_entries(f, path, end)
        assert isinstance(entries, entry_scan.ChildEntries) is child
        blocks = []
        while (block := entries.next_block()) is not None:
            blocks.append(tuple(list(part) for part in block))
        entries.close()
        assert entries.unreadable == [101]
    keys = [key for block in blocks for key in block[0]]
    assert keys.count(id_digest("id-3")) == 2
    with open(path, "rb") as f:
        assert entry_scan.find_superseding(f, end) == {id_digest("id-3"): 0xA0 | RECORDED}
    index = RecordedIndex(path, end=end)  # the lines of id-3 but its last are left out
    assert index.take(id_digest("id-3")) == 0xA0 | RECORDED
    assert index.superseded() == [id_digest("id-3")]
    for i in range(len(raws) - 1):
        assert (index.take(id_digest(f"id-{i}")) is None) is (i == 3), i
    index.drain()
    assert index.stale == 0
    index.close()
    with open(path, "rb") as f:
        local = entry_scan.LocalEntries(f, end)
        expected = []
        while (block := local.next_block()) is not None:
            expected.append(tuple(list(part) for part in block))
    assert blocks == expected


def test_a_child_that_dies_is_taken_over_where_it_stopped(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    raws = [b"line %d\n" % i for i in range(3 * entry_scan.BLOCK_ENTRIES)]
    path = tmp_path / "o.jsonl"
    path.write_bytes(b"".join(_result_line(f"id-{i}", r, SEED) for i, r in enumerate(raws)))
    monkeypatch.setattr(entry_scan, "CHILD_MIN_BYTES", 0)
    with open(path, "rb") as f:
        entries = entry_scan.open_entries(f, path, path.stat().st_size)
        assert isinstance(entries, entry_scan.ChildEntries)
        keys = list(entries.next_block()[0])  # type: ignore[index]
        entries._proc.kill()
        while (block := entries.next_block()) is not None:
            keys.extend(block[0])
        entries.close()
    assert keys == [id_digest(f"id-{i}") for i in range(len(raws))]
