"""``surge export``: the answers of a result file as a table.

    surge export results.jsonl -o answers.csv        # or .parquet, .jsonl
    surge export results.jsonl | head                # CSV on stdout

One row per request (custom_id, line, status, answer text or the parsed fields, usage,
error), in input-line order, for Chat Completions, Responses and Embeddings results alike.
"""

from __future__ import annotations

import sys

import click

from ..errors import SurgeError

__all__ = ["export_command"]


@click.command("export")
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Table to write: .csv, .jsonl or .parquet; '-' for stdout.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "parquet"]),
    help="Table format (default: from the output's extension; CSV on stdout).",
)
def export_command(results: str, output: str, fmt: str | None) -> None:
    """Write the answers in RESULTS (a surge or Batch API output file) as a table."""
    from ..io.export import export_results
    from ..io.tables import table_format

    chosen = fmt or table_format(output) or ("csv" if output == "-" else None)
    if chosen is None:
        raise click.UsageError(f"cannot tell the format of {output}: use .csv, .jsonl, .parquet")
    try:
        rows = export_results(results, output, fmt=chosen)  # type: ignore[arg-type]
    except SurgeError as err:
        raise click.ClickException(str(err)) from None
    except OSError as err:
        raise click.ClickException(f"cannot write {output}: {err}") from None
    if output != "-":
        click.echo(f"{rows:,} rows written to {output}", err=True)
    sys.stdout.flush()
