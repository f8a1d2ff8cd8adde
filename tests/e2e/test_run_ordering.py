"""``--ordered`` writes results in input order; without it, in completion order."""

from __future__ import annotations

from pathlib import Path

from surge.io.formats import content_id
from surge_sim import prompt_digest

from .helpers import answer_digest, read_output, run_cli, sim_args, write_lines

N = 40


def _run(sim, tmp_path: Path, name: str, *extra: str) -> list[str]:
    src = write_lines(tmp_path / "in.txt", [f"ordered prompt {i}" for i in range(1, N + 1)])
    out = tmp_path / name
    proc = run_cli(src, "-o", out, *sim_args(sim, "-c", "20", *extra))
    assert proc.returncode == 0, proc.stderr
    records = read_output(out)
    for record in records:  # each answer still belongs to its own request
        line = record["surge"]["line"]
        assert answer_digest(record) == prompt_digest(f"ordered prompt {line}")
    return [r["custom_id"] for r in records]


def test_ordered_output_follows_input_order_despite_jitter(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(latency=0.05, latency_jitter=0.045, seed=5)
    expected = [content_id(f"ordered prompt {i}") for i in range(1, N + 1)]
    assert _run(sim, tmp_path, "ordered.jsonl", "--ordered") == expected

    unordered = _run(sim, tmp_path, "unordered.jsonl")
    assert sorted(unordered) == sorted(expected)  # same set, each once
    assert len(set(unordered)) == N
    assert unordered != expected  # latencies 5..95 ms with 20 in flight reorder them
