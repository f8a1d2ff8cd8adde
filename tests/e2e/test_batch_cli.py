"""``surge batch`` end to end: the real CLI against the simulator's Batch API on loopback."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from surge.batch.state import BatchState, state_path_for
from surge.batch.workflow import BatchJob, BatchSettings
from surge.config import Endpoint
from surge_sim import Simulator, prompt_digest

from .helpers import answer_digest, by_id, cli_env, is_ok, read_output, sim_log, write_lines

BATCH = [sys.executable, "-m", "surge.cli.main", "batch"]
FAST = {"batch_time_scale": 0.001, "batch_requests_per_second": 100_000.0}


def batch_cli(*args: str | Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BATCH, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=cli_env()
    )


def write_requests(path: Path, n: int, *, max_tokens: int = 16) -> Path:
    """``n`` Batch API chat lines with tiny bodies (fast to split, send and answer)."""
    template = (
        '{"custom_id":"r%d","method":"POST","url":"/v1/chat/completions","body":'
        '{"model":"gpt-4o-mini","max_tokens":%d,"messages":[{"role":"user","content":"q%d"}]}}'
    )
    return write_lines(path, (template % (i, max_tokens, i) for i in range(n)))


def uploads(sim: Simulator) -> int:
    """How many input files were uploaded to the simulator (purpose "batch")."""
    import urllib.request

    with urllib.request.urlopen(sim.base_url + "/files?purpose=batch") as resp:
        return len(orjson.loads(resp.read())["data"])


def _list_batches(sim: Simulator) -> list[dict[str, Any]]:
    import urllib.request

    with urllib.request.urlopen(sim.base_url + "/batches?limit=100") as resp:
        return list(orjson.loads(resp.read())["data"])


def test_120000_lines_split_into_three_batches_and_merged(sim_factory, tmp_path: Path):
    sim = sim_factory(**FAST, log_requests=True)
    src = write_requests(tmp_path / "in.jsonl", 120_000)
    out = tmp_path / "out.jsonl"
    proc = batch_cli("run", src, "-o", out, "--base-url", sim.base_url, "--poll-interval", "0.2")
    assert proc.returncode == 0, proc.stderr
    batches = _list_batches(sim)
    assert len(batches) == 3
    assert sorted(b["request_counts"]["total"] for b in batches) == [20_000, 50_000, 50_000]
    assert uploads(sim) == 3  # one upload per piece
    records = by_id(read_output(out))
    assert len(records) == 120_000 and all(is_ok(r) for r in records.values())
    for i in (0, 49_999, 50_000, 119_999):
        assert answer_digest(records[f"r{i}"]) == prompt_digest(f"q{i}")
    assert records["r7"]["surge"]["line"] == 8
    assert "cost $" in proc.stderr and "at batch rates" in proc.stderr
    assert not (tmp_path / "out.jsonl.surge-batch").exists()  # piece files cleaned up


def test_killed_while_polling_resumes_without_submitting_again(sim_factory, tmp_path: Path):
    # Slow enough to be killed mid-way: 3 batches of 1,000 at 1,000 requests/s.
    sim = sim_factory(
        batch_time_scale=1.0,
        batch_validate_seconds=0.1,
        batch_finalize_seconds=0.1,
        batch_requests_per_second=1_000.0,
    )
    src = write_requests(tmp_path / "in.jsonl", 3_000)
    out = tmp_path / "out.jsonl"
    args = ["run", src, "-o", out, "--base-url", sim.base_url, "--poll-interval", "0.05"]
    args += ["--max-requests", "1000"]
    proc = subprocess.Popen(
        [*BATCH, *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=cli_env(),
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = _maybe_state(out)
            if state is not None and all(p.phase == "created" for p in state.pieces):
                break
            time.sleep(0.02)
        else:
            raise AssertionError("the batches were never all created")
        time.sleep(0.2)  # now it is polling
        assert proc.poll() is None
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(_list_batches(sim)) == 3
    assert not out.exists() or len(read_output(out)) < 3_000

    resumed = batch_cli(
        "run", src, "-o", out, "--base-url", sim.base_url, "--poll-interval", "0.05"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert len(_list_batches(sim)) == 3  # nothing created twice
    assert uploads(sim) == 3  # nothing uploaded twice
    records = by_id(read_output(out))
    assert len(records) == 3_000 and all(is_ok(r) for r in records.values())


def _maybe_state(out: Path) -> BatchState | None:
    try:
        return BatchState.load(state_path_for(out))
    except Exception:  # read while being replaced: try again
        return None


async def test_an_intent_without_its_result_is_looked_up_not_repeated(sim_factory, tmp_path):
    """A crash between creating a batch and recording it: the resume finds it by metadata."""
    sim = sim_factory(**FAST)
    src = write_requests(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    job = BatchJob(out, BatchSettings(endpoint=Endpoint(base_url=sim.base_url), poll_interval=0.02))
    async with job.client() as client:
        state = await job.submit(client, str(src))
        assert state is not None and len(state.pieces) == 1
        piece = state.pieces[0]
        created = piece.batch_id
        # Rewind the record to "about to create": as if killed before writing the id down.
        piece.phase, piece.batch_id = "creating", None
        state.save()
        state = await job.submit(client, str(src))
        assert state is not None and state.pieces[0].batch_id == created
        await job.wait(client, state)
        await job.fetch(client, state)
    assert len(_list_batches(sim)) == 1 and uploads(sim) == 1
    assert len(read_output(out)) == 10


async def test_an_upload_without_its_record_is_found_not_repeated(sim_factory, tmp_path):
    """A crash between uploading a piece and recording its file id."""
    sim = sim_factory(**FAST)
    src = write_requests(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    job = BatchJob(out, BatchSettings(endpoint=Endpoint(base_url=sim.base_url), poll_interval=0.02))
    async with job.client() as client:
        state = await job._new_round(str(src), None, retry_failed=False)
        assert state is not None
        piece = state.pieces[0]
        piece.phase = "uploading"  # the intent is on disk...
        state.save()
        await client.upload(Path(piece.path), filename=piece.filename)  # ...the upload landed
        state = await job.submit(client, str(src))  # resumed: finds it, creates the batch
        assert state is not None
        await job.wait(client, state)
        await job.fetch(client, state)
    assert uploads(sim) == 1 and len(_list_batches(sim)) == 1
    assert len(read_output(out)) == 10


def test_expired_requests_are_sent_online_and_nothing_twice(sim_factory, tmp_path: Path):
    sim = sim_factory(**FAST, batch_expire_after=100)
    src = write_requests(tmp_path / "in.jsonl", 300)
    out = tmp_path / "out.jsonl"
    proc = batch_cli(
        "run", src, "-o", out, "--base-url", sim.base_url, "--poll-interval", "0.05",
        "--then-online", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "batch_expired 200" in proc.stderr
    records = by_id(read_output(out))
    assert len(records) == 300 and all(is_ok(r) for r in records.values())
    online = [e for e in sim_log(sim) if e["path"] == "/v1/chat/completions"]
    assert len(online) == 200  # only what expired
    batch_answered = {
        cid for cid, r in records.items() if r["response"]["body"].get("service_tier") == "batch"
    }
    assert len(batch_answered) == 100
    assert not batch_answered & {e["client_request_id"] for e in online}


def test_expired_requests_go_again_by_batch_in_a_new_round(sim_factory, tmp_path: Path):
    sim = sim_factory(**FAST, batch_expire_after=120)
    src = write_requests(tmp_path / "in.jsonl", 300)
    out = tmp_path / "out.jsonl"
    common = ["-o", out, "--base-url", sim.base_url, "--poll-interval", "0.05", "-q"]
    first = batch_cli("run", src, *common)
    assert first.returncode == 1  # some requests expired
    records = by_id(read_output(out))
    assert (
        sum(1 for r in records.values() if r["error"] and r["error"]["code"] == "batch_expired")
        == 180
    )
    status = batch_cli("status", "-o", out, "--base-url", sim.base_url)
    assert status.returncode == 0 and "expired" in status.stdout

    sim.update_config(batch_expire_after=None)
    second = batch_cli("run", src, *common, "--retry-failed")
    assert second.returncode == 0, second.stderr
    batches = _list_batches(sim)
    assert sorted(b["request_counts"]["total"] for b in batches) == [180, 300]
    records = by_id(read_output(out))
    assert len(records) == 300 and all(is_ok(r) for r in records.values())
    again = batch_cli("submit", src, "-o", out, "--base-url", sim.base_url)
    assert again.returncode == 0 and "nothing to send" in again.stderr
    assert len(_list_batches(sim)) == 2


def test_cancel_then_fetch_partial_results(sim_factory, tmp_path: Path):
    # 2,000 requests at 100/s: 20 s of work, so the cancel lands mid-batch even when a
    # loaded machine takes seconds to start the CLI (at 500/s the batch could finish first).
    # The test waits only until the first requests are done, then cancels.
    sim = sim_factory(
        batch_time_scale=1.0, batch_validate_seconds=0.0, batch_requests_per_second=100.0
    )
    src = write_requests(tmp_path / "in.jsonl", 2_000)
    out = tmp_path / "out.jsonl"
    submitted = batch_cli("submit", src, "-o", out, "--base-url", sim.base_url)
    assert submitted.returncode == 0, submitted.stderr
    deadline = time.monotonic() + 20
    while not any(b["request_counts"]["completed"] for b in _list_batches(sim)):
        assert time.monotonic() < deadline, "the batch never started"
        time.sleep(0.02)
    cancelled = batch_cli("cancel", "-o", out, "--base-url", sim.base_url)
    assert cancelled.returncode == 0, cancelled.stderr
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        fetched = batch_cli("fetch", "-o", out, "--base-url", sim.base_url)
        if "still running" not in fetched.stderr:
            break
        time.sleep(0.1)
    records = by_id(read_output(out))
    assert len(records) == 2_000
    done = [r for r in records.values() if is_ok(r)]
    assert 0 < len(done) < 2_000
    assert {r["error"]["code"] for r in records.values() if not is_ok(r)} == {"batch_cancelled"}


def test_a_batch_that_fails_validation_records_why(sim_factory, tmp_path: Path):
    sim = sim_factory(**FAST, batch_fail=True)
    src = write_requests(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    proc = batch_cli("run", src, "-o", out, "--base-url", sim.base_url, "--poll-interval", "0.05")
    assert proc.returncode == 1
    records = by_id(read_output(out))
    assert len(records) == 20
    assert {r["error"]["code"] for r in records.values()} == {"batch_failed"}
    assert "failed validation: forced by batch_fail" in records["r3"]["error"]["message"]


def test_a_missing_job_is_a_clear_error(tmp_path: Path):
    proc = batch_cli("status", "-o", tmp_path / "out.jsonl", "--base-url", "http://127.0.0.1:9/v1")
    assert proc.returncode == 2
    assert "no batch job" in proc.stderr and "Traceback" not in proc.stderr
