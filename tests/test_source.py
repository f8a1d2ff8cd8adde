"""Streaming input files: format detection, blank lines, bad bytes, line numbers, counting."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surge.config import RunOptions
from surge.errors import ConfigError, InputError
from surge.io import line_parser, source
from surge.io.formats import RequestBuilder
from surge.io.formats import content_id as cid
from surge.io.source import count_lines, iter_items, read_lines
from surge.models import Request

MODEL = "gpt-4.1-mini"


def builder() -> RequestBuilder:
    return RequestBuilder(RunOptions(model=MODEL))


async def read(path: Path, **kwargs: Any) -> list[Request | InputError]:
    return [item async for item in read_lines(path, builder(), **kwargs)]


def summary(items: list[Request | InputError]) -> list[tuple[Any, ...]]:
    """(line, custom_id, prompt) for requests, (line, reason) for errors."""
    out: list[tuple[Any, ...]] = []
    for item in items:
        if isinstance(item, InputError):
            out.append((item.line, item.reason))
        else:
            messages = item.body.get("messages") or [{}]
            out.append((item.line, item.custom_id, messages[-1].get("content")))
    return out


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # JSONL: decided by the first non-blank line.
        (
            b'{"id": "a", "prompt": "one"}\n{"prompt": "two"}\n',
            [(1, "a", "one"), (2, cid("two"), "two")],
        ),
        (
            b'"a json string"\n"another"\n',
            [(1, cid("a json string"), "a json string"), (2, cid("another"), "another")],
        ),
        (b'  {"prompt": "indented"}\n', [(1, cid("indented"), "indented")]),
        # Plain text: one prompt per line, JSON-looking later lines are taken literally.
        (
            b'What is 2+2?\n{"prompt": "x"}\n',
            [
                (1, cid("What is 2+2?"), "What is 2+2?"),
                (2, cid('{"prompt": "x"}'), '{"prompt": "x"}'),
            ],
        ),
        # Blank lines are skipped but still counted for line numbers.
        (
            b'\n\n{"prompt": "a"}\n\n   \n\t\n{"prompt": "b"}\n\n',
            [(3, cid("a"), "a"), (7, cid("b"), "b")],
        ),
        (b"first\n\n\nfourth\n", [(1, cid("first"), "first"), (4, cid("fourth"), "fourth")]),
        # CRLF endings, and a last line without a newline.
        (
            b'{"prompt": "a"}\r\n\r\n{"prompt": "b"}\r\n{"prompt": "c"}',
            [(1, cid("a"), "a"), (3, cid("b"), "b"), (4, cid("c"), "c")],
        ),
        (b"hello\r\nworld\r\n", [(1, cid("hello"), "hello"), (2, cid("world"), "world")]),
        # A UTF-8 byte-order mark does not turn JSONL into text.
        (b'\xef\xbb\xbf{"id": "a", "prompt": "x"}\n', [(1, "a", "x")]),
        (b"\xef\xbb\xbfplain\n", [(1, cid("plain"), "plain")]),
        # Non-ASCII text is fine.
        ("Größe? 日本語 🎉\n".encode(), [(1, cid("Größe? 日本語 🎉"), "Größe? 日本語 🎉")]),
        # Empty files have no requests.
        (b"", []),
        (b"\n\n  \n", []),
    ],
)
async def test_read_lines(tmp_path: Path, data: bytes, expected: list[tuple[Any, ...]]) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    assert summary(await read(path)) == expected


async def test_bad_lines_become_errors_and_the_stream_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"prompt": "ok"}\n'
        b"{broken\n"
        b'{"prompt": "caf\xe9"}\n'  # Latin-1, not UTF-8
        b"[1]\n"
        b'{"prompt": "still ok"}\n'
    )
    items = await read(path)
    assert summary(items) == [
        (1, cid("ok"), "ok"),
        (2, items[1].reason if isinstance(items[1], InputError) else None),
        (3, "not valid UTF-8 (byte 15)"),
        (4, "expected a JSON object or string, got list"),
        (5, cid("still ok"), "still ok"),
    ]
    assert isinstance(items[1], InputError)
    assert items[1].reason.startswith("not valid JSON")
    assert str(items[2]) == "line 3: not valid UTF-8 (byte 15)"


async def test_invalid_utf8_first_line_does_not_decide_the_format(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\xff\xfe junk\n" + b'{"prompt": "a"}\n')
    items = await read(path)
    assert summary(items) == [(1, "not valid UTF-8 (byte 0)"), (2, cid("a"), "a")]


@pytest.mark.parametrize(
    ("input_format", "expected"),
    [
        ("auto", [(1, cid("x"), "x")]),
        ("jsonl", [(1, cid("x"), "x")]),
        ("text", [(1, cid('{"prompt": "x"}'), '{"prompt": "x"}')]),
    ],
)
async def test_forced_formats(
    tmp_path: Path, input_format: Any, expected: list[tuple[Any, ...]]
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"prompt": "x"}\n')
    assert summary(await read(path, input_format=input_format)) == expected


async def test_forced_jsonl_on_text_gives_errors(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(b"plain words\n")
    [item] = await read(path, input_format="jsonl")
    assert isinstance(item, InputError) and item.line == 1


async def test_missing_model_is_an_error_line_and_the_stream_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": "a", "prompt": "x"}\n{"prompt": "y", "model": "m"}\n')
    items = [x async for x in read_lines(path, RequestBuilder(RunOptions()))]
    assert isinstance(items[0], InputError) and items[0].custom_id == "a"
    assert "no model" in items[0].reason
    assert isinstance(items[1], Request) and items[1].body["model"] == "m"


@pytest.mark.parametrize(
    ("lines", "text_mode"),
    [
        (['{"prompt": "x"}'], False),
        (['"a json string"'], False),
        (["plain words"], True),
        # A text file whose first prompt starts with a brace: the next lines say "text".
        (["{curly} braces are fine", "What is 2+2?"], True),
        (['{"quoted" start but prose', "second prompt"], True),
        # A JSONL file whose first line is broken: a later line is JSON.
        (['{"prompt": broken', '{"prompt": "fine"}'], False),
        (["", "   ", '{"prompt": "x"}'], False),
    ],
)
def test_detect_text_mode(lines: list[str], text_mode: bool) -> None:
    assert line_parser.detect_text_mode(lines) is text_mode


def test_detect_text_mode_names_the_option_when_it_cannot_tell() -> None:
    with pytest.raises(ConfigError, match="--input-format"):
        line_parser.detect_text_mode(["{just one line"], first_line=3)


async def test_text_prompt_starting_with_a_brace_is_text(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(b"{x} is a set; explain\nWhat is 2+2?\n")
    assert summary(await read(path)) == [
        (1, cid("{x} is a set; explain"), "{x} is a set; explain"),
        (2, cid("What is 2+2?"), "What is 2+2?"),
    ]


async def test_file_is_closed_when_iteration_stops_early(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(b"a\nb\nc\n")
    opened: list[Any] = []
    real_open = open

    def spy(*args: Any, **kwargs: Any) -> Any:
        f = real_open(*args, **kwargs)
        opened.append(f)
        return f

    monkeypatch.setattr(source, "open", spy, raising=False)
    stream = read_lines(path, builder())
    await anext(stream)
    await stream.aclose()
    assert len(opened) == 1 and opened[0].closed


async def test_streaming_does_not_read_the_whole_file_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.txt"
    with open(path, "wb") as f:
        f.writelines(b"prompt number %d\n" % i for i in range(1_000_000))
    size = path.stat().st_size
    read_bytes = 0
    real_open = open

    class Counting:
        def __init__(self, f: Any) -> None:
            self.f = f

        def readlines(self, hint: int) -> list[bytes]:
            nonlocal read_bytes
            lines = self.f.readlines(hint)
            read_bytes += sum(map(len, lines))
            return lines

        def close(self) -> None:
            self.f.close()

    monkeypatch.setattr(source, "open", lambda *a, **k: Counting(real_open(*a, **k)), raising=False)
    stream = read_lines(path, builder())
    first = await anext(stream)
    assert isinstance(first, Request) and first.line == 1
    assert read_bytes < size / 20  # one ~256 KiB batch of a ~20 MB file
    await stream.aclose()


@pytest.mark.parametrize(
    ("data", "count"),
    [
        (b"", 0),
        (b"a\n", 1),
        (b"a", 1),  # no final newline
        (b"a\nb", 2),
        (b"a\nb\n", 2),
        (b"a\n\nb\n", 2),
        (b"a\n\n\nb\n", 2),  # a run of blank lines
        (b"\na\n", 1),  # a leading blank line
        (b"\n\n\n", 0),
        (b"a\n  \n\t\nb\n", 2),  # whitespace-only lines are blank too
        (b"a\r\n\r\nb\r\n", 2),  # CRLF blank lines
        (b"\xff\n", 1),  # undecodable lines still become (error) results
    ],
)
def test_count_lines(tmp_path: Path, data: bytes, count: int) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    assert count_lines(path) == count


@pytest.mark.parametrize(
    "data",
    [
        b'{"prompt": "a"}\n\n\n{"prompt": "b"}\r\n \n{"prompt": "c"}',
        b"one\n\xff\n\n\nthree\n",
        b"\n" * 5 + b"x\n" * 3,
    ],
)
async def test_count_lines_matches_what_read_lines_yields(tmp_path: Path, data: bytes) -> None:
    # The progress total must equal the number of results the run will produce.
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    assert count_lines(path) == len(await read(path))


def test_count_lines_streams_big_files(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    with open(path, "wb") as f:
        for _ in range(50):
            f.write(b"x\n" * 10_000 + b"\n")
    assert count_lines(path) == 500_000


async def test_iter_items_sync_and_async() -> None:
    items: list[object] = ["a", {"id": "b", "prompt": "b"}, 42]

    async def agen() -> Any:
        for item in items:
            yield item

    for source_items in (items, agen()):
        out = [x async for x in iter_items(source_items, builder())]  # type: ignore[arg-type]
        assert [x.line for x in out] == [1, 2, 3]
        assert isinstance(out[0], Request) and out[0].custom_id == cid("a")
        assert isinstance(out[1], Request) and out[1].custom_id == "b"
        assert isinstance(out[2], InputError)


async def _in_batches(path: Path, **kwargs: Any) -> list[list[Request | InputError]]:
    return [batch async for batch in read_lines(path, builder(), **kwargs).batches()]


@pytest.mark.parametrize("batch_bytes", [8, 1 << 16])
@pytest.mark.parametrize("input_format", ["auto", "jsonl", "text"])
async def test_batches_give_what_one_at_a_time_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_bytes: int, input_format: Any
) -> None:
    monkeypatch.setattr(source, "_BATCH_BYTES", batch_bytes)
    path = tmp_path / "in.txt"
    lines = [b"\xef\xbb\xbf", b'{"id": "a", "prompt": "one"}', b"", b"  \t", b"caf\xe9"]
    lines += [b'"two"\r', b"{broken", b"[1]", b"plain three", b"", b'{"prompt": "four"}']
    path.write_bytes(b"\n".join(lines * 40) + b"\nno newline at the end")
    one_by_one = await read(path, input_format=input_format)
    batches = await _in_batches(path, input_format=input_format)
    assert all(0 < len(batch) <= line_parser.ITEMS_PER_BATCH for batch in batches)
    flat = [item for batch in batches for item in batch]
    assert summary(flat) == summary(one_by_one)
    assert [item.line for item in flat] == [item.line for item in one_by_one]
    # Blank lines are no items, a bad line is one; the first BOM-only line is blank
    # (later ones are not), and the last line has no newline.
    assert len(flat) == 40 * 8 - 1 + 1
    if batch_bytes == 8:
        assert len(batches) > 40


async def test_batches_go_on_after_items_taken_one_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(b"".join(b"prompt %d\n" % i for i in range(5000)))
    stream = read_lines(path, builder())
    first = [await anext(stream), await anext(stream)]
    rest = [item async for batch in stream.batches() for item in batch]
    assert [item.line for item in first + rest] == list(range(1, 5001))


async def test_forced_text_drops_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(b"\xef\xbb\xbffirst\nsecond\n")
    assert summary(await read(path, input_format="text")) == [
        (1, cid("first"), "first"),
        (2, cid("second"), "second"),
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([b"a", b" ", b"\t", b"\r", b"\n", b"\x0b", b"xy"]), max_size=60),
    st.sampled_from([1, 2, 3, 7, 1 << 20]),
)
def test_count_lines_counts_what_strip_calls_non_blank(parts: list[bytes], block: int) -> None:
    data = b"".join(parts)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.txt"
        path.write_bytes(data)
        old = source._COUNT_BYTES
        source._COUNT_BYTES = block  # lines across block boundaries too
        try:
            # File lines end at b"\n" only (what read_lines reads).
            assert count_lines(path) == sum(1 for raw in io.BytesIO(data) if raw.strip())
        finally:
            source._COUNT_BYTES = old
