"""Click options shared by several commands (``run``, ``demo``, ``bench``).

@click.command()
@progress_options(quiet_help="No progress and no summary.")
def run(progress_mode: str, quiet: bool) -> None: ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["progress_options"]

F = TypeVar("F", bound=Callable[..., Any])


def progress_options(
    *, help: str = "Progress display on stderr.", quiet_help: str = "No progress display."
) -> Callable[[F], F]:
    """``--progress auto|rich|plain|none`` (as ``progress_mode``) and ``-q/--quiet``."""

    def decorate(f: F) -> F:
        f = click.option("-q", "--quiet", is_flag=True, help=quiet_help)(f)
        return click.option(
            "--progress",
            "progress_mode",
            type=click.Choice(["auto", "rich", "plain", "none"]),
            default="auto",
            show_default=True,
            help=help,
        )(f)

    return decorate
