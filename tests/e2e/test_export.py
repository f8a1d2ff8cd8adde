"""``surge export`` of a mixed Chat Completions / Responses / Embeddings result file."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from surge_sim import prompt_digest

from .helpers import cli_env, run_cli, sim_args, write_jsonl

SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["a", "b"]}, "n": {"type": "integer"}},
    "required": ["label", "n"],
    "additionalProperties": False,
}


def _export(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "surge.cli.main", "export", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
    )


def _line(cid: str, url: str, body: dict[str, object]) -> dict[str, object]:
    return {"custom_id": cid, "method": "POST", "url": url, "body": body}


def test_export_mixed_results(sim, tmp_path: Path) -> None:
    m = "gpt-4o-mini"
    lines = [
        _line(
            "chat",
            "/v1/chat/completions",
            {"model": m, "messages": [{"role": "user", "content": "c"}]},
        ),
        _line("resp", "/v1/responses", {"model": m, "input": "r"}),
        _line("emb", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "e"}),
        _line("bad", "/v1/chat/completions", {"model": m}),  # a 400: no messages
        _line("cut", "/v1/responses", {"model": m, "input": "x", "max_output_tokens": 16}),
    ]
    results = tmp_path / "results.jsonl"
    proc = run_cli(
        write_jsonl(tmp_path / "in.jsonl", lines), "-o", results, *sim_args(sim), "--ordered"
    )
    assert proc.returncode == 1, proc.stderr  # the 400
    # Structured results, appended to the same file (a second run, with --schema; without
    # --keep-stale its compaction would drop the answers to the first run's input).
    structured = tmp_path / "structured.jsonl"
    schema = tmp_path / "schema.json"
    schema.write_bytes(orjson.dumps(SCHEMA))
    write_jsonl(structured, [{"id": "s1", "prompt": "label me"}])
    proc = run_cli(
        structured,
        "-o",
        results,
        *sim_args(sim),
        "--schema",
        schema,
        "--api",
        "responses",
        "--keep-stale",
    )
    assert proc.returncode == 0, proc.stderr

    out = tmp_path / "answers.csv"
    done = _export(results, "-o", out)
    assert done.returncode == 0, done.stderr
    assert "6 rows written" in done.stderr
    rows = {r["custom_id"]: r for r in csv.DictReader(io.StringIO(out.read_text()))}
    # Input-line order (the two runs' line 1 in file order), not completion order.
    assert list(rows) == ["chat", "s1", "resp", "emb", "bad", "cut"]
    assert rows["chat"]["answer"].startswith(f"[sim:{prompt_digest('c')}]")
    assert rows["chat"]["status"] == "ok" and rows["chat"]["finish_reason"] == "stop"
    assert rows["resp"]["answer"].startswith(f"[sim:{prompt_digest('r')}]")
    assert int(rows["resp"]["input_tokens"]) > 0 and int(rows["resp"]["output_tokens"]) > 0
    assert rows["emb"]["answer"] == "" and len(orjson.loads(rows["emb"]["embedding"])) == 64
    assert rows["emb"]["output_tokens"] == "0"
    assert rows["bad"]["status"] == "error" and rows["bad"]["error_code"]
    assert "messages" in rows["bad"]["error_message"]
    assert rows["cut"]["finish_reason"] == "max_output_tokens"
    assert rows["s1"]["label"] in ("a", "b") and rows["s1"]["n"].lstrip("-").isdigit()
    assert set(rows["s1"]) >= {"label", "n", "total_tokens", "attempts", "latency_ms"}

    # Parquet and JSONL carry the same rows; stdout gets CSV.
    assert _export(results, "-o", tmp_path / "answers.parquet").returncode == 0
    table = pq.read_table(tmp_path / "answers.parquet").to_pylist()
    assert {r["custom_id"]: r["status"] for r in table} == {k: v["status"] for k, v in rows.items()}
    assert _export(results, "-o", tmp_path / "answers.jsonl").returncode == 0
    records = [orjson.loads(x) for x in (tmp_path / "answers.jsonl").read_bytes().splitlines()]
    assert next(r for r in records if r["custom_id"] == "s1")["n"] == int(rows["s1"]["n"])
    stdout = _export(results)
    assert stdout.returncode == 0 and stdout.stdout.startswith("custom_id,line,status,answer")


def test_export_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    done = _export(tmp_path / "nope.jsonl")
    assert done.returncode == 2 and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr
