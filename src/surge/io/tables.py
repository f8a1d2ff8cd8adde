"""Tables in and out: CSV, JSONL records and Parquet, streamed a batch at a time.

    fmt = table_format("reviews.csv")                  # "csv" (by extension)
    columns = read_columns("reviews.csv")              # the header, without reading further
    for row_no, row in iter_rows("reviews.csv"):       # 1-based data row, dict (or InputError)
        ...
    with TableWriter("out.parquet", columns, types={"score": "number"}) as out:
        out.write({"review": "...", "score": 0.5})     # written atomically on close

CSV goes through Python's :mod:`csv` module (RFC 4180: quoted fields holding commas, quotes
and newlines; never split on newlines by hand), read as UTF-8 with an optional BOM. Parquet
is read with ``pyarrow.parquet.ParquetFile.iter_batches`` and written with a
``ParquetWriter`` in batches, so neither side holds a whole table. pyarrow is the
``parquet`` extra; CSV and JSONL need nothing beyond the standard library and orjson.

A writer writes into ``<name>.surge-tmp`` beside the target and renames it over the target
when closed without error: a reader never sees half a table.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

import orjson

from ..errors import ConfigError, InputError, OutputError

__all__ = [
    "TableFormat",
    "TableWriter",
    "arrow_types",
    "count_rows",
    "iter_rows",
    "read_columns",
    "table_format",
]

TableFormat = Literal["csv", "jsonl", "parquet"]

_EXTENSIONS: dict[str, TableFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

_BATCH_ROWS = 1024


def table_format(path: str | Path) -> TableFormat | None:
    """The table format a file name says (``None`` if its extension names none)."""
    return _EXTENSIONS.get(Path(str(path)).suffix.lower())


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ConfigError(
            "Parquet needs pyarrow: pip install 'surge[parquet]' (or pip install pyarrow)"
        ) from None
    return pyarrow


def _delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _csv_header(names: list[str]) -> list[str]:
    header = []
    for i, name in enumerate(names, start=1):
        name = name.strip() or f"column_{i}"
        while name in header:  # duplicate headers would silently collapse in a dict
            name += "_"
        header.append(name)
    return header


def read_columns(path: str | Path, fmt: TableFormat | None = None) -> list[str]:
    """The column names (CSV header, Parquet schema, keys of the first JSONL record)."""
    path = Path(path)
    fmt = fmt or table_format(path) or "jsonl"
    try:
        if fmt == "parquet":
            return list(_pyarrow().parquet.ParquetFile(path).schema_arrow.names)
        if fmt == "csv":
            with open(path, "rb") as f:
                reader = csv.reader(_decoded_lines(f), delimiter=_delimiter(path))
                return _csv_header(next(reader, []))
        for _, row in iter_rows(path, "jsonl"):
            if isinstance(row, dict):
                return list(row)
        return []
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise ConfigError(f"cannot read the header of {path}: {err}") from None


def iter_rows(
    path: str | Path, fmt: TableFormat | None = None
) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    """``(row number, row)`` for every data row, in order; a bad row is an InputError."""
    path = Path(path)
    fmt = fmt or table_format(path) or "jsonl"
    if fmt == "parquet":
        yield from _parquet_rows(path)
    elif fmt == "csv":
        yield from _csv_rows(path)
    else:
        yield from _jsonl_rows(path)


def _decoded_lines(f: IO[bytes]) -> Iterator[str]:
    """UTF-8 lines (BOM dropped); bad bytes raise UnicodeDecodeError at their own line.

    Decoding line by line, not through a text wrapper's 8 KiB chunks, lets every row before
    the bad bytes through; the csv module joins quoted fields that span lines itself.
    """
    first = True
    for raw in f:
        line = raw.decode("utf-8")
        if first:
            line = line.removeprefix("\ufeff")
            first = False
        yield line


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    with open(path, "rb") as f:
        reader = csv.reader(_decoded_lines(f), delimiter=_delimiter(path))
        try:
            header = _csv_header(next(reader, []))
        except UnicodeDecodeError as err:
            yield 1, InputError(f"the header is not valid UTF-8 ({err.reason})", line=1)
            return
        row_no = 0
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as err:
                # Where a record starts again after bad bytes is unknowable: stop here.
                row_no += 1
                yield (
                    row_no,
                    InputError(f"not valid UTF-8 from here on ({err.reason})", line=row_no),
                )
                return
            except csv.Error as err:
                row_no += 1
                yield row_no, InputError(f"unreadable CSV row: {err}", line=row_no)
                continue
            if not values:  # a blank line between records is no row
                continue
            row_no += 1
            if len(values) > len(header):
                yield (
                    row_no,
                    InputError(
                        f"row has {len(values)} fields but the header has {len(header)}",
                        line=row_no,
                    ),
                )
                continue
            values += [""] * (len(header) - len(values))
            yield row_no, dict(zip(header, values, strict=True))


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    with open(path, "rb") as f:
        for row_no, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as err:
                yield row_no, InputError(f"not valid JSON ({err})", line=row_no)
                continue
            if not isinstance(value, dict):
                yield (
                    row_no,
                    InputError(f"expected a JSON object, got {type(value).__name__}", line=row_no),
                )
                continue
            yield row_no, value


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    parquet = _pyarrow().parquet
    row_no = 0
    for batch in parquet.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS):
        for row in batch.to_pylist():
            row_no += 1
            yield row_no, row


def arrow_types(path: str | Path) -> dict[str, Any]:
    """A Parquet file's column types, so a table written back keeps them."""
    schema = _pyarrow().parquet.ParquetFile(path).schema_arrow
    return {f.name: f.type for f in schema}


