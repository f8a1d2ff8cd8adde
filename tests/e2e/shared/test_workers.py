"""``surge run --workers N`` against the simulator: one limit, one output, exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import orjson

from ..helpers import (
    CLI,
    attempts_by_id,
    by_id,
    chat_line,
    cli_env,
    is_ok,
    read_output,
    run_cli,
    sim_args,
    write_jsonl,
)
from .conftest import RedisServer


def _input(tmp_path: Path, n: int) -> Path:
    return write_jsonl(
        tmp_path / "in.jsonl", [chat_line(f"r{i}", f"question {i}") for i in range(n)]
    )


def _lines_in(folder: Path) -> int:
    total = 0
    for part in folder.glob("*.jsonl"):
        total += part.read_bytes().count(b"\n")
    return total


def test_workers_share_one_limit_into_one_output(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(rpm=1200)
    out = tmp_path / "out.jsonl"
    proc = run_cli(
        _input(tmp_path, 90), "-o", out, *sim_args(sim, "--workers", "3", "--rpm", "1200")
    )
    assert proc.returncode == 0, proc.stderr
    records = by_id(read_output(out))
    assert len(records) == 90 and all(is_ok(r) for r in records.values())
    assert not (tmp_path / "out.jsonl.parts").exists()
    stats = sim.stats()
    assert stats["by_status"] == {"200": 90}
    arrivals = sorted(e["t"] for e in stats["requests"])
    rate = 89 / (arrivals[-1] - arrivals[0])
    assert 0.9 * 19.8 <= rate <= 20.0, f"{rate:.1f}/s"
    assert "3 workers wrote 90 results" in proc.stderr


def test_sigkill_of_the_whole_group_then_rerun_sends_nothing_written_twice(
    sim_factory, tmp_path: Path
) -> None:
    sim = sim_factory(latency=0.05)
    path = _input(tmp_path, 300)
    out = tmp_path / "out.jsonl"
    parts = tmp_path / "out.jsonl.parts"
    args = [*CLI, str(path), "-o", str(out), *sim_args(sim, "--workers", "2", "--rpm", "3000")]
    proc = subprocess.Popen(
        args,
        env=cli_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while _lines_in(parts) < 60:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    written = {r["custom_id"] for part in parts.glob("*.jsonl") for r in _complete(part)}
    assert len(written) >= 60

    again = run_cli(path, "-o", out, *sim_args(sim, "--workers", "2", "--rpm", "3000"))
    assert again.returncode == 0, again.stderr
    assert "merged" in again.stderr
    records = by_id(read_output(out))  # fails if any custom_id is there twice
    assert set(records) == {f"r{i}" for i in range(300)}
    attempts = attempts_by_id(sim)
    for custom_id in written:
        assert len(attempts[custom_id]) == 1, f"{custom_id} was sent again after it was written"
    assert not parts.exists()


def _complete(part: Path) -> list[dict[str, object]]:
    raw = part.read_bytes()
    return [orjson.loads(line) for line in raw.split(b"\n")[:-1]]


def test_workers_option_errors_are_usage_errors(tmp_path: Path) -> None:
    path = _input(tmp_path, 2)
    proc = run_cli(path, "-o", tmp_path / "o.jsonl", "--workers", "2", "--ordered", "--model", "m")
    assert proc.returncode == 2
    assert "--workers cannot write results in input order" in proc.stderr


def test_sigterm_to_the_parent_stops_every_worker_gracefully(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(latency=0.2)
    path = _input(tmp_path, 200)
    out = tmp_path / "out.jsonl"
    args = [*CLI, str(path), "-o", str(out), *sim_args(sim, "--workers", "2", "--rpm", "1200")]
    proc = subprocess.Popen(
        args, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    parts = tmp_path / "out.jsonl.parts"
    deadline = time.monotonic() + 30
    while _lines_in(parts) < 20:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)  # to the parent alone: it passes it on
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "interrupted. Resume with" in stderr and "Traceback" not in stderr
    first = by_id(read_output(out))
    # In-flight requests finished and were recorded: everything the server got is written.
    assert len(first) == sim.stats()["received"] < 200

    again = run_cli(path, "-o", out, *sim_args(sim, "--workers", "2", "--rpm", "6000"))
    assert again.returncode == 0, again.stderr
    assert set(by_id(read_output(out))) == {f"r{i}" for i in range(200)}
    assert sim.stats()["received"] == 200  # nothing sent twice


def test_duplicates_and_bad_lines_are_reported_once_with_workers(
    sim_factory, tmp_path: Path
) -> None:
    sim = sim_factory()
    path = _input(tmp_path, 30)
    with path.open("a", encoding="utf-8") as f:
        f.write("{not json\n")
        f.write(orjson.dumps(chat_line("r3", "again")).decode() + "\n")  # a duplicate id
    out = tmp_path / "out.jsonl"
    proc = run_cli(path, "-o", out, *sim_args(sim, "--workers", "3"))
    assert proc.returncode == 1, proc.stderr
    records = by_id(read_output(out))
    (dup,) = [cid for cid in records if cid.startswith("r3#")]  # the ledger names it
    assert set(records) == {f"r{i}" for i in range(30)} | {"line-31", dup}
    assert records["line-31"]["error"]["code"] == "invalid_input"
    assert "duplicate custom_id" in records[dup]["error"]["message"]
    assert sim.stats()["received"] == 30


def test_workers_with_a_redis_limiter(
    sim_factory, redis_server: RedisServer, tmp_path: Path
) -> None:
    sim = sim_factory(rpm=1200)
    out = tmp_path / "out.jsonl"
    proc = run_cli(
        _input(tmp_path, 40),
        "-o",
        out,
        *sim_args(sim, "--workers", "2", "--rpm", "1200", "--limiter", redis_server.url),
    )
    assert proc.returncode == 0, proc.stderr
    assert len(by_id(read_output(out))) == 40
    arrivals = sorted(e["t"] for e in sim.stats()["requests"])
    assert 39 / (arrivals[-1] - arrivals[0]) <= 20.0
