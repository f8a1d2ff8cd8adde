"""Input formats in, Batch API output format out, through the real ``surge run``."""

from __future__ import annotations

from pathlib import Path

from surge.io.formats import content_id
from surge_sim import Simulator, prompt_digest

from .helpers import (
    answer_digest,
    attempts_by_id,
    by_id,
    chat_line,
    is_ok,
    read_output,
    run_cli,
    sim_args,
    write_jsonl,
    write_lines,
)


def _assert_batch_record(record: dict, line: int) -> None:
    """Every field of the Batch API output format, plus surge's metadata."""
    assert set(record) == {"id", "custom_id", "response", "error", "surge"}
    assert record["id"].startswith("batch_req_")
    response = record["response"]
    assert response["status_code"] == 200
    assert response["request_id"].startswith("req_")
    assert isinstance(response["body"], dict)
    assert record["error"] is None
    meta = record["surge"]
    assert meta["line"] == line
    assert meta["attempts"] == 1
    assert isinstance(meta["latency_ms"], int | float) and meta["latency_ms"] >= 0


def test_batch_lines_for_chat_responses_and_embeddings(sim: Simulator, tmp_path: Path) -> None:
    rows = [
        chat_line("chat-1", "What is 2+2?"),
        {
            "custom_id": "resp-1",
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": "gpt-4o-mini", "input": "Name a colour."},
        },
        {
            "custom_id": "emb-1",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "text-embedding-3-small", "input": "embed me"},
        },
        chat_line("chat-2", "Another question?"),
    ]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    proc = run_cli(src, "-o", out, "--base-url", sim.base_url, "--progress", "none")
    assert proc.returncode == 0, proc.stderr

    records = by_id(read_output(out))
    assert set(records) == {"chat-1", "resp-1", "emb-1", "chat-2"}
    for line, row in enumerate(rows, start=1):
        _assert_batch_record(records[row["custom_id"]], line)
    assert answer_digest(records["chat-1"]) == prompt_digest("What is 2+2?")
    assert answer_digest(records["chat-2"]) == prompt_digest("Another question?")
    assert answer_digest(records["resp-1"]) == prompt_digest("Name a colour.")
    assert records["resp-1"]["response"]["body"]["object"] == "response"
    emb = records["emb-1"]["response"]["body"]
    assert emb["object"] == "list" and len(emb["data"][0]["embedding"]) == 64

    # Each request reached the URL its line named, exactly once, tagged with its custom_id.
    seen = attempts_by_id(sim)
    assert {cid: [e["path"] for e in entries] for cid, entries in seen.items()} == {
        "chat-1": ["/v1/chat/completions"],
        "resp-1": ["/v1/responses"],
        "emb-1": ["/v1/embeddings"],
        "chat-2": ["/v1/chat/completions"],
    }
    assert seen["emb-1"][0]["digest"] == prompt_digest("embed me")


def test_prompt_rows_with_ids_and_messages(sim: Simulator, tmp_path: Path) -> None:
    rows = [
        {"id": "a", "prompt": "alpha"},
        {"id": 7, "prompt": "seven"},
        {"prompt": "no id here"},
        {"custom_id": "m", "messages": [{"role": "user", "content": "from messages"}]},
    ]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    proc = run_cli(src, "-o", out, *sim_args(sim))
    assert proc.returncode == 0, proc.stderr

    records = by_id(read_output(out))
    expected = {
        "a": "alpha",
        "7": "seven",
        content_id("no id here"): "no id here",
        "m": "from messages",
    }
    assert set(records) == set(expected)
    for cid, prompt in expected.items():
        assert is_ok(records[cid])
        assert answer_digest(records[cid]) == prompt_digest(prompt)
        assert records[cid]["response"]["body"]["model"] == "gpt-4o-mini"


def test_plain_text_lines_get_content_ids_and_blank_lines_are_skipped(
    sim: Simulator, tmp_path: Path
) -> None:
    prompts = [f"question number {i}" for i in range(1, 29)]
    prompts += ['with "quotes" and \\ backslash', "ünïcødé ✓"]
    src = write_lines(tmp_path / "in.txt", [*prompts[:10], "", *prompts[10:]])
    out = tmp_path / "out.jsonl"
    proc = run_cli(src, "-o", out, *sim_args(sim, "-c", "8"))
    assert proc.returncode == 0, proc.stderr

    assert len(out.read_bytes().splitlines()) == len(prompts)  # one compact line each
    records = by_id(read_output(out))
    assert len(records) == len(prompts)  # every input line -> exactly one output line
    for i, prompt in enumerate(prompts, start=1):
        line = i if i <= 10 else i + 1  # the blank line 11 is not a request
        record = records[content_id(prompt)]
        assert record["surge"]["line"] == line
        assert answer_digest(record) == prompt_digest(prompt)
    assert sim.stats()["received"] == len(prompts)


def test_stdin_input(sim: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    proc = run_cli("-", "-o", out, *sim_args(sim), stdin="one\ntwo\nthree\n")
    assert proc.returncode == 0, proc.stderr
    records = by_id(read_output(out))
    assert {cid: answer_digest(r) for cid, r in records.items()} == {
        content_id("one"): prompt_digest("one"),
        content_id("two"): prompt_digest("two"),
        content_id("three"): prompt_digest("three"),
    }


def test_system_prompt_and_params_reach_the_server(sim: Simulator, tmp_path: Path) -> None:
    src = write_lines(tmp_path / "in.txt", ["hello there"])
    plain, with_system = tmp_path / "plain.jsonl", tmp_path / "system.jsonl"
    assert run_cli(src, "-o", plain, *sim_args(sim)).returncode == 0
    proc = run_cli(
        src,
        "-o",
        with_system,
        *sim_args(sim, "--system", "You are a terse assistant who answers in French."),
        "--param",
        "temperature=0",
    )
    assert proc.returncode == 0, proc.stderr
    base, sys_rec = read_output(plain)[0], read_output(with_system)[0]
    # The answer still belongs to the user's message; the system prompt costs prompt tokens.
    assert answer_digest(sys_rec) == answer_digest(base) == prompt_digest("hello there")
    assert (
        sys_rec["response"]["body"]["usage"]["prompt_tokens"]
        > base["response"]["body"]["usage"]["prompt_tokens"] + 5
    )

    # The parameter really is in the body: the simulator validates temperature's range.
    bad = tmp_path / "bad.jsonl"
    proc = run_cli(src, "-o", bad, *sim_args(sim), "--param", "temperature=7")
    assert proc.returncode == 1
    (record,) = read_output(bad)
    assert record["response"]["status_code"] == 400
    assert "temperature" in record["error"]["message"]


def test_responses_api_for_prompt_lines(sim: Simulator, tmp_path: Path) -> None:
    src = write_lines(tmp_path / "in.txt", ["first prompt", "second prompt"])
    out = tmp_path / "out.jsonl"
    proc = run_cli(src, "-o", out, *sim_args(sim, "--api", "responses", "--system", "Be brief."))
    assert proc.returncode == 0, proc.stderr
    records = by_id(read_output(out))
    assert answer_digest(records[content_id("first prompt")]) == prompt_digest("first prompt")
    assert answer_digest(records[content_id("second prompt")]) == prompt_digest("second prompt")
    assert all(r["response"]["body"]["object"] == "response" for r in records.values())
    assert {e["path"] for e in sim.stats()["requests"]} == {"/v1/responses"}
