"""Table readers/writers, templates and row ids: the I/O edges of a table run."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from surge.errors import ConfigError, InputError, OutputError
from surge.io.table_job import RowIds, TableJob, is_table_input
from surge.io.tables import TableWriter, count_rows, iter_rows, read_columns, table_format
from surge.io.templates import Template, set_dotted

TRICKY = [
    {"id": "1", "text": 'comma, "quote", and\nnewline', "note": ""},
    {"id": "2", "text": "crlf\r\ninside", "note": "ünïcödé ✓"},
    {"id": "3", "text": "", "note": "trailing,comma,"},
]


def _csv(path: Path, rows: list[dict[str, str]], *, bom: bool = False) -> Path:
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.csv", "csv"), ("a.TSV", "csv"), ("a.jsonl", "jsonl"), ("a.ndjson", "jsonl"),
     ("a.parquet", "parquet"), ("a.pq", "parquet"), ("a.txt", None), ("-", None)],
)  # fmt: skip
def test_table_format_by_extension(name: str, fmt: str | None) -> None:
    assert table_format(name) == fmt


@pytest.mark.parametrize("bom", [False, True])
def test_csv_round_trip_rfc4180(tmp_path: Path, bom: bool) -> None:
    source = _csv(tmp_path / "in.csv", TRICKY, bom=bom)
    assert read_columns(source) == ["id", "text", "note"]
    rows = list(iter_rows(source))
    assert rows == [(i, row) for i, row in enumerate(TRICKY, 1)]
    assert count_rows(source) == 3
    out = tmp_path / "out.csv"
    with TableWriter(out, ["id", "text", "note", "n", "flag"]) as writer:
        for row in TRICKY:
            writer.write({**row, "n": 1.5, "flag": True})
    back = [row for _, row in iter_rows(out)]
    assert [{k: r[k] for k in ("id", "text", "note")} for r in back] == TRICKY
    assert back[0]["n"] == "1.5" and back[0]["flag"] == "true"


def test_csv_bad_rows_are_input_errors_and_the_run_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text('a,b\n1,2\n1,2,3\n\n4\n"unterminated\n', encoding="utf-8")
    rows = list(iter_rows(path))
    assert rows[0] == (1, {"a": "1", "b": "2"})
    assert isinstance(rows[1][1], InputError) and "3 fields" in str(rows[1][1])
    assert rows[2] == (3, {"a": "4", "b": ""})  # short rows are padded; blank lines skipped
    assert len(rows) == 4


def test_csv_that_is_not_utf8_stops_with_one_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"a,b\n1,2\n" + "caf\xe9,3\n".encode("latin-1") * 5000)
    rows = list(iter_rows(path))
    assert rows[0] == (1, {"a": "1", "b": "2"})
    assert isinstance(rows[-1][1], InputError) and "not valid UTF-8" in str(rows[-1][1])
    assert len(rows) < 5000


def test_duplicate_and_empty_headers_stay_distinct(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("a,a,\n1,2,3\n", encoding="utf-8")
    assert read_columns(path) == ["a", "a_", "column_3"]


def test_jsonl_rows(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"q": "x", "n": 1}\n\nnot json\n[1]\n{"q": "y"}\n', encoding="utf-8")
    rows = list(iter_rows(path))
    assert rows[0] == (1, {"q": "x", "n": 1})
    assert isinstance(rows[1][1], InputError) and rows[1][0] == 3
    assert isinstance(rows[2][1], InputError) and "list" in str(rows[2][1])
    assert rows[3] == (5, {"q": "y"})
    assert read_columns(path) == ["q", "n"]


def test_parquet_in_batches_and_typed_out(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    table = pa.Table.from_pylist([{"q": f"q{i}", "n": i} for i in range(3000)])
    pq.write_table(table, path, row_group_size=700)
    assert read_columns(path) == ["q", "n"] and count_rows(path) == 3000
    rows = [row for _, row in iter_rows(path)]
    assert rows[2999] == {"q": "q2999", "n": 2999}
    out = tmp_path / "out.parquet"
    with TableWriter(out, ["q", "n", "score", "tags", "maybe"], types={"score": "number"}) as w:
        for row in rows:
            # 0 then 0.5: the declared type keeps "score" a double across batches.
            w.write({**row, "score": 0 if row["n"] == 0 else 0.5, "tags": ["a"], "maybe": None})
    schema = pq.read_schema(out)
    assert [str(schema.field(c).type) for c in ("q", "n", "score", "tags", "maybe")] == [
        "string", "int64", "double", "string", "string"
    ]  # fmt: skip
    back = pq.read_table(out).to_pylist()
    assert len(back) == 3000 and back[5]["tags"] == '["a"]'


def test_parquet_type_change_is_a_clear_error_and_nothing_is_left(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    with pytest.raises(OutputError, match="column 'n' changes type"), TableWriter(out, ["n"]) as w:
        for i in range(1100):
            w.write({"n": i if i < 1024 else "text"})
    assert not out.exists() and not list(tmp_path.iterdir())


def test_writer_replaces_atomically_and_empty_tables(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    with pytest.raises(RuntimeError), TableWriter(out, ["a"]) as w:
        w.write({"a": 1})
        raise RuntimeError("boom")
    assert out.read_text() == "old\n"  # a failed write leaves the old table
    with TableWriter(out, ["a", "b"]) as w:
        w.write({"a": 1, "extra": 2})
    assert [orjson.loads(x) for x in out.read_bytes().splitlines()] == [{"a": 1, "b": None}]
    empty = tmp_path / "empty.parquet"
    with TableWriter(empty, ["a"]):
        pass
    assert pq.read_table(empty).num_rows == 0


def test_template_fields_check_and_render() -> None:
    t = Template("Rate {review} ({stars:>3}) {{literal}} {review}")
    assert t.fields == ("review", "stars")
    t.check(["id", "review", "stars"])
    assert t.render({"review": "Good", "stars": "5", "id": 1}) == "Rate Good (  5) {literal} Good"
    assert t.render({"review": None, "stars": "1"}) == "Rate  (  1) {literal} "
    with pytest.raises(
        ConfigError, match=r"\{stars\}, which is not a column; the columns are: id, review"
    ):
        t.check(["id", "review"])
    with pytest.raises(KeyError):
        t.render({"review": "x"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{}", "must name a column"),
        ("{0}", "must name a column"),
        ("{a.b}", "plain column name"),
        ("{a[0]}", "plain column name"),
        ("{a", "not a valid template"),
        ("{a:{b}}", "nested"),
    ],
)
def test_bad_templates(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Template(text)


def test_set_dotted() -> None:
    body: dict[str, Any] = {"text": "not a dict"}
    set_dotted(body, "text.verbosity", "low")
    set_dotted(body, "metadata.source", "x")
    assert body == {"text": {"verbosity": "low"}, "metadata": {"source": "x"}}


def test_row_ids_are_stable_under_insertion() -> None:
    rows = [{"a": "x"}, {"a": "y"}, {"a": "x"}]
    ids = RowIds(None)
    first = [ids.assign(r, n) for n, r in enumerate(rows, 1)]
    assert first[0].startswith("row-") and first[2] == first[0] + "-2"
    again = RowIds(None)
    shifted = [again.assign(r, n) for n, r in enumerate([{"a": "new"}, *rows], 1)]
    assert shifted[1:] == first
    by_column = RowIds("id")
    assert by_column.assign({"id": 7}, 1) == "7"
    with pytest.raises(InputError, match="line 2: the id column 'id' is empty"):
        by_column.assign({"id": ""}, 2)


def test_table_job_checks_before_sending(tmp_path: Path) -> None:
    source = _csv(tmp_path / "in.csv", TRICKY)
    with pytest.raises(ConfigError, match=r"must end in \.csv, \.jsonl or \.parquet"):
        TableJob.build(source, tmp_path / "out.txt", template="{text}")
    with pytest.raises(ConfigError, match=r"pass --template.*columns are: id, text, note"):
        TableJob.build(source, tmp_path / "out.csv", template=None)
    with pytest.raises(ConfigError, match=r"--system uses \{nope\}"):
        TableJob.build(source, tmp_path / "out.csv", template="{text}", system="{nope}")
    with pytest.raises(ConfigError, match="--id-column 'key' is not a column"):
        TableJob.build(source, tmp_path / "out.csv", template="{text}", id_column="key")
    with pytest.raises(ConfigError, match="another file than the input"):
        TableJob.build(source, source, template="{text}")
    job = TableJob.build(source, tmp_path / "out.csv", template="{text}")
    assert job.log_path == tmp_path / "out.csv.surge.jsonl"
    assert is_table_input(source, template=False)
    assert not is_table_input(tmp_path / "x.jsonl", template=False)
    assert is_table_input(tmp_path / "x.jsonl", template=True)
