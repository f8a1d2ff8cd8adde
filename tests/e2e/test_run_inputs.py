"""Input paths, format detection, bad rows that never stop a run, and what the CLI says."""

from __future__ import annotations

import os
import pty
import shlex
import subprocess
import time
from pathlib import Path

import orjson

from surge.io.formats import content_id
from surge_sim import Simulator, prompt_digest

from .helpers import (
    CLI,
    answer_digest,
    by_id,
    cli_env,
    is_ok,
    read_output,
    run_cli,
    sim_args,
    write_jsonl,
    write_lines,
)


def test_a_directory_as_input_is_named_as_such(sim: Simulator, tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "-o", tmp_path / "out.jsonl", *sim_args(sim))
    assert proc.returncode == 2
    assert "is a directory" in proc.stderr
    assert "not found" not in proc.stderr


def test_a_process_substitution_pipe_is_read(sim: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    command = " ".join(
        [
            *map(shlex.quote, CLI),
            "<(printf 'piped one\\npiped two\\n')",
            "-o",
            shlex.quote(str(out)),
            *map(shlex.quote, sim_args(sim)),
        ]
    )
    proc = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, env=cli_env()
    )
    assert proc.returncode == 0, proc.stderr
    records = by_id(read_output(out))
    assert {cid: answer_digest(r) for cid, r in records.items()} == {
        content_id("piped one"): prompt_digest("piped one"),
        content_id("piped two"): prompt_digest("piped two"),
    }


def test_a_text_prompt_starting_with_a_brace_is_text(sim: Simulator, tmp_path: Path) -> None:
    prompts = ["{a, b} is a set: how many elements?", "What is 2+2?"]
    src = write_lines(tmp_path / "in.txt", prompts)
    out = tmp_path / "out.jsonl"
    proc = run_cli(src, "-o", out, *sim_args(sim))
    assert proc.returncode == 0, proc.stderr
    records = by_id(read_output(out))
    assert answer_digest(records[content_id(prompts[0])]) == prompt_digest(prompts[0])

    ambiguous = write_lines(tmp_path / "one.txt", ["{not json, not sure}"])
    proc = run_cli(ambiguous, "-o", tmp_path / "amb.jsonl", *sim_args(sim))
    assert proc.returncode == 2
    assert "--input-format" in proc.stderr
    text = run_cli(
        ambiguous, "-o", tmp_path / "amb.jsonl", *sim_args(sim, "--input-format", "text")
    )
    assert text.returncode == 0, text.stderr


def test_a_row_without_a_model_at_line_501_of_1001_is_one_error_line(
    sim: Simulator, tmp_path: Path
) -> None:
    rows = [{"id": f"r{i}", "prompt": f"row {i}", "model": "gpt-4o-mini"} for i in range(1, 1002)]
    del rows[500]["model"]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    proc = run_cli(
        src, "-o", out, "--base-url", sim.base_url, "--progress", "none", "-c", "50", timeout=120
    )
    assert proc.returncode == 1, proc.stderr
    records = by_id(read_output(out))
    assert len(records) == 1001
    bad = records["r501"]  # the user's own id, and its line
    assert bad["surge"]["line"] == 501
    assert bad["error"]["code"] == "invalid_input"
    assert "no model" in bad["error"]["message"]
    assert sum(is_ok(r) for r in records.values()) == 1000
    assert sim.stats(log=False)["received"] == 1000


def test_prompt_row_parameters_reach_the_body_and_unknown_keys_are_named(
    sim: Simulator, tmp_path: Path
) -> None:
    rows = [
        {"id": "short", "prompt": "tell me a long story", "max_tokens": 3},
        {"id": "typo", "prompt": "hello", "temprature": 0},
        {"id": "dup", "prompt": "one"},
        {"id": "dup", "prompt": "two"},
    ]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    proc = run_cli(src, "-o", out, *sim_args(sim))
    assert proc.returncode == 1
    records = by_id(read_output(out))
    assert records["short"]["response"]["body"]["usage"]["completion_tokens"] <= 3
    assert "unknown key 'temprature'" in records["typo"]["error"]["message"]
    assert records["typo"]["surge"]["line"] == 2
    assert records["dup#2"]["surge"]["line"] == 4  # unique, and still says where it was
    assert is_ok(records["dup"])


def test_verbose_shows_retries(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(fail_first=1)
    src = write_lines(tmp_path / "in.txt", ["retry me"])
    proc = run_cli(src, "-o", tmp_path / "out.jsonl", *sim_args(sim, "-v", "--max-retries", "2"))
    assert proc.returncode == 0, proc.stderr
    assert "retry " in proc.stderr and "HTTP 503" in proc.stderr
    quiet = run_cli(src, "-o", tmp_path / "out2.jsonl", *sim_args(sim))
    assert "retry " not in quiet.stderr


def test_the_first_status_line_names_endpoint_and_model_never_the_key(
    sim: Simulator, tmp_path: Path
) -> None:
    src = write_lines(tmp_path / "in.txt", ["hi"])
    proc = run_cli(src, "-o", tmp_path / "out.jsonl", *sim_args(sim), "--api-key", "sk-secret-123")
    assert proc.returncode == 0, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert sim.base_url in first and "gpt-4o-mini" in first
    assert "sk-secret" not in proc.stderr


def test_reading_stdin_from_a_terminal_says_so(sim: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [*CLI, "-", "-o", str(out), *sim_args(sim)],
        stdin=child,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    os.close(child)
    os.write(main, b"from the terminal\n\x04")
    time.sleep(0.5)
    os.write(main, b"\x04")  # a terminal's end of input is not sticky: a reader may ask twice
    _, err = proc.communicate(timeout=60)
    os.close(main)
    assert proc.returncode == 0, err
    assert b"reading requests from standard input" in err
    (record,) = read_output(out)
    assert answer_digest(record) == prompt_digest("from the terminal")
    assert orjson.loads(out.read_bytes())["custom_id"] == content_id("from the terminal")
