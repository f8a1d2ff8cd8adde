"""``surge fanout``: ask several questions at once, then synthesize one answer from them.

    surge fanout "Must-see sights in Lisbon?" "Getting around Lisbon?" "Etiquette in Lisbon?" \\
        --synthesize "Write a one-page travel guide to Lisbon." --model gpt-4.1-mini
    surge fanout --questions-file questions.txt --synthesize "..." --schema report.json --json

Live lines on stderr show each question being asked and answered, in the order they really
finish; the synthesis goes to stdout (``--json``: the synthesis with every answer, its
timing and usage). A question that fails after its retries is left out and the synthesis
says which parts are missing; ``--require-all`` makes that an error instead (exit 1).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from .. import _constants as C
from ..errors import ConfigError, SurgeError
from .options import (
    endpoint_options,
    json_option,
    limit_options,
    request_options,
    retry_options,
    schema_option,
)

__all__ = ["fanout_command"]


def _read_questions(path: str) -> list[str]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read questions from {path}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text: {err}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _as_json(result: Any) -> bytes:
    synthesis = result.synthesis
    parsed = synthesis.to_output()["surge"].get("parsed")
    doc = {
        "synthesis": {
            "ok": synthesis.ok,
            "text": synthesis.text,
            "parsed": parsed,
            "usage": synthesis.usage,
            "error": synthesis.error.to_dict() if synthesis.error else None,
        },
        "answers": [
            {
                "question": a.question,
                "ok": a.ok,
                "answer": a.text,
                "latency_s": round(a.latency, 3) if a.latency is not None else None,
                "usage": a.usage,
                "error": a.result.error.to_dict() if a.result.error else None,
            }
            for a in result.answers
        ],
        "missing": result.missing,
        "reduction_levels": result.levels,
        "fan_out_s": round(result.fan_out_seconds, 3),
        "synthesis_s": round(result.synthesis_seconds, 3),
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


@click.command("fanout")
@click.argument("questions", nargs=-1)
@click.option(
    "--questions-file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="More questions, one per line ('-': stdin).",
)
@click.option("--synthesize", "instruction", required=True, help="What to make of the answers.")
@request_options(
    model_help="Model for the questions and the synthesis.",
    model_required=True,
    for_each="request",
    system_help="System prompt for every question.",
    apis=("chat", "responses"),
    input_format=False,
)
@click.option("--synthesis-system", help="System prompt for the synthesis.")
@schema_option(applies_to="the synthesis")
@click.option(
    "--context-tokens",
    type=click.IntRange(min=1),
    default=C.DEFAULT_CONTEXT_TOKENS,
    show_default=True,
    help="Most prompt tokens one synthesis request may carry; beyond, answers are "
    "condensed in groups first.",
)
@click.option("--require-all", is_flag=True, help="Fail if any question gets no answer.")
@json_option
@limit_options(concurrency=None, rates=False)
@retry_options
@endpoint_options()
@click.option("-q", "--quiet", is_flag=True, help="No live lines; only the synthesis.")
def fanout_command(
    questions: tuple[str, ...],
    questions_file: str | None,
    instruction: str,
    model: str,
    system: str | None,
    synthesis_system: str | None,
    params: tuple[str, ...],
    api: str,
    schema_spec: str | None,
    context_tokens: int,
    require_all: bool,
    as_json: bool,
    concurrency: int | None,
    max_retries: int,
    timeout: float,
    base_url: str | None,
    api_key: str | None,
    quiet: bool,
) -> None:
    """Ask QUESTIONS concurrently, then synthesize one answer from all of them."""
    from .._schema import load_schema
    from ..config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
    from ..io.formats import parse_param
    from ..workflows import fanout
    from .fanout_display import FanoutDisplay
    from .main import run_async

    def echo_err(text: str) -> None:
        click.echo(text, err=True)

    try:
        asked = [*questions, *(_read_questions(questions_file) if questions_file else [])]
        if not asked:
            raise ConfigError("no questions: give them as arguments or with --questions-file")
        schema = load_schema(schema_spec) if schema_spec else None
        endpoint = Endpoint(base_url=base_url, api_key=api_key)
        endpoint.resolved_base_url()
        options = RunOptions(
            api=api,  # type: ignore[arg-type]  # click.Choice guarantees the literal
            model=model,
            params=tuple(parse_param(p) for p in params),
        )
        limits = Limits(concurrency=concurrency or min(len(asked), C.DEFAULT_CONCURRENCY))
    except ConfigError as err:
        raise click.UsageError(str(err)) from None

    display = None if quiet else FanoutDisplay(asked, echo=echo_err)
    if display is not None:
        echo_err(f"surge fanout: {len(asked)} questions at once, then one synthesis ({model})")
    try:
        result = run_async(
            fanout(
                asked,
                synthesize=instruction,
                model=model,
                system=system,
                synthesis_system=synthesis_system,
                endpoint=endpoint,
                limits=limits,
                retry=RetryPolicy(max_retries=max_retries),
                timeout=Timeout.coerce(timeout),
                options=options,
                schema=schema,
                context_tokens=context_tokens,
                require_all=require_all,
                on_event=display,
            )
        )
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    except SurgeError as err:
        echo_err(f"surge: error: {err}")
        sys.exit(1)
    except KeyboardInterrupt:
        echo_err("surge: interrupted")
        sys.exit(130)

    if as_json:
        sys.stdout.buffer.write(_as_json(result))
    elif result.ok:
        parsed = result.synthesis.to_output()["surge"].get("parsed")
        text = orjson.dumps(parsed, option=orjson.OPT_INDENT_2).decode() if parsed else result.text
        click.echo(text)
    if result.missing and not quiet:
        echo_err(f"surge: {len(result.missing)} question(s) got no answer; the synthesis says so")
    if not result.ok:
        error = result.synthesis.error
        echo_err(f"surge: the synthesis failed: {error.message if error else 'no answer'}")
        sys.exit(1)
    if display is not None:
        answered = sum(a.ok for a in result.answers)
        one_by_one = sum(a.latency or 0.0 for a in result.answers)
        echo_err(
            f"surge: {answered}/{len(result.answers)} answered in {result.fan_out_seconds:.2f} s "
            f"({one_by_one:.2f} s one after another), synthesis {result.synthesis_seconds:.2f} s"
        )
