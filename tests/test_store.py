"""The JSONL store: the output file is the truth about what is finished (resume, repair)."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from surge.errors import OutputError
from surge.io.store import JsonlStore, MemoryStore, read_results
from surge.models import ErrorInfo, Result


def ok(custom_id: str, text: str = "fine") -> Result:
    body = {"choices": [{"message": {"role": "assistant", "content": text}}]}
    return Result(custom_id=custom_id, line=1, status_code=200, body=body, attempts=1)


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


def test_new_file_is_created_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    store = JsonlStore(path)
    assert store.open().finished == set()
    assert path.exists()
    store.close()
    assert path.read_bytes() == b""


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


def test_resume_returns_finished_ids_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_all(path, [ok("a"), failed("b")])
    store = JsonlStore(path)
    assert store.open().finished == {"a", "b"}  # a failure is finished too, unless retry_failed
    store.write(ok("c"))
    store.close()
    assert ids_in(path) == ["a", "b", "c"]


def test_torn_last_line_is_repaired(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "out.jsonl"
    write_all(path, [ok("a"), ok("b")])
    whole = path.read_bytes()
    torn = orjson.dumps(ok("c").to_output())[:40]  # killed mid-write: no newline
    path.write_bytes(whole + torn)
    store = JsonlStore(path)
    with caplog.at_level(logging.WARNING, logger="surge.io.store"):
        assert store.open().finished == {"a", "b"}
    assert "torn last line (40 bytes)" in caplog.text
    store.write(ok("c"))
    store.close()
    assert ids_in(path) == ["a", "b", "c"]


def test_complete_record_without_newline_is_also_cut(tmp_path: Path) -> None:
    # surge writes record and newline in one write(): a missing newline means a torn write.
    path = tmp_path / "out.jsonl"
    write_all(path, [ok("a")])
    path.write_bytes(path.read_bytes() + orjson.dumps(ok("b").to_output()))
    store = JsonlStore(path)
    assert store.open().finished == {"a"}
    store.close()
    assert ids_in(path) == ["a"]


def test_file_that_is_one_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"id": "batch_req_1", "custom_')
    store = JsonlStore(path)
    assert store.open().finished == set()
    store.close()
    assert path.read_bytes() == b""


def test_torn_line_longer_than_the_repair_chunk(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_all(path, [ok("a")])
    path.write_bytes(path.read_bytes() + b'{"custom_id": "big", "x": "' + b"y" * 200_000)
    store = JsonlStore(path)
    assert store.open().finished == {"a"}
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
        assert store.open().finished == {"a", "c"}
    store.close()
    assert f"{path}:2: unreadable output line ignored" in caplog.text


def test_retry_failed_drops_error_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_all(path, [ok("a"), failed("b"), ok("c"), failed("d", status=None), failed("e", 400)])
    store = JsonlStore(path, retry_failed=True)
    assert store.open().finished == {"a", "c"}
    assert store.resumed_failures == 3
    # The rewrite happened before writing starts: no stale temp file, failures gone.
    assert ids_in(path) == ["a", "c"]
    assert list(tmp_path.iterdir()) == [path]
    store.write(ok("b"))
    store.close()
    assert ids_in(path) == ["a", "c", "b"]


@pytest.mark.parametrize(
    ("record", "is_failure"),
    [
        ({"custom_id": "x", "response": {"status_code": 200, "body": {}}, "error": None}, False),
        ({"custom_id": "x", "response": {"status_code": 200}, "error": {"code": "x"}}, True),
        ({"custom_id": "x", "response": {"status_code": 429}, "error": None}, True),
        ({"custom_id": "x", "response": None, "error": None}, True),
        ({"custom_id": "x", "response": {"status_code": "200"}, "error": None}, True),
        ({"custom_id": "x"}, True),
    ],
)
def test_retry_failed_classification(
    tmp_path: Path, record: dict[str, object], is_failure: bool
) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(orjson.dumps(record) + b"\n")
    store = JsonlStore(path, retry_failed=True)
    assert store.open().finished == (set() if is_failure else {"x"})
    store.close()
    assert (path.read_bytes() == b"") is is_failure


def test_retry_failed_without_failures_leaves_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_all(path, [ok("a"), ok("b")])
    before = path.stat().st_ino
    store = JsonlStore(path, retry_failed=True)
    assert store.open().finished == {"a", "b"}
    store.close()
    assert store.resumed_failures == 0
    assert path.stat().st_ino == before  # not rewritten


def test_retry_failed_also_repairs_the_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_all(path, [ok("a"), failed("b")])
    path.write_bytes(path.read_bytes() + b'{"custom_id": "c", "resp')
    store = JsonlStore(path, retry_failed=True)
    assert store.open().finished == {"a"}
    store.close()
    assert ids_in(path) == ["a"]


def test_write_before_open_fails(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="not open"):
        JsonlStore(tmp_path / "out.jsonl").write(ok("a"))


def test_close_twice_is_harmless(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "out.jsonl")
    store.open()
    store.close()
    store.close()


def test_unwritable_location_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="cannot open"):
        JsonlStore(tmp_path / "missing-dir" / "out.jsonl").open()


def test_unreadable_existing_path_is_an_output_error(tmp_path: Path) -> None:
    # A directory where the output file should be: a clear OutputError, not a bare OSError.
    with pytest.raises(OutputError, match="cannot read"):
        JsonlStore(tmp_path).open()


def test_read_results_skips_junk(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    a = orjson.dumps(ok("a").to_output())
    path.write_bytes(a + b"\n{junk\n[1]\n" + b'{"no_id": 1}\n' + b"\n")
    assert [r.custom_id for r in read_results(path)] == ["a"]


def test_memory_store_keeps_nothing() -> None:
    store = MemoryStore()
    assert store.open().finished == set()
    store.write(ok("a"))
    store.close()
    assert store.open().finished == set()
