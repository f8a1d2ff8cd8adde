"""A prompt over every row of a table: rows → requests, then results → the same table.

    job = TableJob.build("reviews.csv", "out.csv", template="Classify: {review}")
    async for item in job.requests(builder):     # Requests (or InputErrors), row order
        ...                                      # the engine writes job.log_path
    job.write_table()                            # out.csv: every input column + the answer

The result log (``out.csv.surge.jsonl``, the Batch API output format) is the source of
truth, exactly as for ``surge run``: a job killed at any moment resumes from it, and the table
is written from it (atomically) at the end of every run, in input order.

Ids: ``--id-column`` names a column; otherwise a row's id is ``row-`` and a hash of its
content, with ``-2``, ``-3``... for repeated identical rows, so inserting or deleting a row
elsewhere in the table does not change any other row's id (and so what a resume skips).
Each result also records the row number as its ``line``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .._schema import OutputSchema
from ..errors import ConfigError, InputError
from ..models import Request, Result
from .export import LogIndex, reply_text
from .formats import RequestBuilder
from .tables import (
    TableFormat,
    TableWriter,
    arrow_types,
    iter_rows,
    read_columns,
    table_format,
)
from .templates import Template, set_dotted

__all__ = ["LOG_SUFFIX", "RowIds", "TableJob", "is_table_input"]

LOG_SUFFIX = ".surge.jsonl"
_BATCH = 512


def is_table_input(path: str | Path, *, template: bool) -> bool:
    """CSV and Parquet are always tables; JSONL is a table of records when a template is given."""
    fmt = table_format(path)
    return fmt in ("csv", "parquet") or (fmt == "jsonl" and template)


class RowIds:
    """Stable ids for rows: the id column's value, or a content hash + occurrence number."""

    def __init__(self, id_column: str | None) -> None:
        self.id_column = id_column
        self._seen: dict[str, int] = {}

    def assign(self, row: dict[str, Any], row_no: int) -> str:
        """The row's custom_id; raises :class:`InputError` for an empty id cell."""
        if self.id_column is not None:
            value = row.get(self.id_column)
            if value is None or value == "":
                raise InputError(f"the id column {self.id_column!r} is empty", line=row_no)
            return str(value)
        data = orjson.dumps(row, option=orjson.OPT_SORT_KEYS, default=str)
        base = "row-" + hashlib.blake2b(data, digest_size=6).hexdigest()
        n = self._seen.get(base, 0) + 1
        self._seen[base] = n
        return base if n == 1 else f"{base}-{n}"


def _prefixed(name: str, taken: set[str]) -> str:
    while name in taken:
        name = "surge_" + name
    return name


