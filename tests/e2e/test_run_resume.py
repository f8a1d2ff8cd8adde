"""Killed, interrupted or partly failed runs resume with the same command, paying nothing twice."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from surge.io.formats import content_id
from surge_sim import prompt_digest

from .helpers import (
    CLI,
    answer_digest,
    by_id,
    chat_line,
    cli_process,
    count_lines,
    is_ok,
    read_output,
    run_cli,
    sim_args,
    wait_for_lines,
    write_jsonl,
    write_lines,
)

N = 300


def _prompts(tmp_path: Path, n: int = N) -> tuple[Path, list[str]]:
    prompts = [f"resumable prompt {i}" for i in range(1, n + 1)]
    return write_lines(tmp_path / "in.txt", prompts), prompts


def _sent_counts(sim) -> Counter[str]:
    """How many times each custom_id reached the server and got an answer (any status)."""
    return Counter(
        e["client_request_id"] for e in sim.stats()["requests"] if isinstance(e["status"], int)
    )


def _ids(prompts: list[str]) -> dict[str, str]:
    return {content_id(p): p for p in prompts}


def _assert_complete(out: Path, prompts: list[str]) -> dict[str, dict]:
    records = by_id(read_output(out))  # fails on a duplicate custom_id
    ids = _ids(prompts)
    assert set(records) == set(ids)
    for cid, record in records.items():
        assert is_ok(record), record
        assert answer_digest(record) == prompt_digest(ids[cid])
        assert prompts[record["surge"]["line"] - 1] == ids[cid]
    return records


def test_sigkill_then_resume_pays_nothing_twice(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(latency=0.1)
    src, prompts = _prompts(tmp_path)
    out = tmp_path / "out.jsonl"
    args = [src, "-o", out, *sim_args(sim, "-c", "20")]

    with cli_process(*args) as drain:
        wait_for_lines(out, 60, drain.proc)
        drain.proc.send_signal(signal.SIGKILL)
        assert drain.wait(timeout=10) == -signal.SIGKILL

    # Simulate a torn write as well: cut the last line in half.
    data = out.read_bytes()
    lines = data.splitlines(keepends=True)
    assert len(lines) >= 60
    out.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    done_before = {r["custom_id"] for r in read_output_prefix(out)}
    assert len(done_before) >= 59

    proc2 = run_cli(*args)
    assert proc2.returncode == 0, proc2.stderr
    _assert_complete(out, prompts)

    sent = _sent_counts(sim)
    paid_twice = sorted(cid for cid in done_before if sent[cid] != 1)
    assert paid_twice == [], f"sent again although already in the output: {paid_twice[:10]}"
    assert set(sent) == set(_ids(prompts))


def read_output_prefix(path: Path) -> list[dict]:
    """Complete lines only (the torn tail is not a result)."""
    import orjson

    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    return [orjson.loads(line) for line in complete.splitlines()]


def _resume_args(stderr: str) -> list[str]:
    """The ``surge ...`` command printed after "Resume with:", as an argv for our CLI."""
    lines = stderr.splitlines()
    index = max(i for i, line in enumerate(lines) if "Resume with:" in line)
    command = shlex.split(lines[index + 1].strip())
    assert command[0] == "surge" and command[1] == "run", command
    return command[2:]


def test_sigint_stops_gracefully_and_the_printed_command_resumes(
    sim_factory, tmp_path: Path
) -> None:
    sim = sim_factory(latency=0.1)
    src, prompts = _prompts(tmp_path)
    out = tmp_path / "out.jsonl"
    with cli_process(src, "-o", out, *sim_args(sim, "-c", "20")) as drain:
        wait_for_lines(out, 40, drain.proc)
        drain.proc.send_signal(signal.SIGINT)
        try:
            code = drain.wait(timeout=5)  # in-flight answers take 0.1 s
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 5 s after SIGINT, {count_lines(out)} lines written")
    assert code == 130, drain.stderr
    partial = by_id(read_output(out))
    assert 40 <= len(partial) < N
    assert all(is_ok(r) for r in partial.values())
    resume = _resume_args(drain.stderr)

    proc2 = run_cli(*resume)
    assert proc2.returncode == 0, proc2.stderr
    _assert_complete(out, prompts)
    # A graceful stop lets in-flight requests finish and records them: each was paid once.
    sent = _sent_counts(sim)
    assert sim.stats(log=False)["by_status"].get("200") == N
    assert max(sent.values()) == 1


def test_second_sigint_exits_at_once_with_valid_output(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(latency=0.05)
    src = write_lines(tmp_path / "in.txt", [f"slow prompt {i}" for i in range(1, 41)])
    out = tmp_path / "out.jsonl"
    args = [src, "-o", out, *sim_args(sim, "-c", "10")]
    with cli_process(*args) as drain:
        wait_for_lines(out, 5, drain.proc)
        sim.update_config(latency=5.0)  # what is in flight now would take long to finish
        # Requests admitted before the change finish in 0.05 s; then the engine's graceful
        # stop would end the run before the second signal. Wait for slow ones only.
        time.sleep(0.3)
        deadline = time.monotonic() + 5
        while sim.stats(log=False)["in_flight"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        drain.proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        drain.proc.send_signal(signal.SIGINT)
        second = time.monotonic()
        assert drain.wait(timeout=10) == 130
        assert time.monotonic() - second < 1.5
    assert "Resume with:" in drain.stderr
    partial = by_id(read_output(out))
    assert len(partial) >= 5

    sim.update_config(latency=0.0)
    proc2 = run_cli(*args)
    assert proc2.returncode == 0, proc2.stderr
    records = by_id(read_output(out))
    assert len(records) == 40 and all(is_ok(r) for r in records.values())


def test_retry_failed_resends_only_the_failures(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(error_500=0.3, seed=3)
    src, prompts = _prompts(tmp_path, 40)
    out = tmp_path / "out.jsonl"
    args = [src, "-o", out, *sim_args(sim, "-c", "20", "--max-retries", "0")]

    first = run_cli(*args)
    assert first.returncode == 1
    records = by_id(read_output(out))
    failed = {cid for cid, r in records.items() if not is_ok(r)}
    assert 0 < len(failed) < 40
    for cid in failed:
        assert records[cid]["response"]["status_code"] == 500
        assert records[cid]["surge"]["attempts"] == 1
    assert "--retry-failed" in first.stderr

    # Without --retry-failed an error is a finished result: nothing is sent.
    sim.update_config(error_500=0.0)
    sim.reset_stats()
    again = run_cli(*args)
    assert sim.stats(log=False)["received"] == 0
    assert again.returncode == 1  # the recorded failures still count

    retry = run_cli(*args, "--retry-failed")
    assert retry.returncode == 0, retry.stderr
    assert set(_sent_counts(sim)) == failed
    assert max(_sent_counts(sim).values()) == 1
    final = _assert_complete(out, prompts)
    # The successes of the first run were kept as they were (same batch ids).
    for cid, record in records.items():
        if cid not in failed:
            assert final[cid]["id"] == record["id"]


def test_duplicate_error_line_does_not_hide_the_original_on_resume(
    sim_factory, tmp_path: Path
) -> None:
    """Line 2 repeats line 1's custom_id. Its error line is written at once (no network),
    while line 1 is still waiting for its answer; the run is killed at that moment.
    Resuming must still send line 1 (it never got an answer): the file should end with
    line 1's answer and line 2's duplicate error.
    """
    sim = sim_factory(latency=3.0)
    src = write_jsonl(
        tmp_path / "in.jsonl", [chat_line("dup", "the original"), chat_line("dup", "the copy")]
    )
    out = tmp_path / "out.jsonl"
    args = [src, "-o", out, "--base-url", sim.base_url, "--progress", "none"]
    with cli_process(*args) as drain:
        wait_for_lines(out, 1, drain.proc)
        drain.proc.send_signal(signal.SIGKILL)
        drain.wait(timeout=10)
    assert [r["surge"]["line"] for r in read_output(out)] == [2]  # only the error line

    sim.update_config(latency=0.0)
    run_cli(*args)
    records = read_output(out)
    answered = [r for r in records if is_ok(r)]
    assert len(answered) == 1, records
    assert answer_digest(answered[0]) == prompt_digest("the original")


def test_resumed_run_with_recorded_failures_exits_1(sim_factory, tmp_path: Path) -> None:
    """Exit code 0 means every request succeeded: failures recorded by an earlier run
    count even when this invocation had nothing left to send."""
    sim = sim_factory(error_500=1.0)
    src, _ = _prompts(tmp_path, 3)
    out = tmp_path / "out.jsonl"
    args = [src, "-o", out, *sim_args(sim, "--max-retries", "0")]
    assert run_cli(*args).returncode == 1
    again = run_cli(*args)  # nothing left to send; the file still holds 3 failures
    assert sim.stats(log=False)["received"] == 3
    assert again.returncode == 1, again.stderr


def test_cli_module_invocation_is_what_the_resume_command_replays() -> None:
    # The helpers run "python -m surge.cli.main run ...": the printed "surge run ..." maps onto it.
    assert CLI[-2:] == ["surge.cli.main", "run"]
    assert os.path.basename(CLI[0]).startswith("python")
