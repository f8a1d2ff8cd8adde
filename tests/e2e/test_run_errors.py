"""Transient vs permanent failures, secrets, timeouts, exit codes and malformed lines."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from surge import _constants as C
from surge_sim import prompt_digest

from .helpers import (
    answer_digest,
    attempts_by_id,
    by_id,
    chat_line,
    cli_env,
    is_ok,
    read_output,
    run_cli,
    sim_args,
    write_jsonl,
    write_lines,
)


def test_transient_503s_are_retried_until_success(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(fail_first=2)
    src = write_lines(tmp_path / "in.txt", [f"flaky {i}" for i in range(10)])
    out = tmp_path / "out.jsonl"
    proc = run_cli(src, "-o", out, *sim_args(sim, "-c", "10"))
    assert proc.returncode == 0, proc.stderr
    records = by_id(read_output(out))
    assert len(records) == 10
    for record in records.values():
        assert is_ok(record)
        assert record["surge"]["attempts"] == 3
    seen = attempts_by_id(sim)
    assert all([e["status"] for e in entries] == [503, 503, 200] for entries in seen.values())


def test_permanent_400_is_recorded_at_once_with_the_servers_message(sim, tmp_path: Path) -> None:
    bad = {
        "custom_id": "no-messages",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini"},
    }
    src = write_jsonl(tmp_path / "in.jsonl", [chat_line("good", "fine"), bad])
    out = tmp_path / "out.jsonl"
    proc = run_cli(src, "-o", out, "--base-url", sim.base_url, "--progress", "none")
    assert proc.returncode == 1
    records = by_id(read_output(out))
    assert is_ok(records["good"])
    failed = records["no-messages"]
    assert failed["response"]["status_code"] == 400
    assert failed["surge"]["attempts"] == 1
    assert "messages" in failed["error"]["message"]  # the server's own words
    assert failed["error"]["code"]
    assert len(attempts_by_id(sim)["no-messages"]) == 1  # not retried
    assert failed["surge"]["failure"] == "permanent"
    assert "--retry-failed" not in proc.stderr  # sending it again cannot help


SECRET = "sk-e2e-wrong-key-0123456789abcdef"


def test_wrong_api_key_is_not_retried_and_never_echoed(sim_factory, tmp_path: Path) -> None:
    """A refused key stops the run at once (exit 2): nothing is written, so the same
    command resumes every request once the key is fixed; the key is never printed."""
    sim = sim_factory(api_key="sk-the-right-one")
    src = write_lines(tmp_path / "in.txt", ["a", "b", "c"])
    for variant, key_args, env in [
        ("flag", ["--api-key", SECRET], None),
        ("equals", [f"--api-key={SECRET}"], None),
        ("env", [], cli_env(OPENAI_API_KEY=SECRET)),
    ]:
        out = tmp_path / f"out-{variant}.jsonl"
        proc = run_cli(src, "-o", out, *sim_args(sim, "-vv"), *key_args, env=env)
        assert proc.returncode == 2, (variant, proc.stderr)
        assert read_output(out) == []
        assert "refused the request" in proc.stderr and "--api-key" in proc.stderr
        everything = out.read_text() + proc.stdout + proc.stderr
        assert SECRET not in everything, variant
        assert SECRET[8:] not in everything, variant  # not even a fragment
    # Nothing configured: surge sends a first wave (FIRST_WAVE requests, here all 3 lines)
    # before the server has said anything, so a refused key costs one wave per run.
    assert sim.stats(log=False)["by_status"] == {"401": 3 * min(3, C.FIRST_WAVE)}


def test_right_api_key_from_the_environment_works(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(api_key="sk-the-right-one")
    src = write_lines(tmp_path / "in.txt", ["a"])
    out = tmp_path / "out.jsonl"
    proc = run_cli(src, "-o", out, *sim_args(sim), env=cli_env(OPENAI_API_KEY="sk-the-right-one"))
    assert proc.returncode == 0, proc.stderr
    assert is_ok(read_output(out)[0])


def test_hung_requests_time_out_and_the_run_ends(sim_factory, tmp_path: Path) -> None:
    """Every attempt hangs: two attempts of 0.5 s (plus ~0.5 s backoff) each, all in parallel."""
    sim = sim_factory(hang=1.0)
    src = write_lines(tmp_path / "in.txt", [f"hang {i}" for i in range(8)])
    out = tmp_path / "out.jsonl"
    started = time.monotonic()
    proc = run_cli(src, "-o", out, *sim_args(sim, "--timeout", "0.5", "--max-retries", "1"))
    wall = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    assert wall < 8  # ~1 s start-up + 0.5 + 0.5 backoff + 0.5
    records = by_id(read_output(out))
    assert len(records) == 8
    for record in records.values():
        assert record["response"] is None
        assert record["error"]["code"] == "timeout"
        assert record["surge"]["attempts"] == 2
    assert all(len(e) == 2 for e in attempts_by_id(sim).values())


def test_some_hangs_end_as_timeouts_or_succeed_on_retry(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(hang=0.3, seed=11)
    prompts = [f"maybe hang {i}" for i in range(30)]
    src = write_lines(tmp_path / "in.txt", prompts)
    out = tmp_path / "out.jsonl"
    started = time.monotonic()
    proc = run_cli(
        src, "-o", out, *sim_args(sim, "-c", "30", "--timeout", "0.5", "--max-retries", "1")
    )
    assert time.monotonic() - started < 8
    records = by_id(read_output(out))
    assert len(records) == 30
    retried_ok = failed = 0
    for record in records.values():
        if is_ok(record):
            line = record["surge"]["line"]
            assert answer_digest(record) == prompt_digest(prompts[line - 1])
            retried_ok += record["surge"]["attempts"] == 2
        else:
            assert record["error"]["code"] == "timeout"
            assert record["surge"]["attempts"] == 2
            failed += 1
    assert retried_ok > 0  # a hang on the first attempt, then an answer
    assert proc.returncode == (1 if failed else 0)


def test_usage_errors_exit_2_and_send_nothing(sim, tmp_path: Path) -> None:
    text = write_lines(tmp_path / "in.txt", ["a prompt"])
    out = tmp_path / "out.jsonl"
    base = ["--base-url", sim.base_url, "--progress", "none"]

    missing = run_cli(tmp_path / "nope.txt", "-o", out, *base, "--model", "m")
    assert missing.returncode == 2
    assert "nope.txt" in missing.stderr

    bad_param = run_cli(text, "-o", out, *base, "--model", "m", "--param", "temperature")
    assert bad_param.returncode == 2
    assert "key=value" in bad_param.stderr

    same_file = run_cli(text, "-o", text, *base, "--model", "m")
    assert same_file.returncode == 2
    assert text.read_text() == "a prompt\n"  # the input is untouched

    assert sim.stats(log=False)["received"] == 0
    assert not out.exists() or out.read_text() == ""


def test_malformed_lines_each_get_one_error_line(sim, tmp_path: Path) -> None:
    lines = [
        orjson.dumps(chat_line("ok-1", "first")).decode(),  # 1
        '{"custom_id": "broken", "body": ',  # 2: invalid JSON
        "[1, 2, 3]",  # 3: not an object
        orjson.dumps({**chat_line("get", "x"), "method": "GET"}).decode(),  # 4
        orjson.dumps(chat_line("ok-1", "duplicate")).decode(),  # 5: duplicate custom_id
        orjson.dumps(chat_line("ok-2", "second")).decode(),  # 6
        orjson.dumps({"custom_id": "nobody", "method": "POST"}).decode(),  # 7: no body
    ]
    src = write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    proc = run_cli(src, "-o", out, "--base-url", sim.base_url, "--progress", "none")
    assert proc.returncode == 1

    records = read_output(out)
    assert len(records) == len(lines)  # every input line -> exactly one output line
    by_id(records)  # and each custom_id once: a resume must not mistake one for another
    by_line = {r["surge"]["line"]: r for r in records}
    assert sorted(by_line) == list(range(1, 8))
    for line in (1, 6):
        assert is_ok(by_line[line])
    assert answer_digest(by_line[1]) == prompt_digest("first")
    assert answer_digest(by_line[6]) == prompt_digest("second")
    problems = {2: "JSON", 3: "object", 4: "GET", 5: "duplicate", 7: "body"}
    for line, word in problems.items():
        record = by_line[line]
        assert record["response"] is None
        assert record["error"]["code"] == "invalid_input"
        message = record["error"]["message"]
        assert f"line {line}" in message, message
        assert word.lower() in message.lower(), message
    # Only the two valid lines were sent.
    assert sorted(e["client_request_id"] for e in sim.stats()["requests"]) == ["ok-1", "ok-2"]
    assert "ok-1" in by_line[5]["error"]["message"]  # names the repeated id
