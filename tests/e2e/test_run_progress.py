"""What ``surge run`` prints: a final plain status line, the summary, nothing on stdout."""

from __future__ import annotations

from pathlib import Path

from .helpers import run_cli, write_lines


def test_plain_progress_and_summary_then_resume_counts_skipped(sim, tmp_path: Path) -> None:
    src = write_lines(tmp_path / "in.txt", [f"progress {i}" for i in range(20)])
    out = tmp_path / "out.jsonl"
    args = [src, "-o", out, "--base-url", sim.base_url, "--model", "gpt-4o-mini"]

    proc = run_cli(*args, "--progress", "plain")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # results go to the file; stdout stays clean for pipes
    err = proc.stderr
    assert "20/20 done (100.0%)" in err
    for word in ("succeeded", "wall time", "attempts", "latency", "p50", "p95", "output"):
        assert word in err, word
    assert "20 succeeded, 0 failed" in err
    assert str(out) in err

    # Nothing left to do: the same command reports the 20 as skipped and sends nothing.
    again = run_cli(*args, "--progress", "plain")
    assert again.returncode == 0, again.stderr
    assert "20/20 done (100.0%)" in again.stderr
    assert "skipped 20" in again.stderr
    assert sim.stats(log=False)["received"] == 20

    quiet = run_cli(*args, "-q")
    assert quiet.returncode == 0
    assert quiet.stdout == "" and quiet.stderr == ""