@dataclass(frozen=True, slots=True)
class TableJob:
    input_path: Path
    output: Path
    template: Template
    system: Template | None = None
    body_templates: tuple[tuple[str, Template], ...] = ()
    id_column: str | None = None
    schema: OutputSchema | None = None
    columns: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        input_path: str | Path,
        output: str | Path,
        *,
        template: str | None,
        system: str | None = None,
        body_templates: tuple[tuple[str, str], ...] = (),
        id_column: str | None = None,
        schema: OutputSchema | None = None,
    ) -> TableJob:
        """Check everything that can be checked before a request is sent."""
        input_path, output = Path(input_path), Path(output)
        if table_format(output) is None:
            raise ConfigError(
                f"a table run writes a table: -o must end in .csv, .jsonl or .parquet "
                f"(got {output.name}); the result log goes beside it ({output.name}{LOG_SUFFIX})"
            )
        if not input_path.is_file():
            raise ConfigError(f"input file not found: {input_path}")
        if input_path.resolve() == output.resolve():
            raise ConfigError(
                "the output table must be another file than the input (the input is read "
                "again to resume and to write the table)"
            )
        columns = read_columns(input_path, table_format(input_path))
        if template is None:
            if "prompt" not in columns:
                raise ConfigError(
                    f"{input_path.name} is a table: pass --template, e.g. --template "
                    f"'Classify: {{{columns[0] if columns else 'column'}}}' "
                    f"(the columns are: {', '.join(columns) or '(none)'})"
                )
            template = "{prompt}"
        main = Template(template)
        sys_t = Template(system, what="--system") if system is not None else None
        bodies = tuple(
            (key, Template(text, what=f"--body-template {key}")) for key, text in body_templates
        )
        checked = table_format(input_path) != "jsonl"  # JSONL records may vary: checked per row
        for t in (main, sys_t, *(b for _, b in bodies)):
            if t is not None and (checked or columns):
                t.check(columns)
        if id_column is not None and id_column not in columns:
            raise ConfigError(
                f"--id-column {id_column!r} is not a column; the columns are: {', '.join(columns)}"
            )
        return cls(input_path, output, main, sys_t, bodies, id_column, schema, tuple(columns))

    @property
    def log_path(self) -> Path:
        return self.output.with_name(self.output.name + LOG_SUFFIX)

    @property
    def input_format(self) -> TableFormat:
        return table_format(self.input_path) or "jsonl"

    # -- rows → requests ----------------------------------------------------------------------
    def _request(
        self, builder: RequestBuilder, row: dict[str, Any], row_no: int, cid: str
    ) -> Request:
        try:
            data: dict[str, Any] = {"custom_id": cid, "prompt": self.template.render(row)}
            if self.system is not None:
                data["system"] = self.system.render(row)
            bodies = [(key, t.render(row)) for key, t in self.body_templates]
        except KeyError as err:
            raise InputError(f"row has no field {err.args[0]!r}", line=row_no) from None
        except ValueError as err:
            raise InputError(str(err), line=row_no) from None
        request = builder.from_dict(data, line=row_no)
        for key, value in bodies:
            set_dotted(request.body, key, value)
        return request

    def _items(self, builder: RequestBuilder) -> Iterator[Request | InputError]:
        ids = RowIds(self.id_column)
        for row_no, row in iter_rows(self.input_path, self.input_format):
            if isinstance(row, InputError):
                yield row
                continue
            try:
                yield self._request(builder, row, row_no, ids.assign(row, row_no))
            except InputError as err:
                yield err

    async def requests(self, builder: RequestBuilder) -> AsyncIterator[Request | InputError]:
        """Every row's request, in order, read in batches off the event loop."""
        items = self._items(builder)

        def batch() -> list[Request | InputError]:
            return [item for _, item in zip(range(_BATCH), items, strict=False)]

        while chunk := await asyncio.to_thread(batch):
            for item in chunk:
                yield item

    # -- results → table ----------------------------------------------------------------------
    def _all_columns(self) -> list[str]:
        if self.input_format != "jsonl":
            return list(self.columns)
        seen: dict[str, None] = {}
        for _, row in iter_rows(self.input_path, "jsonl"):
            if isinstance(row, dict):
                seen.update(dict.fromkeys(row))
        return list(seen)

    def _answer_columns(self, taken: set[str]) -> tuple[dict[str, str], dict[str, str]]:
        """``{field: column}`` and ``{column: kind}`` for the answer (prefixed on collision)."""
        fields = self.schema.fields() if self.schema is not None else []
        names: dict[str, str] = {}
        kinds: dict[str, str] = {}
        for field, kind in fields or [("answer", "json" if self.schema else "string")]:
            column = _prefixed(field, taken)
            taken.add(column)
            names[field] = column
            kinds[column] = {
                "string": "string",
                "integer": "integer",
                "number": "number",
                "boolean": "boolean",
            }.get(kind, "json")
        return names, kinds

    def _answer(self, result: Result | None, names: dict[str, str]) -> dict[str, Any]:
        if result is None or not result.ok:
            return {}
        if self.schema is not None and self.schema.fields() and isinstance(result.parsed, dict):
            return {names[k]: result.parsed.get(k) for k in names}
        if self.schema is not None:
            return {names["answer"]: result.parsed}
        return {names["answer"]: reply_text(result)}

    def write_table(self) -> tuple[int, int]:
        """Write the output table from the log; return (rows, rows finished)."""
        columns = self._all_columns()
        taken = set(columns)
        names, kinds = self._answer_columns(taken)
        status_col = _prefixed("status", taken)
        taken.add(status_col)
        error_col = _prefixed("error", taken)
        out_columns = [*columns, *names.values(), status_col, error_col]
        types = arrow_types(self.input_path) if self.input_format == "parquet" else {}
        if self.input_format == "csv":
            kinds.update(dict.fromkeys(columns, "string"))
        kinds.update({status_col: "string", error_col: "string"})
        index = LogIndex(self.log_path)
        ids = RowIds(self.id_column)
        seen: set[str] = set()
        finished = 0
        try:
            with TableWriter(self.output, out_columns, types=kinds, arrow_types=types) as out:
                for row_no, row in iter_rows(self.input_path, self.input_format):
                    result = self._lookup(index, ids, row, row_no, seen)
                    values = dict(row) if isinstance(row, dict) else {}
                    values.update(self._answer(result, names))
                    if result is None:
                        values[status_col] = "pending"
                    else:
                        finished += 1
                        values[status_col] = "ok" if result.ok else "error"
                        if result.error is not None:
                            values[error_col] = f"{result.error.code}: {result.error.message}"
                    out.write(values)
                return out.rows, finished
        finally:
            index.close()

    def _lookup(
        self,
        index: LogIndex,
        ids: RowIds,
        row: dict[str, Any] | InputError,
        row_no: int,
        seen: set[str],
    ) -> Result | None:
        """The result the engine recorded for this row (the ids the engine's ledger used)."""
        if isinstance(row, dict):
            try:
                cid = ids.assign(row, row_no)
            except InputError:
                cid = None
            if cid is not None:
                if cid in seen:  # a repeated --id-column value: recorded as a duplicate
                    return index.get(f"{cid}#line-{row_no}")
                seen.add(cid)
                found = index.get(cid)
                if found is not None:
                    return found
        return index.get(f"line-{row_no}")
