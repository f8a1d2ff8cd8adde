"""The batch pieces that need no server: splitting, merging lines, the state file."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from surge.batch.merge import batch_results, result_from_line
from surge.batch.split import Splitter, lines_path
from surge.batch.state import BatchState, Piece
from surge.errors import OutputError
from surge.models import Request


def req(i: int, *, model: str = "gpt-4o-mini", url: str = "/v1/chat/completions") -> Request:
    body = {"model": model, "messages": [{"role": "user", "content": f"q{i}"}]}
    return Request(custom_id=f"r{i}", body=body, url=url, line=i + 1)


def test_split_caps_requests_and_separates_models(tmp_path: Path):
    splitter = Splitter(tmp_path, round_id="abc", max_requests=4)
    for i in range(10):
        assert splitter.add(req(i, model="gpt-4o-mini" if i % 5 else "gpt-4o")) is None
    pieces = splitter.close()
    # 8 mini requests -> 4 + 4; 2 gpt-4o requests -> 1 piece.
    assert sorted((p.model, p.requests) for p in pieces) == [
        ("gpt-4o", 2),
        ("gpt-4o-mini", 4),
        ("gpt-4o-mini", 4),
    ]
    for piece in pieces:
        records = [orjson.loads(x) for x in Path(piece.path).read_bytes().splitlines()]
        assert len(records) == piece.requests
        assert {r["body"]["model"] for r in records} == {piece.model}
        assert all(r["method"] == "POST" and r["url"] == piece.endpoint for r in records)
        assert piece.bytes == Path(piece.path).stat().st_size
        lines = orjson.loads(lines_path(piece.path).read_bytes())
        assert lines == {r["custom_id"]: int(r["custom_id"][1:]) + 1 for r in records}
        assert "abc" in piece.filename


def test_split_caps_bytes(tmp_path: Path):
    one = len(orjson.dumps({"custom_id": "r0", "method": "POST", "url": "/v1/chat/completions",
                            "body": req(0).body})) + 1  # fmt: skip
    splitter = Splitter(tmp_path, round_id="b", max_bytes=one * 3)
    for i in range(7):
        splitter.add(req(i))
    assert [p.requests for p in splitter.close()] == [3, 3, 1]


def test_split_refuses_what_the_batch_api_cannot_take(tmp_path: Path):
    splitter = Splitter(tmp_path, round_id="c")
    error = splitter.add(req(0, url="/v1/moderations"))
    assert error is not None and "/v1/moderations" in error.message
    no_model = Request(custom_id="x", body={"messages": []}, line=3)
    error = splitter.add(no_model)
    assert error is not None and "line 3" in error.message
    assert splitter.close() == []


@pytest.mark.parametrize(
    ("record", "ok", "code"),
    [
        ({"custom_id": "a", "response": {"status_code": 200, "body": {"x": 1}}, "error": None}, True, None),
        (
            {"custom_id": "a", "response": {"status_code": 400,
             "body": {"error": {"code": "bad_param", "message": "no"}}}, "error": None},
            False,
            "bad_param",
        ),
        ({"custom_id": "a", "response": None, "error": {"code": "batch_expired", "message": "late"}}, False, "batch_expired"),
        ({"custom_id": "a", "response": None, "error": None}, False, "invalid_response"),
    ],
)  # fmt: skip
def test_each_line_judged_by_its_own_status(record, ok, code):
    result = result_from_line(record, line=7)
    assert result.ok is ok and result.line == 7
    assert (result.error.code if result.error else None) == code


def test_batch_results_join_by_custom_id_and_skip_strangers():
    data = b"\n".join(
        orjson.dumps({"id": f"batch_req_{c}", "custom_id": c,
                      "response": {"status_code": 200, "body": {}}, "error": None})
        for c in ("b", "zz", "a")
    ) + b"\nnot json\n"  # fmt: skip
    results = list(batch_results(data, {"a": 1, "b": 2}))
    assert [(r.custom_id, r.line, r.id) for r in results] == [
        ("b", 2, "batch_req_b"),
        ("a", 1, "batch_req_a"),
    ]


def test_state_round_trips_and_is_replaced_whole(tmp_path: Path):
    path = tmp_path / "out.jsonl.surge-batch.json"
    piece = Piece(index=1, path="p.jsonl", endpoint="/v1/chat/completions", model="m",
                  requests=3, bytes=10)  # fmt: skip
    state = BatchState(path=path, round_id="r", input="in.jsonl", base_url="http://x/v1",
                       pieces=[piece])  # fmt: skip
    state.save()
    piece.phase, piece.batch_id = "created", "batch_1"
    state.save()
    loaded = BatchState.load(path)
    assert loaded is not None and loaded.pieces[0].batch_id == "batch_1"
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    assert BatchState.load(tmp_path / "none.json") is None
    path.write_text("{broken")
    with pytest.raises(OutputError, match="move it away"):
        BatchState.load(path)
