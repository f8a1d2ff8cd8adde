"""Live lines for a fan-out, in the order things really happen (an event listener).

    display = FanoutDisplay(questions, echo=click.echo)
    result = await surge.fanout(questions, synthesize="...", on_event=display)

    +0.00 s  asking    What are the must-see sights?
    +0.00 s  asking    How to get around?
    +1.07 s  answered  How to get around? (1.07 s)
    +1.31 s  answered  What are the must-see sights? (1.31 s)
    +1.31 s  synthesizing 2 answers
    +2.40 s  synthesized (1.09 s)

It only listens: nothing it does changes the run.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Sequence

from ..events import (
    Event,
    RequestFinished,
    RequestRetrying,
    RequestStarted,
    StageFinished,
    StageStarted,
)

__all__ = ["FanoutDisplay"]


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


class FanoutDisplay:
    def __init__(
        self, questions: Sequence[str], *, echo: Callable[[str], None], width: int = 64
    ) -> None:
        self.questions = list(questions)
        self.echo = echo
        self.width = width
        self.started = time.perf_counter()

    def _what(self, custom_id: str) -> str:
        stage, _, number = custom_id.rpartition("-")
        if stage == "ask" and number.isdigit() and 0 < int(number) <= len(self.questions):
            return textwrap.shorten(self.questions[int(number) - 1], self.width)
        return custom_id

    def _say(self, text: str) -> None:
        self.echo(f"  +{time.perf_counter() - self.started:5.2f} s  {text}")

    def __call__(self, event: Event) -> None:
        if isinstance(event, RequestStarted):
            if event.attempt == 1 and event.custom_id.startswith("ask-"):
                self._say(f"asking    {self._what(event.custom_id)}")
        elif isinstance(event, RequestRetrying):
            self._say(
                f"retrying  {self._what(event.custom_id)} ({event.reason}, "
                f"in {_seconds(event.delay)})"
            )
        elif isinstance(event, RequestFinished):
            result = event.result
            latency = _seconds(result.latency or 0.0)
            if result.custom_id.startswith("ask-"):
                if result.ok:
                    self._say(f"answered  {self._what(result.custom_id)} in {latency}")
                else:
                    code = result.error.code if result.error else "error"
                    self._say(f"FAILED    {self._what(result.custom_id)} ({code})")
            elif result.custom_id == "synthesize":
                verdict = "synthesized" if result.ok else "synthesis FAILED"
                self._say(f"{verdict} in {latency}")
            elif not result.ok:
                self._say(f"FAILED    {result.custom_id}")
        elif isinstance(event, StageStarted):
            if event.stage == "synthesize":
                self._say("synthesizing the answers")
            elif event.stage.startswith("reduce-"):
                self._say(
                    f"the answers exceed the context budget: condensing them in "
                    f"{event.size} groups ({event.stage})"
                )
        elif isinstance(event, StageFinished) and event.stage.startswith("reduce-"):
            self._say(f"condensed {event.succeeded} groups in {_seconds(event.elapsed)}")
