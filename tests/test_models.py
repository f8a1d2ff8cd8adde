"""Requests and results: success semantics, answer text, and the output-line round trip."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from surge._constants import OUTPUT_METADATA_KEY
from surge.models import ErrorInfo, Request, Result, failure_kind


def chat(content: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


@pytest.mark.parametrize(
    ("status", "error", "ok"),
    [
        (200, None, True),
        (201, None, True),
        (299, None, True),
        (300, None, False),
        (400, None, False),
        (429, None, False),
        (500, None, False),
        (None, None, False),  # never answered
        (200, ErrorInfo("invalid_json", "x"), False),  # an answer we could not use
        (None, ErrorInfo("timeout", "x"), False),
    ],
)
def test_ok(status: int | None, error: ErrorInfo | None, ok: bool) -> None:
    assert Result(custom_id="a", status_code=status, error=error).ok is ok


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (chat("Paris."), "Paris."),
        (chat(None), None),  # a tool call has no content
        (chat(["not", "a", "string"]), None),
        ({"choices": [{"text": "legacy"}]}, "legacy"),
        ({"choices": []}, None),
        ({"output_text": "from responses"}, "from responses"),
        (
            {
                "output": [
                    {"type": "reasoning", "summary": []},
                    {
                        "type": "message",
                        "content": [
                            {"type": "output_text", "text": "Hello, "},
                            {"type": "refusal", "refusal": "no"},
                            {"type": "output_text", "text": "world."},
                        ],
                    },
                ]
            },
            "Hello, world.",
        ),
        ({"output": [{"type": "function_call", "name": "f"}]}, None),
        ({"output": [{"type": "message", "content": None}]}, None),
        ({"data": [{"embedding": [0.1, 0.2]}]}, None),  # embeddings have no text
        ("plain string body", None),
        (None, None),
    ],
)
def test_text(body: Any, text: str | None) -> None:
    assert Result(custom_id="a", status_code=200, body=body).text == text


def test_text_of_a_failure_is_none() -> None:
    assert Result(custom_id="a", status_code=500, body=chat("error page")).text is None


@pytest.mark.parametrize(
    ("body", "usage"),
    [
        ({"usage": {"prompt_tokens": 3}}, {"prompt_tokens": 3}),
        ({"usage": None}, None),
        ({}, None),
        ("text", None),
    ],
)
def test_usage(body: Any, usage: dict[str, int] | None) -> None:
    assert Result(custom_id="a", status_code=200, body=body).usage == usage


@pytest.mark.parametrize(
    "result",
    [
        Result(
            custom_id="ok-1",
            line=3,
            status_code=200,
            body=chat("hi") | {"usage": {"total_tokens": 9}},
            request_id="req_123",
            attempts=2,
            latency=1.2345,
        ),
        Result(
            custom_id="http-err",
            line=4,
            status_code=400,
            body={"error": {"message": "bad"}},
            error=ErrorInfo("http_error", "HTTP 400: bad"),
            attempts=1,
            latency=0.01,
        ),
        Result(
            custom_id="timeout",
            line=5,
            error=ErrorInfo("timeout", "timed out (after 7 attempts)"),
            attempts=7,
        ),
        Result(
            custom_id="line-9",
            line=9,
            error=ErrorInfo("invalid_input", "line 9: not valid JSON"),
            line_error=True,
        ),
        Result(custom_id="no-line", line=None, status_code=200, body="not json"),
    ],
    ids=lambda r: r.custom_id,
)
def test_output_round_trip(result: Result) -> None:
    record = orjson.loads(orjson.dumps(result.to_output()))  # through real JSON
    back = Result.from_output(record)
    for name in ("custom_id", "line", "status_code", "body", "request_id", "error", "attempts"):
        assert getattr(back, name) == getattr(result, name), name
    assert back.id == result.id
    assert back.ok == result.ok
    assert back.text == result.text
    assert back.line_error == result.line_error
    if result.latency is None:
        assert back.latency is None
    else:
        assert back.latency == pytest.approx(result.latency, abs=1e-4)


def test_output_record_is_the_batch_api_shape() -> None:
    result = Result(
        custom_id="a",
        line=1,
        status_code=200,
        body=chat("x"),
        request_id="req_1",
        attempts=1,
        latency=0.5,
        fingerprint="0123456789abcdef",
    )
    record = result.to_output()
    assert list(record) == ["id", "custom_id", "response", "error", OUTPUT_METADATA_KEY]
    assert record["id"].startswith("batch_req_")
    assert record["response"] == {"status_code": 200, "request_id": "req_1", "body": chat("x")}
    assert record["error"] is None
    assert record[OUTPUT_METADATA_KEY] == {
        "line": 1,
        "attempts": 1,
        "latency_ms": 500.0,
        "fingerprint": "0123456789abcdef",
    }
    assert Result.from_output(record).fingerprint == "0123456789abcdef"


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "invalid_parameter", "permanent"),
        (400, "http_400", "permanent"),
        (401, "invalid_api_key", "permanent"),
        (404, "model_not_found", "permanent"),
        (501, "http_501", "permanent"),
        (429, "insufficient_quota", "permanent"),
        (429, "rate_limit_exceeded", "transient"),
        (408, "http_408", "transient"),
        (500, "server_error", "transient"),
        (503, "http_503", "transient"),
        (None, "timeout", "transient"),
        (None, "connection_error", "transient"),
        (200, "invalid_response", "transient"),
        (None, "invalid_input", "permanent"),
    ],
)
def test_failure_kind(status: int | None, code: str, kind: str) -> None:
    assert failure_kind(status, code) == kind


def test_failures_are_classified_in_the_output() -> None:
    bad = Result(custom_id="a", status_code=400, error=ErrorInfo("invalid_parameter", "no"))
    flaky = Result(custom_id="b", error=ErrorInfo("timeout", "slow"))
    line = Result(custom_id="c", error=ErrorInfo("invalid_input", "x"), line_error=True)
    fine = Result(custom_id="d", status_code=200, body={})
    meta = [r.to_output()[OUTPUT_METADATA_KEY] for r in (bad, flaky, line, fine)]
    assert [m.get("failure") for m in meta] == ["permanent", "transient", "permanent", None]


def test_never_answered_has_no_response() -> None:
    record = Result(custom_id="a", error=ErrorInfo("connection_error", "refused")).to_output()
    assert record["response"] is None
    assert record["error"] == {"code": "connection_error", "message": "refused"}
    assert "latency_ms" not in record[OUTPUT_METADATA_KEY]


@pytest.mark.parametrize(
    "record",
    [
        {"custom_id": "a"},  # a bare record from another tool
        {"custom_id": "a", "response": None, "error": None, "surge": None},
        {"id": "batch_req_x", "custom_id": "a", "response": {"status_code": 200, "body": {}}},
    ],
)
def test_from_output_tolerates_sparse_records(record: dict[str, Any]) -> None:
    result = Result.from_output(record)
    assert result.custom_id == "a"
    assert result.attempts == 0
    assert result.latency is None
    assert result.id.startswith("batch_req_")


def test_from_output_reads_a_batch_api_output_line() -> None:
    # A line as the OpenAI Batch API writes it (no surge metadata).
    record = {
        "id": "batch_req_abc",
        "custom_id": "request-1",
        "response": {"status_code": 200, "request_id": "req_9", "body": chat("done")},
        "error": None,
    }
    result = Result.from_output(record)
    assert (result.ok, result.text, result.request_id, result.id) == (
        True,
        "done",
        "req_9",
        "batch_req_abc",
    )


def test_ids_are_unique() -> None:
    assert len({Result(custom_id="a").id for _ in range(1000)}) == 1000


def test_request_defaults() -> None:
    req = Request(custom_id="a", body={"model": "m"})
    assert (req.url, req.method, req.line, req.index) == ("/v1/chat/completions", "POST", None, 0)
