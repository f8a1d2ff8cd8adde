"""``surge run`` over tables (CSV, Parquet, JSONL records) against the simulator."""

from __future__ import annotations

import csv
import signal
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from surge_sim import prompt_digest

from .helpers import cli_env, cli_process, read_output, run_cli, sim_args, wait_for_lines

# Fields with commas, doubled quotes and newlines: a CSV split on newlines would break.
REVIEWS = [
    {"id": "r1", "review": 'Great food, "really" great,\nwould come back', "stars": "5"},
    {"id": "r2", "review": "Slow; cold, and\r\nrude staff", "stars": "1"},
    {"id": "r3", "review": "It was ok", "stars": "3"},
    {"id": "r4", "review": "", "stars": "3"},  # an empty prompt: an invalid row, not sent
    {"id": "r5", "review": 'Lovely ,,, place ""', "stars": "4"},
]

MODEL_MODULE = """
from typing import Literal
from pydantic import BaseModel, Field

class Sentiment(BaseModel):
    sentiment: Literal["positive", "neutral", "negative"]
    score: float = Field(ge=-1, le=1)
    stars: int  # collides with an input column: comes out as surge_stars
"""


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _model_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "review_models.py").write_text(textwrap.dedent(MODEL_MODULE))
    return cli_env(PYTHONPATH=str(tmp_path))


def test_pydantic_schema_over_a_tricky_csv_to_csv_and_parquet(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(invalid_json_first=1)  # every row needs one re-ask
    source = _write_csv(tmp_path / "reviews.csv", REVIEWS)
    env = _model_env(tmp_path)
    for name in ("out.csv", "out.parquet"):
        out = tmp_path / name
        proc = run_cli(
            source,
            "-o",
            out,
            *sim_args(sim),
            "--template",
            "{review}",
            "--system-template",
            "Classify the review's sentiment. Stars given: {stars}",
            "--schema",
            "review_models:Sentiment",
            "--id-column",
            "id",
            env=env,
        )
        assert proc.returncode == 1, proc.stderr  # r4 is an invalid row
        assert "table: " in proc.stderr and name in proc.stderr
        rows = _read_csv(out) if name.endswith(".csv") else pq.read_table(out).to_pylist()
        assert [r["id"] for r in rows] == [r["id"] for r in REVIEWS]  # input order
        for row, given in zip(rows, REVIEWS, strict=True):
            assert row["review"] == given["review"]  # kept byte for byte
            assert str(row["stars"]) == given["stars"]
            if given["review"]:
                assert row["status"] == "ok", row
                assert row["sentiment"] in ("positive", "neutral", "negative")
                assert -1 <= float(row["score"]) <= 1
                assert int(row["surge_stars"]) == float(row["surge_stars"])
                assert not row["error"]
            else:
                assert row["status"] == "error"
                assert "empty prompt" in row["error"] or "non-empty" in row["error"]
        log = read_output(tmp_path / f"{name}.surge.jsonl")
        assert {r["custom_id"] for r in log} == {
            "r1",
            "r2",
            "r3",
            "r4",
            "r5",
        }  # an invalid row keeps its id
        if name.endswith(".parquet"):
            schema = pq.read_schema(out)
            assert str(schema.field("score").type) == "double"
            assert str(schema.field("surge_stars").type) == "int64"
    # The prompts the model saw were the fields, intact (newlines and quotes included).
    digests = {e["digest"] for e in sim.stats()["requests"] if e["attempt"] == 0}
    assert prompt_digest(REVIEWS[0]["review"]) in digests
    # Each of the 4 rows: one invalid reply then a valid one; the Parquet run asks the same
    # conversations again (a fresh log), which the simulator now answers validly at once.
    assert sim.stats()["by_status"] == {"200": 4 * 2 + 4}
    assert sim.stats()["faults"]["invalid_json"] == 4


def test_unknown_template_field_is_an_error_before_anything_is_sent(sim, tmp_path: Path) -> None:
    source = _write_csv(tmp_path / "reviews.csv", REVIEWS)
    proc = run_cli(source, "-o", tmp_path / "out.csv", *sim_args(sim), "--template", "{revew}")
    assert proc.returncode == 2
    assert "{revew}" in proc.stderr and "id, review, stars" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sim.stats()["received"] == 0
    assert not (tmp_path / "out.csv").exists()


def test_jsonl_records_and_parquet_in_with_content_ids(sim, tmp_path: Path) -> None:
    records = [{"q": "alpha", "n": 1}, {"q": "beta", "n": 2}, {"q": "alpha", "n": 1}]
    source = tmp_path / "rows.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    out = tmp_path / "answers.jsonl"
    proc = run_cli(source, "-o", out, *sim_args(sim), "--template", "Say {q} ({n})")
    assert proc.returncode == 0, proc.stderr
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(r["q"], r["n"], r["status"]) for r in rows] == [
        (r["q"], r["n"], "ok") for r in records
    ]
    assert rows[0]["answer"].startswith(f"[sim:{prompt_digest('Say alpha (1)')}]")
    ids = [r["custom_id"] for r in read_output(tmp_path / "answers.jsonl.surge.jsonl")]
    assert len(set(ids)) == 3 and any(i.endswith("-2") for i in ids)  # repeated row, own id

    # Parquet in, CSV out; ids stay stable when a row is inserted elsewhere.
    import pyarrow as pa

    parquet_in = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(records), parquet_in)
    out_csv = tmp_path / "answers.csv"
    assert (
        run_cli(parquet_in, "-o", out_csv, *sim_args(sim), "--template", "Say {q} ({n})").returncode
        == 0
    )
    first = read_output(tmp_path / "answers.csv.surge.jsonl")
    pq.write_table(pa.Table.from_pylist([{"q": "new", "n": 0}, *records]), parquet_in)
    before = sim.stats()["received"]
    proc = run_cli(parquet_in, "-o", out_csv, *sim_args(sim), "--template", "Say {q} ({n})")
    assert proc.returncode == 0, proc.stderr
    assert sim.stats()["received"] == before + 1  # only the inserted row was sent
    rows_csv = _read_csv(out_csv)
    assert [r["q"] for r in rows_csv] == ["new", "alpha", "beta", "alpha"]
    assert all(r["status"] == "ok" for r in rows_csv)
    assert {r["custom_id"] for r in first} < {
        r["custom_id"] for r in read_output(tmp_path / "answers.csv.surge.jsonl")
    }


