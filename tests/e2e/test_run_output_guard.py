"""The output belongs to one run, holds only results, and a write error stops cleanly."""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import pytest

from surge_sim import Simulator

from .helpers import (
    CLI,
    by_id,
    cli_env,
    cli_process,
    is_ok,
    read_output,
    run_cli,
    sim_args,
    wait_for_lines,
    write_lines,
)


def test_a_second_run_on_the_same_output_fails_at_once(sim_factory, tmp_path: Path) -> None:
    # 8 rounds of 1 s: the first run is surely still going when the second one starts,
    # however busy the machine; once the second is refused, the rest is answered at once.
    sim = sim_factory(latency=1.0)
    src = write_lines(tmp_path / "in.txt", [f"locked prompt {i}" for i in range(40)])
    out = tmp_path / "out.jsonl"
    args = [src, "-o", out, *sim_args(sim, "-c", "5")]
    with cli_process(*args) as first:
        wait_for_lines(out, 1, first.proc)
        second = run_cli(*args)
        assert first.proc.poll() is None  # refused at once, not after waiting for the first
        sim.update_config(latency=0.0)
        assert second.returncode == 2, second.stderr
        assert f"in use by process {first.proc.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.wait(timeout=30) == 0, first.stderr
    records = by_id(read_output(out))
    assert len(records) == 40 and all(is_ok(r) for r in records.values())
    assert sim.stats(log=False)["received"] == 40  # nothing sent twice
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.jsonl"]


@pytest.mark.parametrize(
    "content",
    [
        b'{\n  "name": "my project",\n  "version": 3\n}\n',  # a foreign JSON file
        b"shopping list\nmilk\neggs\n",  # a text file
    ],
    ids=["json", "text"],
)
def test_a_file_that_is_not_surge_output_is_refused_untouched(
    sim: Simulator, tmp_path: Path, content: bytes
) -> None:
    src = write_lines(tmp_path / "in.txt", ["hello"])
    out = tmp_path / "notes.json"
    out.write_bytes(content)
    proc = run_cli(src, "-o", out, *sim_args(sim))
    assert proc.returncode == 2
    assert "does not hold surge or Batch API output" in proc.stderr
    assert out.read_bytes() == content
    assert sim.stats(log=False)["received"] == 0


def test_a_complete_last_line_without_newline_is_kept_and_not_sent_again(
    sim: Simulator, tmp_path: Path
) -> None:
    src = write_lines(tmp_path / "in.txt", [f"nl prompt {i}" for i in range(10)])
    out = tmp_path / "out.jsonl"
    assert run_cli(src, "-o", out, *sim_args(sim)).returncode == 0
    data = out.read_bytes()
    out.write_bytes(data[:-1])  # as another tool might save it
    sim.reset_stats()
    proc = run_cli(src, "-o", out, *sim_args(sim))
    assert proc.returncode == 0, proc.stderr
    assert sim.stats(log=False)["received"] == 0
    assert out.read_bytes() == data


def _limit_file_size(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_file_size_limit_stops_the_run_cleanly_and_it_resumes(
    sim: Simulator, tmp_path: Path
) -> None:
    prompts = [f"size-limited prompt {i}" for i in range(200)]
    src = write_lines(tmp_path / "in.txt", prompts)
    out = tmp_path / "out.jsonl"
    args = [src, "-o", out, *sim_args(sim, "-c", "4")]
    proc = subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
        preexec_fn=lambda: _limit_file_size(20_000),
    )
    assert proc.returncode == 3, proc.stderr  # the output could not be written
    assert f"cannot write to {out}: File too large" in proc.stderr
    assert "Resume once fixed with:" in proc.stderr
    assert "Traceback" not in proc.stderr
    written = {r["custom_id"] for r in read_output(out)}  # whole lines only
    assert 0 < len(written) < 200

    sim.reset_stats()
    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert len(by_id(read_output(out))) == 200
    again = {e["client_request_id"] for e in sim.stats()["requests"]}
    assert not again & written  # nothing whose result was written is sent again


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("/dev/full", "not a regular file"),
        ("/proc/self/status", "kernel file"),
        ("{dir}", "is a directory"),
        ("{fifo}", "not a regular file"),
    ],
)
def test_special_files_are_refused_as_outputs_up_front(
    sim: Simulator, tmp_path: Path, output: str, message: str
) -> None:
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    src = write_lines(tmp_path / "in.txt", ["hello"])
    target = output.format(dir=tmp_path, fifo=fifo)
    proc = run_cli(src, "-o", target, *sim_args(sim), timeout=20)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert sim.stats(log=False)["received"] == 0


def test_dash_output_streams_results_to_stdout(sim: Simulator, tmp_path: Path) -> None:
    src = write_lines(tmp_path / "in.txt", ["first", "second"])
    proc = subprocess.run(
        [*CLI, str(src), "-o", "-", *sim_args(sim)],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    import orjson

    records = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert len(records) == 2 and all(is_ok(r) for r in records)
    assert not (tmp_path / "-").exists()
    assert "stdout" in proc.stderr
