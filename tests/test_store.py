"""The JSONL store: the output file is the truth about what is finished (resume, repair,
one writer, only its own files, one current line per custom_id)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import orjson
import pytest

from surge.errors import InputError, OutputError
from surge.io.ledger import Skip
from surge.io.store import (
    JsonlStore,
    MemoryStore,
    StreamStore,
    latest_results,
    open_store,
    read_results,
)
from surge.models import ErrorInfo, Request, Result


def ok(custom_id: str, text: str = "fine", fp: str | None = None) -> Result:
    body = {"choices": [{"message": {"role": "assistant", "content": text}}]}
    return Result(
        custom_id=custom_id, line=1, status_code=200, body=body, attempts=1, fingerprint=fp
    )


def failed(custom_id: str, status: int | None = 500) -> Result:
    return Result(
        custom_id=custom_id,
        status_code=status,
        body={"error": {"message": "boom"}} if status else None,
        error=ErrorInfo("http_error" if status else "timeout", "boom"),
        attempts=3,
    )


def write_all(path: Path, results: list[Result]) -> None:
    store = JsonlStore(path)
    store.open()
    for result in results:
        store.write(result)
    store.close()


def ids_in(path: Path) -> list[str]:
    return [orjson.loads(raw)["custom_id"] for raw in path.read_bytes().splitlines()]


def recorded(store: JsonlStore, *ids: str) -> list[bool]:
    assert store.ledger is not None
    return [store.ledger.recorded(cid) for cid in ids]


def request(custom_id: str, content: str = "q") -> Request:
    return Request(
        custom_id=custom_id, body={"model": "m", "messages": [{"role": "user", "content": content}]}
    )


def test_new_file_is_created_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    store = JsonlStore(path)
    store.open()
    assert path.exists()
    lock = tmp_path / ".out.jsonl.surge-lock"
    assert lock.read_text().strip() == str(os.getpid())
    store.close()
    assert path.read_bytes() == b""
    assert not lock.exists()  # no litter once the run is over


def test_write_close_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    results = [ok("a", "one"), failed("b"), ok("c", "three")]
    write_all(path, results)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""  # every line ends with a newline
    assert len(lines) == 4
    back = list(read_results(path))
    assert [r.custom_id for r in back] == ["a", "b", "c"]
    assert [r.text for r in back] == ["one", None, "three"]
    assert [r.ok for r in back] == [True, False, True]
    assert [r.id for r in back] == [r.id for r in results]
    assert back[1].error == ErrorInfo("http_error", "boom")


def test_resume_knows_recorded_ids_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_all(path, [ok("a"), failed("b")])
    store = JsonlStore(path)
    store.open()
    assert recorded(store, "a", "b", "c") == [True, True, False]
    store.write(ok("c"))
    store.close()
    assert ids_in(path) == ["a", "b", "c"]


def test_torn_last_line_is_cut(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "out.jsonl"
    write_all(path, [ok("a"), ok("b")])
    whole = path.read_bytes()
    torn = orjson.dumps(ok("c").to_output())[:40]  # killed mid-write: no newline
    path.write_bytes(whole + torn)
    store = JsonlStore(path)
    with caplog.at_level(logging.WARNING, logger="surge.io.outfile"):
        store.open()
    assert recorded(store, "a", "b", "c") == [True, True, False]
    assert "torn last line (40 bytes)" in caplog.text
    store.write(ok("c"))
    store.close()
    assert ids_in(path) == ["a", "b", "c"]


def test_complete_record_without_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_all(path, [ok("a")])
    path.write_bytes(path.read_bytes() + orjson.dumps(ok("b").to_output()))
    store = JsonlStore(path)
    store.open()
    assert recorded(store, "a", "b") == [True, True]
    store.close()
    assert ids_in(path) == ["a", "b"]
    assert path.read_bytes().endswith(b"}\n")


def test_file_that_is_one_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"id":"batch_req_1","custom_')
    store = JsonlStore(path)
    store.open()
    store.close()
    assert path.read_bytes() == b""


def test_torn_line_longer_than_the_repair_chunk(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_all(path, [ok("a")])
    path.write_bytes(path.read_bytes() + b'{"custom_id": "big", "x": "' + b"y" * 200_000)
    store = JsonlStore(path)
    store.open()
    assert recorded(store, "a", "big") == [True, False]
    store.close()
    assert ids_in(path) == ["a"]


@pytest.mark.parametrize(
    "junk",
    [b"{not json", b"[1, 2]", b'"a string"', b'{"no_custom_id": 1}', b"42"],
)
def test_corrupt_middle_line_is_ignored_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, junk: bytes
) -> None:
    path = tmp_path / "out.jsonl"
    a, c = (orjson.dumps(r.to_output()) for r in (ok("a"), ok("c")))
    path.write_bytes(a + b"\n" + junk + b"\n" + c + b"\n")
    store = JsonlStore(path)
    with caplog.at_level(logging.WARNING, logger="surge.io.store"):
        store.open()
    assert recorded(store, "a", "c") == [True, True]
    store.close()
    assert f"{path}:2: unreadable output line ignored" in caplog.text


@pytest.mark.parametrize(
    "content",
    [
        b'{"name": "my settings", "debug": true}\n',  # someone's JSON file
        b"dear diary,\ntoday I ran surge\n",  # a text file
        b"no newline at all",
        b"[1, 2, 3]\n",
        b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n',
    ],
)
def test_foreign_files_are_refused_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "precious.txt"
    path.write_bytes(content)
    with pytest.raises(OutputError, match="does not hold surge or Batch API output"):
        JsonlStore(path).open()
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]  # lock released


def test_batch_api_output_is_accepted_and_matched_by_id(tmp_path: Path) -> None:
    # OpenAI's own output lines carry no fingerprint: the custom_id is all there is.
    path = tmp_path / "batch_output.jsonl"
    line = {
        "id": "batch_req_1",
        "custom_id": "r1",
        "response": {"status_code": 200, "request_id": "x", "body": {}},
        "error": None,
    }
    path.write_bytes(orjson.dumps(line) + b"\n")
    store = JsonlStore(path)
    ledger = store.open()
    assert isinstance(ledger.admit(request("r1")), Skip)
    store.close()


def test_a_second_writer_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    first = JsonlStore(path)
    first.open()
    with pytest.raises(OutputError, match=rf"in use by process {os.getpid()}"):
        JsonlStore(path).open()
    first.close()
    second = JsonlStore(path)  # free again
    second.open()
    second.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d, "is a directory"),
        (lambda d: Path("/dev/full"), "not a regular file"),
        (lambda d: Path("/dev/null"), "not a regular file"),
        (lambda d: Path("/proc/self/status"), "kernel file"),
        (lambda d: d / "missing-dir" / "out.jsonl", "does not exist"),
    ],
)
def test_special_outputs_are_refused_up_front(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(OutputError, match=message):
        JsonlStore(make(tmp_path)).open()


def test_a_fifo_output_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="FIFO"):
        JsonlStore(fifo).open()


def test_write_errors_name_the_path_and_the_os_error(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    store = JsonlStore(path)
    store.open()
    store.close()
    with pytest.raises(OutputError, match="not open"):
        store.write(ok("a"))
    # A read-only descriptor stands in for a disk that refuses the write (EBADF).
    stream = StreamStore(os.open(path, os.O_RDONLY))
    stream.open()
    with pytest.raises(OutputError, match="cannot write to standard output: Bad file"):
        stream.write(ok("a"))


def test_stream_store_writes_lines_to_its_descriptor() -> None:
    read_end, write_end = os.pipe()
    store = StreamStore(write_end)
    assert store.open().recorded("a") is False
    store.write(ok("a"))
    store.close()
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        assert [orjson.loads(line)["custom_id"] for line in f] == ["a"]


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_store(None), MemoryStore)
    assert isinstance(open_store("-"), StreamStore)
    assert isinstance(open_store(tmp_path / "o.jsonl"), JsonlStore)


# -- one current line per custom_id ------------------------------------------------------


def run_once(
    path: Path, requests: list[Request | InputError], answer: str = "new", **kwargs: bool
) -> None:
    """What the engine does: admit each request, write an answer for those to send."""
    store = JsonlStore(path, **kwargs)
    ledger = store.open()
    for req in requests:
        admitted = ledger.admit(req)
        if isinstance(admitted, Request):
            store.write(ok(admitted.custom_id, answer, fp=admitted.fingerprint))
        elif isinstance(admitted, Result):
            store.write(admitted)
    ledger.end_of_input()
    store.close()


def texts(path: Path) -> dict[str, str | None]:
    return {r.custom_id: r.text for r in read_results(path)}


def test_changed_requests_supersede_and_the_file_is_compacted(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    run_once(path, [request("a", "1"), request("b", "2")], "old")
    path.chmod(0o600)
    run_once(path, [request("a", "1"), request("b", "changed")], "new")
    assert ids_in(path) == ["a", "b"]
    assert texts(path) == {"a": "old", "b": "new"}
    assert path.stat().st_mode & 0o777 == 0o600  # rewritten, permissions kept


def test_answers_to_removed_lines_are_dropped_unless_keep_stale(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    run_once(path, [request("a"), request("b"), request("c")], "old")
    run_once(path, [request("a"), request("c", "changed")], "new", keep_stale=True)
    assert texts(path) == {"a": "old", "b": "old", "c": "old"}  # nothing sent, nothing dropped
    run_once(path, [request("a"), request("c")], "new")
    assert texts(path) == {"a": "old", "c": "old"}


def test_an_interrupted_run_is_not_compacted(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    run_once(path, [request("a", "1"), request("b")], "old")
    store = JsonlStore(path)
    ledger = store.open()
    admitted = ledger.admit(request("a", "2"))
    assert isinstance(admitted, Request)
    store.write(ok("a", "new", fp=admitted.fingerprint))
    store.close()  # no end_of_input: "b" may still come, and "a" has two lines
    assert ids_in(path) == ["a", "b", "a"]
    # Reader rule: the last line for a custom_id is the current one.
    assert {k: v.text for k, v in latest_results(path, {"a", "b"}).items()} == {
        "a": "new",
        "b": "old",
    }


def test_a_complete_run_with_nothing_to_drop_does_not_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    run_once(path, [request("a"), request("b")])
    inode = path.stat().st_ino
    run_once(path, [request("a"), request("b"), request("c")])
    assert path.stat().st_ino == inode
    assert ids_in(path) == ["a", "b", "c"]


def test_retry_failed_resends_and_supersedes(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_all(path, [ok("a"), failed("b"), failed("c", 400)])
    store = JsonlStore(path, retry_failed=True)
    ledger = store.open()
    assert [type(ledger.admit(request(cid))).__name__ for cid in "abc"] == [
        "Skip",
        "Request",
        "Request",
    ]
    store.write(ok("b"))
    store.write(ok("c"))
    ledger.end_of_input()
    store.close()
    assert ids_in(path) == ["a", "b", "c"]
    assert all(r.ok for r in read_results(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # no temp, no lock


def test_invalid_lines_are_recorded_again_and_keep_their_id(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    run_once(path, [request("a"), InputError("no model", line=3, custom_id="b")])
    assert [(r.custom_id, r.line_error) for r in read_results(path)] == [
        ("a", False),
        ("b", True),
    ]
    store = JsonlStore(path)
    ledger = store.open()
    assert isinstance(ledger.admit(request("a")), Skip)
    # Fixed since: the recorded error answers nothing that was sent, so it is sent now.
    assert isinstance(ledger.admit(request("b")), Request)
    store.close()


def test_read_results_skips_junk(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    a = orjson.dumps(ok("a").to_output())
    path.write_bytes(a + b"\n{junk\n[1]\n" + b'{"no_id": 1}\n' + b"\n")
    assert [r.custom_id for r in read_results(path)] == ["a"]


def test_memory_store_keeps_nothing() -> None:
    store = MemoryStore()
    assert store.open().recorded("a") is False
    store.write(ok("a"))
    store.close()
    assert store.open().recorded("a") is False


def _run(
    path: Path, *requests: Request, complete: bool = True, text: str = "answer"
) -> list[object]:
    """One run over ``requests``: what the ledger decided; sent ones are answered."""
    store = JsonlStore(path)
    ledger = store.open()
    decisions: list[object] = []
    for r in requests:
        decision = ledger.admit(r)
        decisions.append(decision)
        if isinstance(decision, Request):
            store.write(
                ok(decision.custom_id, f"{text}:{decision.custom_id}", decision.fingerprint)
            )
    if complete:
        ledger.end_of_input()
    store.close()
    return decisions


def test_a_line_sent_again_supersedes_the_old_one_even_before_compaction(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    _run(path, request("a"), request("b"), text="one")
    # The prompt of "a" was edited; the run stops before its input ends (no compaction).
    decisions = _run(path, request("a", "edited"), complete=False, text="two")
    assert isinstance(decisions[0], Request)
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3 and b'"supersedes":true' in lines[2]
    assert b"supersedes" not in lines[0] + lines[1]
    # The same edited prompt again: its newest line answers it, nothing is sent.
    decisions = _run(path, request("a", "edited"), request("b"))
    assert all(isinstance(d, Skip) for d in decisions)
    assert [(r.custom_id, r.text) for r in read_results(path)] == [("b", "one:b"), ("a", "two:a")]
    # Compacted: one line per id, and none says it supersedes another any more.
    assert b"supersedes" not in path.read_bytes()
    assert orjson.loads(path.read_bytes().splitlines()[1])["surge"]["fingerprint"]


def test_reverting_an_edit_sends_again_and_keeps_only_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    _run(path, request("a"), text="one")
    _run(path, request("a", "edited"), complete=False, text="two")
    decisions = _run(path, request("a"), text="three")  # back to the first prompt
    assert isinstance(decisions[0], Request)  # the current line answers the edit, not this
    assert [r.text for r in read_results(path)] == ["three:a"]


def test_a_model_answer_with_a_supersedes_key_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    odd = Result(custom_id="x", status_code=200, body={"supersedes": True}, fingerprint="ab" * 8)
    write_all(path, [odd, ok("y")])
    store = JsonlStore(path, keep_stale=True)  # as a Batch fetch opens it
    ledger = store.open()
    assert ledger.recorded("x") and ledger.recorded("y")  # the body's key is no marker
    store.write(ok("x", "again"))  # not admitted: asks the output, which has "x"
    ledger.end_of_input()
    store.close()
    assert [r.text for r in read_results(path)] == ["fine", "again"]
    write_all(path, [odd])
    assert b'"body":{"supersedes":true}' in path.read_bytes()