def count_rows(path: str | Path, fmt: TableFormat | None = None) -> int:
    """How many rows :func:`iter_rows` yields (Parquet: from the footer, instantly)."""
    path = Path(path)
    fmt = fmt or table_format(path) or "jsonl"
    if fmt == "parquet":
        return int(_pyarrow().parquet.ParquetFile(path).metadata.num_rows)
    return sum(1 for _ in iter_rows(path, fmt))


# -- writing -----------------------------------------------------------------------------

ColumnKind = str  # "string", "integer", "number", "boolean", "json", or "" (infer)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return orjson.dumps(value, default=str).decode()


class TableWriter:
    """Rows out to CSV, JSONL or Parquet (by extension), replacing the target atomically."""

    def __init__(
        self,
        path: str | Path,
        columns: Sequence[str],
        *,
        types: dict[str, ColumnKind] | None = None,
        arrow_types: dict[str, Any] | None = None,
        fmt: TableFormat | None = None,
    ) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.format: TableFormat = fmt or table_format(self.path) or "jsonl"
        self.rows = 0
        self._kinds = types or {}
        self._arrow_types = arrow_types or {}
        self._to_stdout = str(path) == "-"
        self._tmp = self.path.with_name(self.path.name + ".surge-tmp")
        self._file: IO[Any] | None = None
        self._csv: Any = None
        self._parquet: Any = None
        self._schema: Any = None
        self._batch: list[dict[str, Any]] = []

    def __enter__(self) -> TableWriter:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(commit=exc is None)

    def open(self) -> None:
        try:
            if self.format == "parquet":
                if self._to_stdout:
                    raise ConfigError("Parquet cannot go to stdout: name an output file")
                _pyarrow()
                return
            if self._to_stdout:
                self._file = sys.stdout if self.format == "csv" else sys.stdout.buffer
            elif self.format == "csv":
                self._file = open(self._tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
            else:
                self._file = open(self._tmp, "wb")  # noqa: SIM115
        except OSError as err:
            raise OutputError(f"cannot write {self.path}: {err.strerror}") from err
        if self.format == "csv":
            text_file: Any = self._file
            self._csv = csv.writer(text_file, delimiter=_delimiter(self.path))
            self._csv.writerow(self.columns)

    def write(self, row: dict[str, Any]) -> None:
        self.rows += 1
        if self.format == "csv":
            self._csv.writerow([_cell(row.get(c)) for c in self.columns])
        elif self.format == "jsonl":
            assert self._file is not None
            record = {c: row.get(c) for c in self.columns}
            self._file.write(orjson.dumps(record, default=str) + b"\n")
        else:
            self._batch.append(row)
            if len(self._batch) >= _BATCH_ROWS:
                self._flush_parquet()

    def _arrow_type(self, pa: Any, name: str, values: list[Any]) -> Any:
        if name in self._arrow_types:
            return self._arrow_types[name]
        kind = self._kinds.get(name, "")
        fixed = {
            "string": pa.string(),
            "integer": pa.int64(),
            "number": pa.float64(),
            "boolean": pa.bool_(),
            "json": pa.string(),
        }
        if kind in fixed:
            return fixed[kind]
        try:
            inferred = pa.array(values).type
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.string()
        if pa.types.is_null(inferred) or pa.types.is_nested(inferred):
            return pa.string()
        return inferred

    def _column(self, pa: Any, name: str, values: list[Any], kind: Any) -> Any:
        if pa.types.is_string(kind):
            values = [None if v is None else v if isinstance(v, str) else _cell(v) for v in values]
        try:
            return pa.array(values, type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise OutputError(f"{self.path}: column {name!r} changes type ({err})") from None

    def _flush_parquet(self) -> None:
        if not self._batch:
            return
        pa = _pyarrow()
        columns = {c: [row.get(c) for row in self._batch] for c in self.columns}
        if self._schema is None:
            fields = [pa.field(c, self._arrow_type(pa, c, columns[c])) for c in self.columns]
            self._schema = pa.schema(fields)
            try:
                self._parquet = pa.parquet.ParquetWriter(self._tmp, self._schema)
            except OSError as err:
                raise OutputError(f"cannot write {self.path}: {err}") from err
        arrays = [self._column(pa, f.name, columns[f.name], f.type) for f in self._schema]
        self._parquet.write_table(pa.Table.from_arrays(arrays, schema=self._schema))
        self._batch.clear()

    def close(self, *, commit: bool = True) -> None:
        """Finish the file; with ``commit`` put it in place of the target, else drop it."""
        try:
            if self.format == "parquet" and commit:
                self._finish_parquet()
        except BaseException:
            commit = False
            raise
        finally:
            self._close_files()
            if not self._to_stdout:
                if commit:
                    os.replace(self._tmp, self.path)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(self._tmp)

    def _finish_parquet(self) -> None:
        if self._schema is None and not self._batch:  # no rows: still a valid, typed file
            pa = _pyarrow()
            fields = [pa.field(c, self._arrow_type(pa, c, [])) for c in self.columns]
            self._schema = pa.schema(fields)
            self._parquet = pa.parquet.ParquetWriter(self._tmp, self._schema)
        self._flush_parquet()

    def _close_files(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._file is not None:
            self._file.flush()
            if not self._to_stdout:
                with contextlib.suppress(OSError):
                    os.fsync(self._file.fileno())
                self._file.close()
            self._file = None