def test_csv_job_killed_midway_resumes_without_paying_twice(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory(latency=0.05)
    n = 120
    rows = [{"text": f"row {i}, with a comma\nand a newline", "k": str(i)} for i in range(n)]
    source = _write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    log = tmp_path / "out.csv.surge.jsonl"
    args: list[Any] = [source, "-o", out, *sim_args(sim), "--template", "{text}", "-c", "4"]
    with cli_process(*args) as proc:
        wait_for_lines(log, 20, proc.proc)
        proc.proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert not out.exists()  # killed before the end: no table yet, the log holds the truth
    done_before = len(read_output(log))
    assert 20 <= done_before < n
    proc2 = run_cli(*args)
    assert proc2.returncode == 0, proc2.stderr
    table = _read_csv(out)
    assert [r["k"] for r in table] == [str(i) for i in range(n)]
    assert all(r["status"] == "ok" and r["answer"].startswith("[sim:") for r in table)
    for row in table:
        assert row["answer"].startswith(f"[sim:{prompt_digest(row['text'])}]")
    # Nothing paid twice: every row answered exactly once, over both runs (a request in
    # flight at the kill may have been answered without being recorded: at most 4 of them).
    answered = sim.stats()["by_status"]["200"]
    assert n <= answered <= n + 4
    assert len(read_output(log)) == n


async def test_library_run_table_responses_api_resumes(sim_factory, tmp_path: Path) -> None:
    import surge

    class Label(__import__("pydantic").BaseModel):
        label: str
        confidence: float

    sim = sim_factory()
    source = _write_csv(tmp_path / "reviews.csv", REVIEWS)
    out = tmp_path / "labels.jsonl"
    events: list[surge.Event] = []
    run = await surge.run_table(
        source,
        out,
        template="Label: {review}",
        body_templates={"metadata.row": "{id}"},
        schema=Label,
        options=surge.RunOptions(api="responses", model="gpt-4o-mini"),
        endpoint=sim.base_url,
        on_event=events.append,
    )
    assert (run.rows, run.finished, run.stats.succeeded) == (5, 5, 5)
    assert run.log == tmp_path / "labels.jsonl.surge.jsonl"
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in REVIEWS]
    assert all(isinstance(r["label"], str) and isinstance(r["confidence"], float) for r in rows)
    assert {r["status"] for r in rows} == {"ok"}
    assert not any(isinstance(e, surge.RequestFailed) for e in events)
    again = await surge.run_table(
        source, out, template="Label: {review}", body_templates={"metadata.row": "{id}"},
        schema=Label, options=surge.RunOptions(api="responses", model="gpt-4o-mini"),
        endpoint=sim.base_url,
    )  # fmt: skip
    assert again.stats.skipped == 5 and again.stats.done == 0
    assert sim.stats()["received"] == 5
    assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == rows


def test_csv_without_template_is_refused_not_split(sim, tmp_path: Path) -> None:
    source = _write_csv(tmp_path / "abstracts.csv", REVIEWS)
    proc = run_cli(source, "-o", tmp_path / "out.jsonl", *sim_args(sim))
    assert proc.returncode == 2
    assert "--template" in proc.stderr and "id, review, stars" in proc.stderr
    assert sim.stats()["received"] == 0
    with_prompt = _write_csv(tmp_path / "p.csv", [{"prompt": "hello, world\nbye"}])
    proc = run_cli(with_prompt, "-o", tmp_path / "p_out.csv", *sim_args(sim))
    assert proc.returncode == 0, proc.stderr  # a "prompt" column needs no template
    assert _read_csv(tmp_path / "p_out.csv")[0]["answer"].startswith(
        f"[sim:{prompt_digest('hello, world' + chr(10) + 'bye')}]"
    )


def test_structured_table_run_with_the_response_cache(sim, tmp_path: Path) -> None:
    # Validation puts the schema into the body before the cache sees it: a cached answer
    # is one to the structured request, and it is validated (parsed) like a fresh one.
    source = _write_csv(tmp_path / "reviews.csv", REVIEWS[:3])
    schema = tmp_path / "s.json"
    schema.write_bytes(
        orjson.dumps(
            {
                "type": "object",
                "properties": {"label": {"type": "string"}, "n": {"type": "integer"}},
                "required": ["label", "n"],
                "additionalProperties": False,
            }
        )
    )
    cache = tmp_path / "cache.sqlite"
    tables = []
    for _ in range(2):
        out = tmp_path / "out.csv"
        (tmp_path / "out.csv.surge.jsonl").unlink(missing_ok=True)
        args = ["--template", "{review}", "--schema", schema, "--cache", cache]
        proc = run_cli(source, "-o", out, *sim_args(sim, *args))
        assert proc.returncode == 0, proc.stderr
        tables.append(_read_csv(out))
    assert "3 cache hits" in proc.stderr
    assert tables[0] == tables[1]
    assert all(r["status"] == "ok" and r["label"] and r["n"] for r in tables[1])
    assert sim.stats()["received"] == 3
