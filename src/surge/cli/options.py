"""Click options shared by several commands, each declared once with one help text.

    @click.command()
    @request_options()                  # --model --system --param --api --input-format
    @limit_options()                    # -c/--concurrency --rpm --tpm
    @retry_options                      # --max-retries --timeout
    @endpoint_options()                 # --base-url --api-key
    @prices_option
    @progress_options(quiet_help="No progress and no summary.")
    def run(model, system, params, api, input_format, concurrency, rpm, tpm, ...): ...

Where a command gives an option another meaning (``surge fanout``'s model is required and
asks every question; ``surge bench``'s concurrency is that of its concurrent phase) the
factory takes that one difference as an argument; everything else stays the same text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from .. import _constants as C

__all__ = [
    "APIS",
    "endpoint_options",
    "json_option",
    "limit_options",
    "options",
    "prices_option",
    "progress_options",
    "request_options",
    "retry_options",
    "schema_option",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The endpoints a prompt line can be sent to.
APIS = ("chat", "responses", "embeddings")


def options(*decorators: Callable[[Any], Any]) -> Callable[[F], F]:
    """Apply option decorators in the order written (the order ``--help`` lists them)."""

    def decorate(fn: F) -> F:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return decorate


def endpoint_options(*, fallback: str | None = None) -> Callable[[F], F]:
    """``--base-url`` and ``--api-key``; ``fallback`` says what answers without a URL."""
    after = f" {fallback}" if fallback else ""
    return options(
        click.option(
            "--base-url",
            envvar="OPENAI_BASE_URL",
            help=f"OpenAI-compatible API base URL [env: OPENAI_BASE_URL].{after}",
        ),
        click.option(
            "--api-key",
            envvar="OPENAI_API_KEY",
            help="API key [env: OPENAI_API_KEY]. Never printed.",
        ),
    )


def request_options(
    *,
    model_help: str = "Model for prompt lines (Batch API lines carry their own).",
    model_required: bool = False,
    for_each: str = "prompt line",
    system_help: str | None = None,
    apis: Sequence[str] = APIS,
    input_format: bool = True,
) -> Callable[[F], F]:
    """``--model``, ``--system``, ``--param``, ``--api`` and (``input_format``) ``--input-format``.

    ``for_each`` names what the system prompt, the parameters and the endpoint apply to.
    """
    chosen = [
        click.option("--model", required=model_required, help=model_help),
        click.option("--system", help=system_help or f"System prompt for every {for_each}."),
        click.option(
            "--param",
            "params",
            multiple=True,
            metavar="KEY=VALUE",
            help=f"Body parameter for every {for_each}, e.g. temperature=0 (repeatable).",
        ),
        click.option(
            "--api",
            type=click.Choice(list(apis)),
            default="chat",
            show_default=True,
            help=f"Endpoint for every {for_each}.",
        ),
    ]
    if input_format:
        chosen.append(
            click.option(
                "--input-format",
                type=click.Choice(["auto", "jsonl", "text"]),
                default="auto",
                show_default=True,
                help="auto: JSONL if the first line starts with '{'.",
            )
        )
    return options(*chosen)


def limit_options(
    *,
    concurrency: int | None = C.DEFAULT_CONCURRENCY,
    what: str = "",
    rates: bool = True,
) -> Callable[[F], F]:
    """``-c/--concurrency`` and (``rates``) ``--rpm``/``--tpm``.

    ``what`` narrows them to part of a command ("Online pass: "); ``concurrency=None``
    leaves the default to the command.
    """

    def text(help: str) -> str:
        return f"{what}{help[0].lower()}{help[1:]}" if what else help

    chosen = [
        click.option(
            "-c",
            "--concurrency",
            type=click.IntRange(min=1),
            default=concurrency,
            show_default=concurrency is not None,
            help=text("Requests in flight at most."),
        )
    ]
    if rates:
        positive = click.FloatRange(min=0, min_open=True)
        chosen.append(click.option("--rpm", type=positive, help=text("Requests per minute.")))
        chosen.append(click.option("--tpm", type=positive, help=text("Tokens per minute.")))
    return options(*chosen)


retry_options = options(
    click.option(
        "--max-retries",
        type=click.IntRange(min=0),
        default=C.DEFAULT_MAX_RETRIES,
        show_default=True,
        help="Retries of transient failures (429, 5xx, timeouts).",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=C.DEFAULT_TIMEOUT,
        show_default=True,
        help="Seconds one attempt may take, end to end.",
    ),
)
"""``--max-retries`` and ``--timeout``."""

prices_option = click.option(
    "--prices",
    "prices_path",
    type=click.Path(exists=True, dir_okay=False),
    help='JSON prices per model: {"MODEL": {"input": USD/1M, "output": USD/1M}}.',
)

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object on stdout (for scripts)."
)


def schema_option(*, applies_to: str = "every reply") -> Callable[[F], F]:
    """``--schema`` (as ``schema_spec``): structured output for ``applies_to``."""
    return click.option(
        "--schema",
        "schema_spec",
        metavar="FILE.json|module:Model",
        help=f"Structured output for {applies_to}: a JSON schema file or a pydantic model; "
        "replies are validated.",
    )


def progress_options(
    *, help: str = "Progress display on stderr.", quiet_help: str = "No progress display."
) -> Callable[[F], F]:
    """``--progress auto|rich|plain|none`` (as ``progress_mode``) and ``-q/--quiet``."""
    return options(
        click.option(
            "--progress",
            "progress_mode",
            type=click.Choice(["auto", "rich", "plain", "none"]),
            default="auto",
            show_default=True,
            help=help,
        ),
        click.option("-q", "--quiet", is_flag=True, help=quiet_help),
    )
