"""Fan-out → synthesis: ask independent questions at once, then combine the answers.

    guide = await surge.fanout(
        ["What are Lisbon's must-see sights?", "How to get around Lisbon?"],
        synthesize="Write a one-page travel guide for Lisbon.",
        model="gpt-4.1-mini",
    )
    print(guide.text)                      # the synthesis
    for a in guide.answers:
        print(a.question, a.ok, a.latency, a.usage)

The questions go through the engine concurrently (stage ``ask``), then one request
(stage ``synthesize``) carries every question and answer in the original order. A question
that fails after its retries is left out and the synthesis is told which parts are missing
(``require_all=True`` raises instead). When the answers do not fit ``context_tokens`` (counted
offline with surge's token counter), they are reduced in levels first: consecutive groups
that fit are condensed concurrently (stage ``reduce-1``), then the condensed parts are
synthesized (or grouped again). ``schema=`` makes the synthesis a structured answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import _constants as C
from .._limits.tokens import TokenCounter, encoding_for_model
from .._sync import run_sync
from ..config import Endpoint, Limits, RetryPolicy, RunOptions, Timeout
from ..errors import ConfigError, RequestError
from ..events import Listener
from ..models import Result
from .stages import MapStage, ReduceStage, StageRunner
from .synthesis import (
    answer_block,
    group_prompt,
    plan_groups,
    summary_block,
    synthesis_prompt,
)

__all__ = ["Answer", "FanoutResult", "fanout", "fanout_sync"]

_MAX_LEVELS = 6


@dataclass(frozen=True, slots=True)
class Answer:
    """One question and the result that answered it (or failed to)."""

    question: str
    result: Result

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def text(self) -> str | None:
        return self.result.text

    @property
    def latency(self) -> float | None:
        return self.result.latency

    @property
    def usage(self) -> dict[str, Any] | None:
        return self.result.usage


@dataclass(frozen=True, slots=True)
class FanoutResult:
    """The synthesis, every answer in question order, and what it took."""

    synthesis: Result
    answers: list[Answer]
    missing: list[str] = field(default_factory=list)  # questions left without an answer
    levels: int = 0  # reduction levels before the final synthesis (0: it all fit)
    condensed: list[Result] = field(default_factory=list)  # the reduction requests' results
    fan_out_seconds: float = 0.0
    synthesis_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.synthesis.ok

    @property
    def text(self) -> str | None:
        return self.synthesis.text

    @property
    def parsed(self) -> Any:
        return self.synthesis.parsed


def _prompt_row(prompt: str, system: str | None) -> dict[str, Any]:
    return {"prompt": prompt, "system": system} if system else {"prompt": prompt}


async def fanout(
    questions: Sequence[str],
    *,
    synthesize: str,
    model: str | None = None,
    system: str | None = None,
    synthesis_system: str | None = None,
    endpoint: Endpoint | str | None = None,
    limits: Limits | None = None,
    retry: RetryPolicy | None = None,
    timeout: Timeout | float | None = None,
    options: RunOptions | None = None,
    schema: Any = None,
    context_tokens: int = C.DEFAULT_CONTEXT_TOKENS,
    require_all: bool = False,
    on_event: Listener | None = None,
    validation_retries: int = C.DEFAULT_VALIDATION_RETRIES,
    transport: Any = None,
) -> FanoutResult:
    """Answer ``questions`` concurrently, then synthesize them with the ``synthesize`` instruction.

    ``context_tokens`` is the most prompt tokens one synthesis request may carry; larger
    research is condensed in groups first. ``system`` goes with every question,
    ``synthesis_system`` with the synthesis requests. Raises :class:`surge.RequestError` if
    no question could be answered (or any could not, with ``require_all``) and
    :class:`surge.ConfigError` for no questions.
    """
    questions = list(questions)
    if not questions:
        raise ConfigError("fanout needs at least one question")
    if context_tokens < 1:
        raise ConfigError(f"context_tokens must be >= 1, got {context_tokens}")
    runner = StageRunner(
        endpoint=endpoint,
        limits=limits or Limits(concurrency=min(len(questions), C.DEFAULT_CONCURRENCY)),
        retry=retry,
        timeout=timeout,
        options=options,
        model=model,
        on_event=on_event,
        validation_retries=validation_retries,
        transport=transport,
    )
    started = time.monotonic()
    ask: MapStage[str] = MapStage("ask", lambda q: _prompt_row(q, system))
    results = await runner.map(ask, questions)
    fan_out = time.monotonic() - started
    answers = [Answer(q, r) for q, r in zip(questions, results, strict=True)]
    missing = [(i, a.question) for i, a in enumerate(answers, 1) if not a.ok]
    if missing and (require_all or len(missing) == len(answers)):
        numbers = ", ".join(str(n) for n, _ in missing)
        failed = next(a.result for a in answers if not a.ok)
        reason = f"{failed.error.code}: {failed.error.message}" if failed.error else "no answer"
        raise RequestError(
            f"fan-out: question(s) {numbers} of {len(answers)} got no answer ({reason})",
            code="fanout_incomplete",
        )

    blocks = [answer_block(i, a.question, a.text or "") for i, a in enumerate(answers, 1) if a.ok]
    started = time.monotonic()
    condensed: list[Result] = []
    levels = 0
    # A token is at least one byte: a prompt of at most context_tokens bytes fits for sure,
    # and needs no vocabulary (loading one takes ~0.4 s of CPU).
    prompt_bytes = len(synthesis_prompt(synthesize, blocks, missing).encode())
    if len(blocks) > 1 and prompt_bytes > context_tokens:
        model_name = model or (options.model if options else None)
        reducer = _Reducer(runner, synthesize, synthesis_system, model_name)
        await asyncio.to_thread(reducer.counter.load, reducer.encoding)
        spans = [(i, i) for i, a in enumerate(answers, 1) if a.ok]
        framing = max(
            reducer.tokens(synthesis_prompt(synthesize, [], missing)),
            reducer.tokens(group_prompt(synthesize, [], 99, 99)),
        )
        blocks, levels = await reducer.reduce(blocks, spans, max(1, context_tokens - framing))
        condensed = reducer.results

    final: ReduceStage[str] = ReduceStage(
        "synthesize",
        lambda bs: _prompt_row(synthesis_prompt(synthesize, bs, missing), synthesis_system),
        schema=schema,
    )
    synthesis = await runner.reduce(final, blocks)
    return FanoutResult(
        synthesis=synthesis,
        answers=answers,
        missing=[q for _, q in missing],
        levels=levels,
        condensed=condensed,
        fan_out_seconds=fan_out,
        synthesis_seconds=time.monotonic() - started,
    )


class _Reducer:
    """Condenses answer blocks in levels until they fit one synthesis request."""

    def __init__(
        self, runner: StageRunner, instruction: str, system: str | None, model: str | None
    ) -> None:
        self.runner = runner
        self.instruction = instruction
        self.system = system
        self.counter = TokenCounter()
        self.encoding = encoding_for_model(model)
        self.results: list[Result] = []

    def tokens(self, text: str) -> int:
        return self.counter.count([text], self.encoding)

    async def reduce(
        self, blocks: list[str], spans: list[tuple[int, int]], budget: int
    ) -> tuple[list[str], int]:
        """The blocks the synthesis gets, and how many levels it took to get there."""
        sizes = [self.tokens(b) for b in blocks]
        levels = 0
        while len(blocks) > 1 and sum(sizes) > budget and levels < _MAX_LEVELS:
            groups = plan_groups(sizes, budget)
            if len(groups) == len(blocks) and levels > 0:
                break  # condensing one block at a time would not shrink anything further
            levels += 1
            prompts = [
                group_prompt(self.instruction, [blocks[i] for i in group], part, len(groups))
                for part, group in enumerate(groups, 1)
            ]
            stage: MapStage[str] = MapStage(
                f"reduce-{levels}", lambda p: _prompt_row(p, self.system)
            )
            results = await self.runner.map(stage, prompts)
            self.results.extend(results)
            new_blocks: list[str] = []
            new_spans: list[tuple[int, int]] = []
            for group, result in zip(groups, results, strict=True):
                first, last = spans[group[0]][0], spans[group[-1]][1]
                if result.ok:
                    new_blocks.append(summary_block(first, last, result.text or ""))
                    new_spans.append((first, last))
                else:  # keep the group's own answers rather than lose them
                    new_blocks.extend(blocks[i] for i in group)
                    new_spans.extend(spans[i] for i in group)
            blocks, spans = new_blocks, new_spans
            sizes = [self.tokens(b) for b in blocks]
        return blocks, levels


def fanout_sync(questions: Sequence[str], **kwargs: Any) -> FanoutResult:
    """Synchronous :func:`fanout`. Works inside a running event loop (Jupyter) too."""
    return run_sync(fanout(questions, **kwargs))
